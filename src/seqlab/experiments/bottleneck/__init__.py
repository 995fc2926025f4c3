"""Section 1.6, the encoder-decoder bottleneck: the length cliff (C12).
"""
