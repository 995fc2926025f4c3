"""Section 1.1, the sequence modeling problem: static vs contextual embeddings (C18), the failure
table (C30) and its other rows (C37), FastText's out-of-vocabulary vectors (C42).
"""
