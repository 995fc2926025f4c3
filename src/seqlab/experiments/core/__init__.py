"""The ledger's machinery, apart from the claims: results (``base``), rules of evidence
(``rules``), units of work (``units``), where they run (``executors``), the ``runner``,
FLOP estimates (``flops``), timing, and the measuring steps several claims share.
"""
