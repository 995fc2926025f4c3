"""Section 1.5, remaining limitations: the effective context (C9), bidirectional RNNs and their
cost (C11, C28).
"""
