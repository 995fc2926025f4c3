"""Diagnostics against hand-worked values: a linear RNN with W = s I, tanh', drift."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from seqlab.diagnostics import (
    DiagnosticsCallback,
    SaturationProbe,
    hidden_gradient_norms,
    hidden_saturation,
    hidden_sensitivity,
    input_gradient_norms,
    jacobian_norms,
    orthogonality_drift,
    output_gradient_norms,
    recurrent_drift,
    tanh_derivative_from_activation,
)
from seqlab.diagnostics.plots import gradient_flow_plot, heatmap
from seqlab.nn import SequenceModel


class LinearRNN(nn.Module):
    """h_t = s h_{t-1} + U x_t, with the torch.nn.RNN calling convention."""

    def __init__(self, s: float, D: int = 3, H: int = 4) -> None:
        super().__init__()
        self.s, self.H, self.batch_first = s, H, True
        self.U = nn.Parameter(torch.randn(H, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64))

    def forward(self, x, h=None):
        h = torch.zeros(1, x.shape[0], self.H, dtype=x.dtype) if h is None else h
        outs = []
        for t in range(x.shape[1]):
            h = self.s * h + (x[:, t] @ self.U.T).unsqueeze(0)  # (1, B, H)
            outs.append(h[0])
        return torch.stack(outs, dim=1), h


def _x(B=2, T=12, D=3, seed=1):
    return torch.randn(B, T, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("s", [0.9, 1.1])
def test_input_gradient_of_linear_rnn_scales_as_s_power(s):
    T = 12
    norms = input_gradient_norms(LinearRNN(s), _x(T=T))
    # dL/dx_t = U^T s^(T-t) 1, so norms / s^(T-t) is the constant ||U^T 1||.
    scaled = norms / s ** (T - np.arange(1, T + 1))
    np.testing.assert_allclose(scaled, scaled[-1], rtol=1e-10)
    U = LinearRNN(s).U.detach()
    assert scaled[-1] == pytest.approx(U.T.sum(dim=1).norm().item(), rel=1e-10)


def test_hidden_gradient_and_jacobian_of_linear_rnn():
    s, T, H = 0.8, 10, 4
    layer = LinearRNN(s, H=H)
    g = hidden_gradient_norms(layer, _x(T=T))
    expected = s ** (T - np.arange(1, T + 1)) * math.sqrt(H)  # dL/dh_t = s^(T-t) 1
    np.testing.assert_allclose(g, expected, rtol=1e-10)
    np.testing.assert_allclose(jacobian_norms(layer, _x(T=T), steps=[1, 5, 9]), [s, s, s], rtol=1e-10)
    summed = hidden_gradient_norms(layer, _x(T=T), loss_at="sum")
    # summed loss: dL/dh_t = sum_{k>=t} s^(k-t) 1
    geo = np.array([sum(s**j for j in range(T - t + 1)) for t in range(1, T + 1)]) * math.sqrt(H)
    np.testing.assert_allclose(summed, geo, rtol=1e-10)


def test_hidden_sensitivity_of_linear_rnn():
    s, T = 0.5, 6
    layer = LinearRNN(s, D=3, H=3)
    x = _x(B=1, T=T)
    # h_T moves by s^(T-1) U d for a unit nudge d of x_1.
    d = torch.randn(1, 3, generator=torch.Generator().manual_seed(0)).double()
    d = d / d.norm()
    expected = s ** (T - 1) * (layer.U.detach() @ d[0]).norm().item()
    assert hidden_sensitivity(layer, x, position=0) == pytest.approx(expected, rel=1e-6)


def test_tanh_derivative_table():
    assert tanh_derivative_from_activation(0.99) == pytest.approx(0.0199)
    assert tanh_derivative_from_activation(0.8) == pytest.approx(0.36)
    assert tanh_derivative_from_activation(0.2) == pytest.approx(0.96)
    z = torch.tensor(math.atanh(0.99), dtype=torch.float64, requires_grad=True)
    torch.tanh(z).backward()
    assert z.grad.item() == pytest.approx(0.0199, rel=1e-9)


def test_rnn_hidden_gradient_matches_hand_chain_rule():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 5, batch_first=True).double()
    x = _x(B=1, T=4)
    g = hidden_gradient_norms(rnn, x)
    out, _ = rnn(x)  # (1, T, H) == h_t
    # dL/dh_T = 1; dL/dh_{T-1} = W_hh^T diag(1 - h_T^2) 1
    back = rnn.weight_hh_l0.T @ (1 - out[0, -1] ** 2)
    assert g[-1] == pytest.approx(math.sqrt(5))
    assert g[-2] == pytest.approx(back.norm().item(), rel=1e-9)
    J = torch.diag(1 - out[0, 2] ** 2) @ rnn.weight_hh_l0  # ds_3/ds_2 (0-based step 2)
    assert jacobian_norms(rnn, x, steps=[2])[0] == pytest.approx(torch.linalg.matrix_norm(J, 2).item(), rel=1e-9)


def test_lstm_jacobian_covers_h_and_c():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, batch_first=True).double()
    norms = jacobian_norms(lstm, _x(T=6), steps=[1, 3])
    assert norms.shape == (2,) and np.all(np.isfinite(norms)) and np.all(norms > 0)
    assert len(hidden_gradient_norms(lstm, _x(T=6))) == 6


def test_saturation_fraction_matches_direct_count():
    torch.manual_seed(0)
    rnn = nn.RNN(3, 8, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.mul_(6.0)
    x = _x(B=3, T=7)
    frac = hidden_saturation(rnn, x, threshold=0.9)
    out, _ = rnn(x)
    np.testing.assert_allclose(frac, (out.abs() > 0.9).double().mean(dim=(0, 2)).detach().numpy())
    assert frac[-1] > 0.3  # large W_hh drives tanh into saturation


def test_saturation_probe_counts_hooked_activations():
    lin = nn.Linear(1, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.1], [1.0], [3.0], [-4.0]]))
    model = nn.Sequential(lin, nn.Tanh(), nn.Linear(4, 2), nn.Sigmoid())
    with SaturationProbe(model, threshold=0.95) as probe:
        model(torch.ones(1, 1))
    assert probe.fractions["1"] == pytest.approx(0.5)  # tanh(3), tanh(-4) saturate


def test_orthogonality_drift():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    assert orthogonality_drift(q) == pytest.approx(0.0, abs=1e-12)
    assert orthogonality_drift(2 * torch.eye(3)) == pytest.approx(3 * math.sqrt(3))  # ||4I - I||_F
    drift = recurrent_drift(nn.LSTM(2, 3))
    assert sorted(drift) == [f"weight_hh_l0[{k}]" for k in range(4)]


def test_output_gradient_norms_of_a_position_wise_model():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
    g = output_gradient_norms(model, _x(T=5).float(), model[0])
    assert np.all(g[:-1] == 0) and g[-1] > 0  # only the last step enters L


class _FakeTrainer:
    def __init__(self, model):
        self.model = model


def test_callback_records_without_touching_parameter_grads():
    torch.manual_seed(0)
    model = SequenceModel(nn.RNN(8, 6, batch_first=True), 6, 5, vocab_size=5, embed_dim=8)
    cb = DiagnosticsCallback(torch.randint(0, 5, (2, 9)), every=2)
    for step in range(1, 6):
        cb.on_step(_FakeTrainer(model), step, {"loss": 1.0})
    assert [r["step"] for r in cb.records] == [1, 2, 4]
    assert all(p.grad is None for p in model.parameters())
    r = cb.records[0]
    assert r["grad_first"] > 0 and 0 <= r["saturation"] <= 1 and r["drift"] > 0 and r["sensitivity"] > 0
    assert cb.series("grad_ratio").shape == (3,)


class PlainTagger(nn.Module):
    """Not a SequenceModel: no .inp, no .backbone, returns a bare tensor."""

    def __init__(self, D=3, H=6, vocab=None):
        super().__init__()
        self.embed = nn.Embedding(vocab, D) if vocab else nn.Identity()
        self.proj = nn.Linear(D, 5)
        self.rnn = nn.GRU(5, H, batch_first=True)
        self.out = nn.Linear(H, 2)

    def forward(self, x):
        return self.out(self.rnn(torch.tanh(self.proj(self.embed(x))))[0])  # (B, T, 2)


def test_callback_works_on_any_model_mapping_btd():
    torch.manual_seed(0)
    model, x = PlainTagger(), torch.randn(2, 7, 3)
    r = DiagnosticsCallback(x).probe(model, step=1)
    np.testing.assert_allclose([r["grad_first"], r["grad_last"]], input_gradient_norms(model, x)[[0, -1]])
    inner = torch.tanh(model.proj(x)).detach()  # what the GRU receives
    assert r["saturation"] == pytest.approx(float(np.mean(hidden_saturation(model.rnn, inner))))
    assert r["sensitivity"] == pytest.approx(hidden_sensitivity(model.rnn, inner))
    assert r["drift"] == pytest.approx(np.mean(list(recurrent_drift(model).values())))
    assert all(p.grad is None for p in model.parameters())
    tokens = DiagnosticsCallback(torch.randint(0, 9, (2, 7))).probe(PlainTagger(vocab=9), step=1)
    assert tokens["grad_first"] > 0 and 0 <= tokens["saturation"] <= 1  # gradients at the embedding


def test_callback_without_a_recurrent_layer_gives_nan_for_its_probes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))  # position-wise, (B, T, 3) -> (B, T, 2)
    r = DiagnosticsCallback(torch.randn(2, 5, 3)).probe(model, step=1)
    assert r["grad_last"] > 0 and r["grad_first"] == 0.0  # the last step's output reads x_T only
    assert math.isnan(r["drift"]) and math.isnan(r["saturation"]) and math.isnan(r["sensitivity"])
    with pytest.raises(ValueError, match="no nn.Embedding"):
        DiagnosticsCallback(torch.randint(0, 3, (2, 5))).probe(model, step=1)


def test_plots_are_png():
    png = gradient_flow_plot({"rnn": np.array([1e-6, 1e-3, 1.0]), "zero": np.zeros(3)})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert heatmap(np.eye(2), ["a", "b"], ["x", "y"], "w")[:4] == b"\x89PNG"
