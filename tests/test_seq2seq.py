"""Recurrent encoder-decoders: Seq2Seq (bottleneck), Bahdanau, Luong (global / local)."""

import pytest
import torch
from mt_fixtures import padded_batch
import torch.nn.functional as F

from seqlab.nn.bahdanau import Bahdanau
from seqlab.nn.luong import Luong
from seqlab.nn.recurrent import GRU, LSTM
from seqlab.nn.seq2seq import Seq2Seq, map_state, reverse_padded, sequence_loss

V = 13


def batch():
    return padded_batch(V, 9, 7, lengths=(None, 6, 3))


MODELS = {
    "seq2seq": lambda: Seq2Seq(V, V, 8, 12, num_layers=2),
    "seq2seq-rev-gru": lambda: Seq2Seq(V, V, 8, 12, reverse_source=True, cell=GRU),
    "bahdanau-gru": lambda: Bahdanau(V, V, 8, 12, 10),
    "bahdanau-lstm-2": lambda: Bahdanau(V, V, 8, 12, 10, enc_layers=2, dec_layers=2, cell=LSTM),
    "luong-dot-global": lambda: Luong(V, V, 8, 12, score="dot"),
    "luong-general-nofeed": lambda: Luong(V, V, 8, 12, score="general", input_feed=False),
    "luong-concat-local-m": lambda: Luong(V, V, 8, 12, score="concat", mode="local-m", half_width=1),
    "luong-general-local-p": lambda: Luong(V, V, 8, 12, num_layers=2, mode="local-p", half_width=2),
}


def build(name):
    torch.manual_seed(0)
    return MODELS[name]().eval()


@pytest.mark.parametrize("name", MODELS)
def test_incremental_equals_teacher_forced(name):
    model = build(name)
    src, mask, tgt = batch()
    logits, attn = model(src, mask, tgt)
    memory = model.encode(src, mask)
    state = model.init_state(memory)
    for t in range(tgt.size(1)):
        step, state, a = model.decode_step(tgt[:, t], state, memory)
        assert torch.allclose(step, logits[:, t], atol=1e-5)
        if attn is not None:
            assert torch.allclose(a, attn[:, t], atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_padding_changes_nothing(name):
    """A sentence decodes the same alone as inside a padded batch; padding gets zero attention."""
    model = build(name)
    src, mask, tgt = batch()
    logits, attn = model(src, mask, tgt)
    n = int(mask[2].sum())
    alone, attn_alone = model(src[2:, :n], mask[2:, :n], tgt[2:])
    assert torch.allclose(logits[2:], alone, atol=1e-5)
    if attn is not None:
        assert torch.all(attn[~mask.unsqueeze(1).expand_as(attn)] == 0)
        assert torch.allclose(attn[2:, :, :n], attn_alone, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in MODELS if "local-p" not in n and "seq2seq" not in n])
def test_attention_rows_sum_to_one(name):
    src, mask, tgt = batch()
    _, attn = build(name)(src, mask, tgt)
    assert torch.allclose(attn.sum(-1), torch.ones(attn.shape[:-1]), atol=1e-6)


def test_local_p_attends_only_inside_window():
    model = build("luong-general-local-p")
    src, mask, tgt = batch()
    memory = model.encode(src, mask)
    query = torch.randn(3, 12) * 3
    _, weights = model.attend(query, memory, step=0)  # (B, S)
    center = model.position(query, mask.sum(1))  # p_t
    s = torch.arange(9).float()
    outside = (s[None] - center[:, None]).abs() > 2
    assert torch.all(weights[outside | ~mask] == 0)
    assert torch.all(weights.sum(-1) <= 1 + 1e-6) and torch.all(weights.sum(-1) > 0)
    _, attn = model(src, mask, tgt)
    assert torch.all((attn > 0).sum(-1) <= 5)  # at most 2D + 1 positions


@pytest.mark.parametrize("name", ["luong-general-local-p", "luong-concat-local-m"])
def test_gathered_window_equals_masked_full_attention(name):
    """Scoring only the 2D + 1 gathered positions gives exactly the masked O(S) computation."""
    model = build(name)
    src, mask, _ = batch()
    memory = model.encode(src, mask)
    torch.manual_seed(5)
    query = torch.randn(3, 12) * 3
    s, d = torch.arange(9).float(), model.half_width
    for step in (0, 2, 7):
        ctx, weights = model.attend(query, memory, step)
        center = model.position(query, mask.sum(1), step)  # (B,)
        inside = mask & ((s[None] - center[:, None]).abs() <= d)  # (B, S)
        ref = model.score.scores(query, model.score.project_keys(memory.outputs), inside)
        if model.position.gaussian:
            ref = ref * torch.exp(-((s[None] - center[:, None]) ** 2) / (2 * (d / 2) ** 2))
        assert torch.allclose(weights, ref, atol=1e-6)
        assert torch.allclose(ctx, torch.bmm(ref.unsqueeze(1), memory.outputs).squeeze(1), atol=1e-6)


def test_local_m_window_follows_target_position():
    model = build("luong-concat-local-m")
    src, mask, tgt = batch()
    _, attn = model(src, mask, tgt)  # (B, T, S), D = 1
    for t in range(tgt.size(1)):
        for b in range(3):
            p = min(t, int(mask[b].sum()) - 1)
            nonzero = attn[b, t].nonzero().flatten().tolist()
            assert set(nonzero) <= {p - 1, p, p + 1} and p in nonzero


@pytest.mark.parametrize("name", ["seq2seq", "seq2seq-rev-gru"])
def test_seq2seq_bottleneck_ignores_encoder_outputs(name):
    """Only the final state reaches the decoder: perturbing every encoder output changes nothing."""
    model = build(name)
    src, mask, tgt = batch()
    memory = model.encode(src, mask)
    perturbed = type(memory)(outputs=memory.outputs + torch.randn_like(memory.outputs), mask=mask, final=memory.final)
    s1, s2 = model.init_state(memory), model.init_state(perturbed)
    for t in range(tgt.size(1)):
        l1, s1, _ = model.decode_step(tgt[:, t], s1, memory)
        l2, s2, _ = model.decode_step(tgt[:, t], s2, perturbed)
        assert torch.equal(l1, l2)
    # while the final state does matter
    final = map_state(memory.final, lambda x: x + 1.0)
    l3, _, _ = model.decode_step(tgt[:, 0], final, memory)
    l1, _, _ = model.decode_step(tgt[:, 0], model.init_state(memory), memory)
    assert not torch.allclose(l1, l3)


def test_reverse_padded_hand_example():
    tokens = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    mask = tokens != 0
    assert reverse_padded(tokens, mask).tolist() == [[7, 6, 5, 0], [9, 8, 0, 0]]


def test_source_reversal_feeds_encoder_reversed_source():
    torch.manual_seed(0)
    fwd, rev = Seq2Seq(V, V, 8, 12), Seq2Seq(V, V, 8, 12, reverse_source=True)
    rev.load_state_dict(fwd.state_dict())
    src, mask, _ = batch()
    a = rev.encode(src, mask).final
    b = fwd.encode(reverse_padded(src, mask), mask).final
    assert all(torch.allclose(x, y) for x, y in zip(a, b)) and len(a) == 2  # (h, c)


def test_sequence_loss_label_smoothing_by_hand():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.5]]])
    target = torch.tensor([[0, 2]])  # second position is padding (pad_id=2)
    eps = 0.1
    logp = F.log_softmax(logits[0, 0], -1)
    expected = -((1 - eps) * logp[0] + eps / 3 * logp.sum())
    assert torch.allclose(sequence_loss(logits, target, pad_id=2, label_smoothing=eps), expected)


@pytest.mark.parametrize("name", ["seq2seq", "bahdanau-lstm-2", "luong-general-local-p"])
def test_gradients_reach_every_parameter(name):
    model = build(name).train()
    src, mask, tgt = batch()
    logits, _ = model(src, mask, tgt)
    sequence_loss(logits, tgt, pad_id=0).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
