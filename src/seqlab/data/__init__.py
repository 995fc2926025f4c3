"""Data: synthetic long-range tasks, real corpora, tokenizers and batching."""
