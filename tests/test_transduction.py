"""The synthetic translation task: its grammar, gold links and packed batches."""

import pytest
import torch

from seqlab.data.transduction import BOS, EOS, FIRST, PAD, PackedSeq2Seq, Transduction
from seqlab.nn.luong import Luong


def test_a_plain_grammar_is_a_lexical_copy():
    task = Transduction(vocab=5, min_len=1, max_len=6)
    lexicon, kinds = task._grammar
    assert sorted(lexicon) == list(range(FIRST, FIRST + 5)) and set(kinds) == {"plain"}
    src = [FIRST + 2, FIRST + 0, FIRST + 4]
    tgt, links = task.translate(src)
    assert tgt == [lexicon[2], lexicon[0], lexicon[4]] and links == [(0, 0), (1, 1), (2, 2)]


def _with_kind(task, kind):
    return FIRST + task._grammar[1].index(kind)


def test_fertility_deletion_and_reordering_keep_gold_links_exact():
    task = Transduction(vocab=10, fertile=0.2, deleted=0.2, modifier=0.2, grammar_seed=3)
    lexicon, kinds = task._grammar
    assert kinds.count("fertile") == kinds.count("deleted") == kinds.count("modifier") == 2
    plain, fert, gone, mod = (_with_kind(task, k) for k in ("plain", "fertile", "deleted", "modifier"))
    tgt, links = task.translate([mod, plain, fert, gone])
    lex = lambda tok: lexicon[tok - FIRST]  # noqa: E731
    # the modifier swaps with the next word; the fertile word gives two tokens; the deleted one none
    assert tgt == [lex(plain), lex(mod), lex(fert), lex(fert) + 10]
    assert links == [(1, 0), (0, 1), (2, 2), (2, 3)]
    tgt, links = task.translate([mod, mod, plain])  # no chain of swaps: one swap per pair
    assert links == [(1, 0), (0, 1), (2, 2)]


def test_packed_batches_unpack_into_source_and_teacher_forcing():
    task = Transduction(vocab=6, min_len=2, max_len=5)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    S = task.max_len
    for b in range(4):
        src = [t for t in batch.x[b, :S].tolist() if t != PAD]
        tgt = task.translate(src)[0]
        n = len(tgt)
        assert batch.x[b, S : S + n + 1].tolist() == [BOS, *tgt]
        assert batch.y[b, : n + 1].tolist() == [*tgt, EOS] and int(batch.mask[b].sum()) == n + 1
    model = PackedSeq2Seq(Luong(task.src_vocab, task.tgt_vocab, 4, 8, input_feed=False), S)
    logits, state = model(batch.x)
    assert logits.shape == (4, batch.y.shape[1], task.tgt_vocab) and state is None


def test_same_seed_same_batch_and_bad_settings_are_refused():
    task = Transduction(vocab=6, min_len=2, max_len=5)
    a, b = (task.sample(3, torch.Generator().manual_seed(7)) for _ in range(2))
    assert torch.equal(a.x, b.x)
    with pytest.raises(ValueError, match="min_len"):
        Transduction(min_len=5, max_len=2)
    with pytest.raises(ValueError, match="add up"):
        Transduction(fertile=0.5, deleted=0.4, modifier=0.3)
