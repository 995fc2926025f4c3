"""Greedy and beam search: hand-worked toy model, beam 1 == greedy, batched == one by one."""

import math

import pytest
import torch

from seqlab.decode import Hypothesis, beam_search, greedy, length_penalty
from seqlab.nn.bahdanau import Bahdanau
from seqlab.nn.conv import ConvS2S
from seqlab.nn.luong import Luong
from seqlab.nn.seq2seq import EncoderDecoder, Memory, Seq2Seq
from seqlab.nn.transformer import Transformer

BOS, EOS, V = 1, 2, 12


class MarkovToy(EncoderDecoder):
    """Next-token probabilities depend only on the previous token (a fixed table).

    From BOS: A=0.6, B=0.4. After A: A, B, EOS and PAD... spread (best 0.35).
    After B: EOS=0.9. Greedy takes A (then at best 0.35); beam finds B EOS (0.36).
    """

    A, B = 3, 4

    def __init__(self):
        super().__init__()
        table = torch.full((5, 5), 1e-9)
        table[BOS, self.A], table[BOS, self.B] = 0.6, 0.4
        table[self.A, EOS], table[self.A, self.A], table[self.A, self.B] = 0.35, 0.33, 0.32
        table[self.B, EOS], table[self.B, self.A] = 0.9, 0.1
        self.register_buffer("logp", table.log())

    def encode(self, src, src_mask):
        return Memory(outputs=src_mask.float().unsqueeze(-1), mask=src_mask)

    def init_state(self, memory):
        return memory.mask.new_zeros(memory.mask.size(0), 1, dtype=torch.float)  # a dummy state

    def decode_step(self, prev_tokens, state, memory, need_weights=False):
        attn = memory.mask.float() / memory.mask.sum(1, keepdim=True)
        return self.logp[prev_tokens], state + 1, attn

    def reorder_state(self, state, index):
        return state.index_select(0, index)


def toy_batch():
    src = torch.tensor([[5, 6, 7], [5, 6, 0]])
    return src, src != 0


def test_beam_finds_what_greedy_misses():
    model = MarkovToy()
    src, mask = toy_batch()
    g = greedy(model, src, mask, BOS, EOS)
    assert [h.tokens for h in g] == [[3], [3]]  # A then EOS: 0.6 * 0.35 = 0.21
    assert math.isclose(g[0].log_prob, math.log(0.21), rel_tol=1e-5)
    best = beam_search(model, src, mask, BOS, EOS, beam=2, alpha=0.0, n_best=2)
    assert [h.tokens for h in best[0]] == [[4], [3]]  # B EOS: 0.4 * 0.9 = 0.36
    assert math.isclose(best[0][0].log_prob, math.log(0.36), rel_tol=1e-5)
    assert best[0][0].attention is None


def test_length_penalty_and_budget():
    assert length_penalty(1, 0.6) == 1.0
    assert math.isclose(length_penalty(7, 1.0), 2.0)
    model = MarkovToy()
    src, mask = toy_batch()
    out = beam_search(model, src, mask, BOS, EOS, beam=2, alpha=1.0, n_best=2)
    h = out[0][0]
    assert math.isclose(h.score, h.log_prob / length_penalty(len(h.tokens) + 1, 1.0), rel_tol=1e-6)
    capped = greedy(model, src, mask, BOS, EOS, max_len_ratio=0.0, max_len_offset=1)
    assert [h.tokens for h in capped] == [[3], [3]]  # cut after one token, no EOS


def test_attention_rows_follow_the_tokens():
    model = MarkovToy()
    src, mask = toy_batch()
    g = greedy(model, src, mask, BOS, EOS, need_weights=True)
    assert g[1].attention.shape == (1, 2)  # one token, the real source only
    assert torch.allclose(g[1].attention, torch.tensor([[0.5, 0.5]]))
    b = beam_search(model, src, mask, BOS, EOS, beam=2, alpha=0.0, need_weights=True)
    assert b[0][0].attention.shape == (1, 3)


def test_n_best_validation():
    model = MarkovToy()
    src, mask = toy_batch()
    with pytest.raises(ValueError):
        beam_search(model, src, mask, BOS, EOS, beam=2, n_best=3)


MODELS = {
    "seq2seq": lambda: Seq2Seq(V, V, 8, 12),
    "bahdanau": lambda: Bahdanau(V, V, 8, 12, 10),
    "luong-local-p": lambda: Luong(V, V, 8, 12, mode="local-p", half_width=2),
    "transformer": lambda: Transformer(V, V, 16, 2, 32, 2, 2, dropout=0.0),
    "convs2s": lambda: ConvS2S(V, V, 8, 12, 2, 2, 3, dropout=0.0, max_positions=64),
}


def random_batch():
    torch.manual_seed(3)
    src = torch.randint(3, V, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 1:] = False
    return src.masked_fill(~mask, 0), mask


def build(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    with torch.no_grad():  # sharpen the random output layer so hypotheses end at varied lengths
        for p in model.parameters():
            p.mul_(2.0)
    return model


@pytest.mark.parametrize("name", MODELS)
def test_beam_size_one_equals_greedy(name):
    model = build(name)
    src, mask = random_batch()
    g = greedy(model, src, mask, BOS, EOS, need_weights=True)
    b = beam_search(model, src, mask, BOS, EOS, beam=1, alpha=0.0, need_weights=True)
    for gh, (bh,) in zip(g, b):
        assert gh.tokens == bh.tokens
        assert math.isclose(gh.log_prob, bh.log_prob, rel_tol=1e-4, abs_tol=1e-4)
        if gh.attention is not None:
            assert torch.allclose(gh.attention, bh.attention, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_batched_beam_equals_one_by_one(name):
    model = build(name)
    src, mask = random_batch()
    batched = beam_search(model, src, mask, BOS, EOS, beam=3, alpha=0.6, n_best=3)
    for i, hyps in enumerate(batched):
        n = int(mask[i].sum())
        alone = beam_search(model, src[i:i + 1, :n], mask[i:i + 1, :n], BOS, EOS, beam=3, alpha=0.6, n_best=3)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        assert all(math.isclose(a.score, b.score, rel_tol=1e-4, abs_tol=1e-4) for a, b in zip(hyps, alone))
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_hypothesis_is_plain_data():
    h = Hypothesis([3, 4], -1.0, -1.0)
    assert h.attention is None and h.tokens == [3, 4]


def reversal(generator, n, length=5):
    x = torch.randint(3, V, (n, length), generator=generator)
    y = x.flip(1)
    tgt_in = torch.cat([torch.full((n, 1), BOS), y], 1)
    tgt_out = torch.cat([y, torch.full((n, 1), EOS)], 1)
    return x, torch.ones(n, length, dtype=torch.bool), tgt_in, tgt_out


@pytest.mark.parametrize("make", [lambda: Transformer(V, V, 32, 4, 64, 1, 1, dropout=0.0),
                                  lambda: Bahdanau(V, V, 16, 32, 32)], ids=["transformer", "bahdanau"])
def test_decoders_read_out_a_learned_reversal(make, one_thread):
    """Train to reverse 5 tokens; greedy and beam search must then produce the reversal."""
    from seqlab.nn.seq2seq import sequence_loss

    torch.manual_seed(0)
    model, g = make(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(200):
        x, mask, tgt_in, tgt_out = reversal(g, 32)
        loss = sequence_loss(model(x, mask, tgt_in)[0], tgt_out, pad_id=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, mask, _, _ = reversal(g, 32)
    want = x.flip(1).tolist()
    assert sum(h.tokens == y for h, y in zip(greedy(model, x, mask, BOS, EOS), want)) >= 29
    beams = beam_search(model, x, mask, BOS, EOS, beam=3, alpha=0.0)
    assert sum(h[0].tokens == y for h, y in zip(beams, want)) >= 29


class LovesSpecials(MarkovToy):
    """A badly trained decoder: BOS and PAD are its favourite next tokens everywhere."""

    def __init__(self):
        super().__init__()
        table = torch.full((5, 5), 1e-9)
        table[:, 0], table[:, BOS] = 0.4, 0.35  # PAD, BOS
        table[:, self.A], table[:, self.B], table[:, EOS] = 0.1, 0.08, 0.07
        self.register_buffer("logp", table.log())


def test_bos_and_pad_are_never_generated():
    model = LovesSpecials()
    src, mask = toy_batch()
    for h in greedy(model, src, mask, BOS, EOS):
        assert h.tokens and not {0, BOS} & set(h.tokens)
        assert all(t == MarkovToy.A for t in h.tokens)  # the best allowed token at every step
    for hyps in beam_search(model, src, mask, BOS, EOS, beam=3, alpha=0.6, n_best=3):
        assert len(hyps) == 3
        for h in hyps:
            assert not {0, BOS} & set(h.tokens) and math.isfinite(h.score)
    # pad=None bans BOS only: PAD (id 0) is then an ordinary token and wins
    assert set(greedy(model, src, mask, BOS, EOS, pad=None)[0].tokens) == {0}


@pytest.mark.parametrize("name", ["transformer", "bahdanau"])
def test_untrained_models_never_emit_bos_or_pad(name):
    model = build(name)
    step = model.decode_step

    def favour_specials(prev, state, memory, need_weights=False):  # as an early checkpoint may
        logits, state, attn = step(prev, state, memory, need_weights)
        return logits.index_add(-1, torch.tensor([0, BOS]), torch.full((*logits.shape[:-1], 2), 20.0)), state, attn

    model.decode_step = favour_specials
    src, mask = random_batch()
    for h in greedy(model, src, mask, BOS, EOS):
        assert not {0, BOS} & set(h.tokens)
    for hyps in beam_search(model, src, mask, BOS, EOS, beam=3, n_best=3):
        assert all(not {0, BOS} & set(h.tokens) for h in hyps)
