"""A small padded source batch shared by the encoder-decoder tests."""

import torch


def padded_batch(vocab: int, src_len: int, tgt_len: int, lengths=(None, 5, 2)):
    """(src (3, S) with 0 = pad, src_mask (3, S) bool, tgt (3, T)), seeded.

    Row b is real up to ``lengths[b]`` (None = the whole row); ids 3.. are real tokens.
    """
    torch.manual_seed(1)
    src = torch.randint(3, vocab, (3, src_len))
    mask = torch.ones(3, src_len, dtype=torch.bool)
    for row, n in enumerate(lengths):
        if n is not None:
            mask[row, n:] = False
    return src.masked_fill(~mask, 0), mask, torch.randint(3, vocab, (3, tgt_len))
