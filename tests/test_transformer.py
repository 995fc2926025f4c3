"""Transformer: against torch's MultiheadAttention, causality, KV-cache decoding, padding."""

import math

import pytest
import torch
from mt_fixtures import padded_batch
from torch import nn

from seqlab.nn.sequence import SequenceModel
from seqlab.nn.transformer import MultiHeadAttention, Transformer, TransformerLM, sinusoidal_positions

V = 11


def batch():
    return padded_batch(V, 8, 6)


def build(pre_norm=True, tie=False):
    torch.manual_seed(0)
    return Transformer(V, V, d_model=16, heads=4, d_ff=32, enc_layers=2, dec_layers=2,
                       dropout=0.1, pre_norm=pre_norm, tie_embeddings=tie).eval()


def test_multihead_matches_torch():
    torch.manual_seed(0)
    ours = MultiHeadAttention(8, 2)
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.out_proj.weight.copy_(ours.o.weight)
        ref.out_proj.bias.copy_(ours.o.bias)
    x, src = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    pad = torch.tensor([[False] * 5, [False, False, False, True, True]])  # torch: True = ignore
    expected, expected_w = ref(x, src, src, key_padding_mask=pad, average_attn_weights=False)
    fast, none = ours(x, src, (~pad)[:, None, None, :])
    slow, w = ours(x, src, (~pad)[:, None, None, :], need_weights=True)
    assert none is None
    assert torch.allclose(fast, expected, atol=1e-5) and torch.allclose(slow, expected, atol=1e-5)
    assert torch.allclose(w, expected_w, atol=1e-6)


def test_sinusoidal_positions_hand_values():
    pe = sinusoidal_positions(3, 4)
    assert torch.allclose(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(pe[2], torch.tensor([math.sin(2), math.cos(2), math.sin(0.02), math.cos(0.02)]), atol=1e-6)
    assert torch.allclose(sinusoidal_positions(1, 4, offset=2)[0], pe[2])


@pytest.mark.parametrize("pre_norm", [True, False])
def test_future_target_token_changes_no_earlier_output(pre_norm):
    model = build(pre_norm)
    src, mask, tgt = batch()
    logits, _ = model(src, mask, tgt)
    changed = tgt.clone()
    changed[:, 3] = (changed[:, 3] + 1 - 3) % (V - 3) + 3
    logits2, _ = model(src, mask, changed)
    assert torch.allclose(logits[:, :3], logits2[:, :3], atol=1e-6)
    assert not torch.allclose(logits[:, 3:], logits2[:, 3:])


@pytest.mark.parametrize("pre_norm", [True, False])
def test_kv_cache_decoding_equals_teacher_forced(pre_norm):
    model = build(pre_norm)
    src, mask, tgt = batch()
    logits, attn = model(src, mask, tgt, need_weights=True)
    memory = model.encode(src, mask)
    state = model.init_state(memory)
    for t in range(tgt.size(1)):
        step, state, a = model.decode_step(tgt[:, t], state, memory, need_weights=True)
        assert torch.allclose(step, logits[:, t], atol=1e-5)
        assert torch.allclose(a, attn[:, :, t], atol=1e-6)
        assert state.self_kv[0][0].shape == (3, 4, t + 1, 4)  # the cache grows by one row per step
    fast, none = model(src, mask, tgt)
    assert none is None and torch.allclose(fast, logits, atol=1e-5)


def test_padding_gets_zero_attention_and_changes_nothing():
    model = build()
    src, mask, tgt = batch()
    logits, attn = model(src, mask, tgt, need_weights=True)  # (B, H, T, S)
    assert torch.all(attn.masked_select(~mask[:, None, None, :].expand_as(attn)) == 0)
    assert torch.allclose(attn.sum(-1), torch.ones(attn.shape[:-1]), atol=1e-6)
    alone, _ = model(src[2:, :2], mask[2:, :2], tgt[2:])
    assert torch.allclose(logits[2:], alone, atol=1e-5)


def test_tied_embeddings_share_one_matrix():
    model = build(tie=True)
    assert model.out.weight is model.tgt_embed.weight
    n_tied = sum(p.numel() for p in model.parameters())
    assert n_tied == sum(p.numel() for p in build().parameters()) - V * 16


def test_lm_backbone_is_causal_and_stateless():
    torch.manual_seed(0)
    lm = TransformerLM(input_dim=6, d_model=16, heads=2, d_ff=32, num_layers=2, dropout=0.0)
    x = torch.randn(2, 7, 6)
    out, state = lm(x, None)
    assert out.shape == (2, 7, 16) and state is None
    x2 = x.clone()
    x2[:, 4] += 1.0
    out2, _ = lm(x2)
    assert torch.allclose(out[:, :4], out2[:, :4], atol=1e-6) and not torch.allclose(out[:, 4:], out2[:, 4:])
    model = SequenceModel(lm, 16, V, vocab_size=V, embed_dim=6)
    logits, _ = model(torch.randint(0, V, (2, 5)))
    assert logits.shape == (2, 5, V)
