"""A small padded source batch shared by the encoder-decoder tests."""

import torch


def padded_batch(vocab: int, src_len: int, tgt_len: int, lengths=(None, 5, 2)):
    """(src (B, S) with 0 = pad, src_mask (B, S) bool, tgt (B, T)), seeded; B = len(lengths).

    Row b is real up to ``lengths[b]`` (None = the whole row); ids 3.. are real tokens.
    """
    torch.manual_seed(1)
    batch = len(lengths)
    src = torch.randint(3, vocab, (batch, src_len))
    mask = torch.ones(batch, src_len, dtype=torch.bool)
    for row, n in enumerate(lengths):
        if n is not None:
            mask[row, n:] = False
    return src.masked_fill(~mask, 0), mask, torch.randint(3, vocab, (batch, tgt_len))
