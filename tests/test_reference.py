"""seqlab.reference: hand-written BPTT vs finite differences, torch autograd and torch.nn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.reference import Recurrent, attention, clip_by_global_norm, global_norm, torch_named
from seqlab.reference.gradcheck import check_attention, check_recurrent
from seqlab.reference.torch_compare import (
    compare_attention_with_torch,
    compare_with_torch,
    torch_twin,
)

KINDS = ["rnn", "lstm", "gru"]


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_bptt_matches_finite_differences(kind, num_layers):
    errors = check_recurrent(kind, num_layers, seed=1)
    # every parameter of every layer, the inputs and the initial states are checked
    assert len(errors) == 4 * num_layers + 1 + num_layers * (2 if kind == "lstm" else 1)
    worst = max(errors, key=errors.get)
    print(f"{kind} x{num_layers}: largest finite-difference relative error "
          f"{errors[worst]:.2e} ({worst})")
    assert errors[worst] < 1e-6, errors


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_forward_and_gradients_match_torch(kind, num_layers):
    errors = compare_with_torch(kind, num_layers, seed=2)
    assert {"out", "input", "weight_hh_l0"} <= {k.removeprefix("grad ") for k in errors}
    worst = max(errors, key=errors.get)
    print(f"{kind} x{num_layers}: largest relative error vs torch {errors[worst]:.2e} ({worst})")
    assert errors[worst] < 1e-12, errors


def test_torch_named_gradients_are_torchs_grads():
    """backward's per-layer gradients, under torch's names, equal torch's .grad of the same loss."""
    ref = Recurrent("gru", input_size=3, hidden_size=4, num_layers=2, seed=3)
    net = torch_twin(ref)
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    out, _, cache = ref.forward(x)
    _, _, grads = ref.backward(cache, np.ones_like(out))  # L = sum of the outputs
    net(torch.from_numpy(x))[0].sum().backward()
    named = torch_named(grads)
    assert set(named) == {name for name, _ in net.named_parameters()}
    for name, p in net.named_parameters():
        np.testing.assert_allclose(named[name], p.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_attention_matches_finite_differences_and_torch():
    fd = check_attention(seed=3)
    assert set(fd) == {"W1", "W2", "v", "h", "s"}
    assert max(fd.values()) < 1e-6, fd
    vs_torch = compare_attention_with_torch(seed=3)
    assert max(vs_torch.values()) < 1e-12, vs_torch


def test_attention_hand_worked_weights():
    # W1 = I, W2 = 0, v = 1: e_j = sum_k tanh(h_jk). With tanh(h_1) = (0.5, 0.5), e = (0, 1).
    a = math.atanh(0.5)
    h = np.array([[[0.0, 0.0], [a, a], [5.0, -5.0]]])  # (1, 3, 2); tanh(5) + tanh(-5) = 0
    p = {"W1": np.eye(2), "W2": np.zeros((2, 3)), "v": np.ones(2)}
    mask = np.array([[True, True, False]])
    c, alpha, _ = attention.forward(h, np.ones((1, 3)), p, mask=mask)
    np.testing.assert_allclose(alpha, [[1 / (1 + math.e), math.e / (1 + math.e), 0.0]])
    np.testing.assert_allclose(c, alpha[:, :2] @ h[0, :2])


def test_load_state_dict_from_torch_module():
    torch.manual_seed(0)
    net = torch.nn.GRU(3, 5, num_layers=2, batch_first=True).double()
    model = Recurrent("gru", 3, 5, num_layers=2)
    model.load_state_dict(net.state_dict())
    x = np.random.default_rng(0).normal(size=(2, 6, 3))
    out, finals, _ = model.forward(x)
    out_t, h_n = net(torch.from_numpy(x))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(finals[1][0], h_n[1].detach().numpy(), rtol=1e-12, atol=1e-12)
    # and back: a twin built from the numpy weights has the same state dict
    twin = torch_twin(model)
    for k, v in net.state_dict().items():
        assert torch.equal(twin.state_dict()[k], v)


def test_load_state_dict_rejects_wrong_shape_and_missing_key():
    model = Recurrent("lstm", 3, 4)
    with pytest.raises(ConfigError, match="shape"):
        model.load_state_dict(Recurrent("lstm", 3, 5).state_dict())
    with pytest.raises(ConfigError, match="weight_hh_l0"):
        model.load_state_dict({"weight_ih_l0": np.zeros((16, 3))})
    with pytest.raises(ConfigError, match="unknown cell kind"):
        Recurrent("transformer", 3, 4)
    with pytest.raises(ConfigError, match=r"expected inputs \(B, T, 3\)"):
        model.forward(np.zeros((2, 5, 4)))


def test_clip_by_global_norm_caps_the_norm_like_torch():
    rng = np.random.default_rng(0)
    grads = [{"a": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}, {"c": rng.normal(size=2)}]
    norm = global_norm(grads)
    clipped, before = clip_by_global_norm(grads, max_norm=0.5)
    assert before == pytest.approx(norm)
    assert global_norm(clipped) == pytest.approx(0.5, rel=1e-5)
    # direction unchanged
    np.testing.assert_allclose(clipped[0]["a"] / grads[0]["a"], 0.5 / (norm + 1e-6))
    tensors = [torch.tensor(g, requires_grad=True) for d in grads for g in d.values()]
    for t in tensors:
        t.grad = t.detach().clone()
    torch.nn.utils.clip_grad_norm_(tensors, 0.5)
    mine = [g for d in clipped for g in d.values()]
    for t, g in zip(tensors, mine):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-12)
    # below the threshold nothing changes
    same, _ = clip_by_global_norm(grads, max_norm=norm * 2)
    np.testing.assert_array_equal(same[1]["c"], grads[1]["c"])
    with pytest.raises(ConfigError):
        clip_by_global_norm(grads, max_norm=0.0)


def test_lstm_cell_state_gradient_is_forget_gate_times_next():
    # with no gradient on h, dL/dc_{t-1} = dL/dc_t * f_t exactly (the "gradient highway")
    model = Recurrent("lstm", 2, 3, seed=4)
    x = np.random.default_rng(4).normal(size=(1, 1, 2))
    _, _, caches = model.forward(x)
    dc = np.array([[1.0, -2.0, 0.5]])
    _, dstate0, _ = model.backward(caches, np.zeros((1, 1, 3)), [(np.zeros((1, 3)), dc)])
    f = caches[0][0][4]  # cache = (x, h_prev, c_prev, i, f, g, o, tanh c)
    np.testing.assert_allclose(dstate0[0][1], dc * f)
