"""The ledger's machinery, apart from the claims: results (``base``), rules of evidence
(``rules``), timing, the runner, and the measuring steps several claims share.
"""
