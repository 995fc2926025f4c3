"""Section 1.6, the encoder-decoder bottleneck: the length cliff (C12), early tokens overwritten
in the encoder (C19), where the cliff sits (C32), quality by sentence length (C33).
"""
