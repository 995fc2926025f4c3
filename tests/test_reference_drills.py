"""seqlab.reference: the tiny seq2seq backward, the optimisers, the drills and `seqlab drill`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqlab.cli import main
from seqlab.reference.drills import bahdanau, clipping, decay
from seqlab.reference.gradcheck import numerical_gradient, relative_error
from seqlab.reference.optim import Adam
from seqlab.reference.recurrent import Recurrent
from seqlab.reference.seq2seq import TinySeq2Seq, cross_entropy


def test_seq2seq_backward_matches_finite_differences():
    model = TinySeq2Seq(vocab=4, hidden=3, attn=3, seed=0)
    for k in model.attn:
        model.attn[k] *= 3.0  # sharper attention: every attention gradient well above noise
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(0, 4, (3, 3)), rng.integers(0, 4, (3, 2))
    logits, _, cache = model.forward(src, tgt)
    _, dlogits = cross_entropy(logits, tgt)
    grads = model.backward(dlogits, cache)

    def loss() -> float:
        return cross_entropy(model.forward(src, tgt)[0], tgt)[0]

    for p, g in zip(model.parameters(), grads):
        for k in p:
            assert relative_error(g[k], numerical_gradient(loss, p[k])) < 1e-6, k


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(1)
    logits, tgt = rng.normal(size=(2, 3, 5)), rng.integers(0, 5, (2, 3))
    loss, dlogits = cross_entropy(logits, tgt)
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 5), torch.from_numpy(tgt).reshape(-1))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, lt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_adam_matches_torch():
    rng = np.random.default_rng(2)
    p = [{"w": rng.normal(size=(3, 2))}]
    tw = torch.tensor(p[0]["w"].copy(), requires_grad=True)
    opt, topt = Adam(p, lr=0.1), torch.optim.Adam([tw], lr=0.1)
    for _ in range(3):
        g = rng.normal(size=(3, 2))
        opt.step([{"w": g}])
        tw.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_allclose(p[0]["w"], tw.detach().numpy(), rtol=1e-10)


def test_decay_measures_agree_and_helpers_are_exact():
    model = Recurrent("rnn", 3, 6, num_layers=2, seed=0)
    x = decay.toy_sequence(8)
    bptt = decay.jacobian_norms(model, x)
    np.testing.assert_allclose(decay.perturbation_norms(model, x), bptt, rtol=1e-6)
    geometric = 0.5 ** np.arange(10)[::-1]  # norms at positions 0..9, halving per step back
    assert decay.decay_per_step(geometric) == pytest.approx(0.5)
    assert decay.horizon(geometric) == 7  # 0.5^7 < 1% <= 0.5^6


def test_rnn_numpy_drill_writes_json_and_png(tmp_path):
    result = decay.run(tmp_path, seed=0, length=12, hidden=6)
    saved = json.loads((tmp_path / "rnn_numpy.json").read_text())
    assert np.array(saved["hidden_states"]).shape == (2, 12, 6)
    assert (tmp_path / "rnn_numpy.png").stat().st_size > 0
    assert result["fd_relative_error"] < 1e-4
    rnn = np.array(result["sensitivity"]["rnn"])
    assert rnn[-1] > 100 * rnn[0]  # the early input barely moves the final state
    assert "decay per step back" in decay.summary(result)


def test_clipping_drill_unclipped_diverges_clipped_learns(tmp_path):
    result = clipping.run(tmp_path, seed=0, steps=150)
    s = result["summary"]
    assert s["no clipping"]["diverged"]
    clipped = s["clip norm 1"]
    assert not clipped["diverged"] and clipped["worst_loss"] < 1.0
    assert clipped["clipped_fraction"] > 0
    assert (tmp_path / "clipping.png").exists() and "clipped" in clipping.summary(result)


def test_bahdanau_drill_via_cli_finds_the_alignment(tmp_path, capsys):
    assert main(["drill", "bahdanau", "--out", str(tmp_path), "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "expected 3: yes" in out and "expected 1: yes" in out
    saved = json.loads((tmp_path / "bahdanau.json").read_text())
    weights = np.array(saved["weights_after"])
    assert weights.shape == (2, 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert saved["winners"] == list(bahdanau.ALIGNMENT)
    assert (tmp_path / "bahdanau.png").exists()


def test_gradcheck_drill_writes_json_and_png(tmp_path, monkeypatch):
    from seqlab.reference.drills import gradcheck

    fake = {"weight_ih_l0": 1e-10, "input": 0.0}  # the checks themselves are tested in test_reference.py
    for name in ("check_recurrent", "compare_with_torch"):
        monkeypatch.setattr(gradcheck, name, lambda kind, n, seed: dict(fake))
    for name in ("check_attention", "compare_attention_with_torch"):
        monkeypatch.setattr(gradcheck, name, lambda seed: dict(fake))
    result = gradcheck.run(tmp_path, seed=0)
    assert json.loads((tmp_path / "gradcheck.json").read_text())["cases"]["gru x2"]["torch"]["max"] == 1e-10
    assert (tmp_path / "gradcheck.png").read_bytes()[:4] == b"\x89PNG"
    assert "gradcheck.png" in gradcheck.summary(result)
