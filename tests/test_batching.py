"""Batching: padding and masks by hand, token budgets, determinism, and LM streams whose
chunks continue each other (an LSTM run chunk by chunk equals one full run)."""

from __future__ import annotations

import numpy as np
import torch

from seqlab.data.batching import (
    PairBatcher, TokenStream, bucket_batches, collate_pairs, pad_sequences,
)
from seqlab.data.corpora import load_numbers
from seqlab.data.tokenize import BOS, EOS, PAD, CharTokenizer


def test_pad_sequences_by_hand():
    tokens, mask, lengths = pad_sequences([[5, 6, 7], [8]])
    assert tokens.tolist() == [[5, 6, 7], [8, PAD, PAD]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    assert lengths.tolist() == [3, 1]


def test_collate_pairs_shifts_the_target():
    b = collate_pairs([[10, 11], [12]], [[20], [21, 22, 23]], [4, 9])
    assert b.src.tolist() == [[10, 11], [12, PAD]]
    assert b.src_lengths.tolist() == [2, 1]
    assert b.tgt_in.tolist() == [[BOS, 20, PAD, PAD], [BOS, 21, 22, 23]]
    assert b.tgt_out.tolist() == [[20, EOS, PAD, PAD], [21, 22, 23, EOS]]
    assert b.tgt_mask.tolist() == [[True, True, False, False], [True] * 4]
    assert b.index.tolist() == [4, 9] and b.num_target_tokens == 6


def random_lengths(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(1, 60, n).tolist(), rng.integers(1, 60, n).tolist()


def test_buckets_cover_every_pair_once_within_budget():
    src, tgt = random_lengths(500, 0)
    src[7], tgt[7] = 400, 3  # longer than the budget alone
    batches = bucket_batches(src, tgt, max_tokens=300, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    for b in batches:
        cost = len(b) * max(max(src[i], tgt[i] + 1) for i in b)
        assert cost <= 300 or len(b) == 1
    assert [7] in batches


def test_buckets_are_deterministic_and_pad_little():
    src, tgt = random_lengths(500, 0)
    a = bucket_batches(src, tgt, 600, seed=3, epoch=2)
    assert a == bucket_batches(src, tgt, 600, seed=3, epoch=2)
    assert a != bucket_batches(src, tgt, 600, seed=3, epoch=3)
    padded = sum(len(b) * max(src[i] for i in b) for b in a)
    assert padded < 1.15 * sum(src)  # sorting by length keeps source padding small
    unsorted = [list(range(i, i + 10)) for i in range(0, 500, 10)]
    assert padded < sum(len(b) * max(src[i] for i in b) for b in unsorted)


def test_pair_batcher_on_numbers(tmp_path):
    c = load_numbers(size=400, seed=0)
    tok = CharTokenizer.fit(c.texts("train", "src"), None, tmp_path)
    src = [tok.encode(t) for t in c.texts("train", "src")]
    tgt = [tok.encode(t) for t in c.texts("train", "tgt")]
    batcher = PairBatcher(src, tgt, max_tokens=2000, seed=0)
    seen = []
    for batch in batcher.epoch(0):
        for row, i in enumerate(batch.index.tolist()):
            n = int(batch.src_lengths[row])
            assert batch.src[row, :n].tolist() == src[i]
            assert tok.decode(batch.tgt_out[row][batch.tgt_mask[row]]) == c.texts(
                "train", "tgt")[i]
            seen.append(i)
    assert sorted(seen) == list(range(len(src)))


def test_token_stream_by_hand():
    stream = TokenStream(list(range(23)), chunk_len=4)
    assert stream.grid(2).tolist() == [list(range(11)), list(range(11, 22))]
    assert stream.num_chunks(2) == 3  # 10 predictable steps per stream, in chunks of 4
    first = stream.batch_at(0, 2)
    assert first.x.tolist() == [[0, 1, 2, 3], [11, 12, 13, 14]]
    assert first.y.tolist() == [[1, 2, 3, 4], [12, 13, 14, 15]]
    last = stream.batch_at(2, 2)
    assert last.x.tolist() == [[8, 9], [19, 20]] and last.y.tolist() == [[9, 10], [20, 21]]
    assert stream.batch_at(3, 2).x.tolist() == first.x.tolist()  # wraps around
    xs = torch.cat([b.x for b in stream.chunks(2)], dim=1)
    assert torch.equal(xs, stream.grid(2)[:, :-1])


def test_chunks_carry_state_like_one_long_run():
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (3 * 41,))
    stream = TokenStream(ids, chunk_len=6)
    emb, lstm = torch.nn.Embedding(7, 5), torch.nn.LSTM(5, 8, batch_first=True)
    grid = stream.grid(3)  # (B, L)
    full, _ = lstm(emb(grid[:, :-1]))  # (B, L - 1, H)
    state, parts = None, []
    for batch in stream.chunks(3):
        out, state = lstm(emb(batch.x), state)
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), full)
