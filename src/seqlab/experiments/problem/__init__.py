"""Section 1.1, the sequence modeling problem: static vs contextual embeddings (C18), the recency
bias (C19), the failure table (C30).
"""
