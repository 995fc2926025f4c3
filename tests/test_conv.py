"""ConvS2S and the dilated causal stack: causality, incremental buffers, receptive field."""

import pytest
import torch
from mt_fixtures import padded_batch

from seqlab.errors import SeqlabError
from seqlab.nn.conv import ConvS2S, DilatedCausalConv
from seqlab.nn.seq2seq import sequence_loss

V = 11


def batch():
    return padded_batch(V, 8, 7)


def build(kernel=3):
    torch.manual_seed(0)
    return ConvS2S(V, V, embed_dim=8, channels=12, enc_layers=2, dec_layers=3, kernel=kernel,
                   dropout=0.1, max_positions=32).eval()


def test_future_target_token_changes_no_earlier_output():
    model = build()
    src, mask, tgt = batch()
    logits, _ = model(src, mask, tgt)
    changed = tgt.clone()
    changed[:, 4] = (changed[:, 4] + 1 - 3) % (V - 3) + 3
    logits2, _ = model(src, mask, changed)
    assert torch.allclose(logits[:, :4], logits2[:, :4], atol=1e-6)
    assert not torch.allclose(logits[:, 4:], logits2[:, 4:])


@pytest.mark.parametrize("kernel", [3, 5])
def test_incremental_buffers_equal_teacher_forced(kernel):
    model = build(kernel)
    src, mask, tgt = batch()
    logits, attn = model(src, mask, tgt)
    memory = model.encode(src, mask)
    state = model.init_state(memory)
    for t in range(tgt.size(1)):
        step, state, a = model.decode_step(tgt[:, t], state, memory)
        assert torch.allclose(step, logits[:, t], atol=1e-5)
        assert torch.allclose(a, attn[:, t], atol=1e-6)


def test_padding_gets_zero_attention_and_changes_nothing():
    model = build()
    src, mask, tgt = batch()
    logits, attn = model(src, mask, tgt)  # (B, T, S): mean over layers
    assert torch.all(attn.masked_select(~mask[:, None, :].expand_as(attn)) == 0)
    assert torch.allclose(attn.sum(-1), torch.ones(attn.shape[:-1]), atol=1e-6)
    alone, _ = model(src[1:2, :5], mask[1:2, :5], tgt[1:2])
    assert torch.allclose(logits[1:2], alone, atol=1e-5)


def test_trains_and_rejects_too_long_input():
    model = build().train()
    src, mask, tgt = batch()
    sequence_loss(model(src, mask, tgt)[0], tgt, pad_id=0).backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(SeqlabError):
        model.encode(torch.ones(1, 40, dtype=torch.long), torch.ones(1, 40, dtype=torch.bool))


@pytest.mark.parametrize("layers,kernel", [(4, 2), (3, 3)])
def test_dilated_receptive_field_is_exact(layers, kernel):
    torch.manual_seed(0)
    net = DilatedCausalConv(input_dim=3, channels=8, num_layers=layers, kernel=kernel)
    rf = net.receptive_field
    assert rf == 1 + (kernel - 1) * (2**layers - 1)
    x = torch.randn(1, rf + 3, 3, requires_grad=True)
    out, _ = net(x)
    out[0, rf - 1].sum().backward()  # output rf-1 sees inputs 0..rf-1
    reach = x.grad[0].abs().sum(-1) > 0
    assert reach[: rf].all() and not reach[rf:].any()
    x.grad = None
    out, _ = net(x)
    out[0, rf].sum().backward()  # one step later: input 0 is out of range
    assert x.grad[0, 0].abs().sum() == 0


def test_dilated_chunks_equal_whole_and_cycle():
    torch.manual_seed(0)
    net = DilatedCausalConv(input_dim=3, channels=8, num_layers=5, kernel=2, cycle=3)
    assert net.dilations == [1, 2, 4, 1, 2]
    x = torch.randn(2, 13, 3)
    whole, _ = net(x)
    a, state = net(x[:, :5])
    b, state = net(x[:, 5:9], state)
    c, _ = net(x[:, 9:], state)
    assert torch.allclose(torch.cat([a, b, c], 1), whole, atol=1e-6)
