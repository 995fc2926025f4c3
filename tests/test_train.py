"""The trainer: truncated BPTT, clipping, NaN guard, schedules, checkpoints, resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from seqlab.data.batch import SeqBatch
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.errors import TrainingDivergedError
from seqlab.nn.sequence import SequenceModel
from seqlab.train import Trainer, TrainConfig, plan_windows, tbptt_windows
from seqlab.train.checkpoint import latest_checkpoint, load_weights
from seqlab.train.losses import masked_loss
from seqlab.train.monitor import clip_gradients, gradient_health
from seqlab.train.optim import lr_factor


class LinearRNN(nn.Module):
    """h_t = w * h_{t-1} + x_t, out_t = h_t: every gradient path is easy to predict."""

    def __init__(self, w: float = 0.9) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x, h=None):  # x (B, T, 1)
        h = torch.zeros_like(x[:, 0]) if h is None else h
        outs = []
        for t in range(x.shape[1]):
            h = self.w * h + x[:, t]
            outs.append(h)
        return torch.stack(outs, dim=1), h  # (B, T, 1)


def _all_scored(T: int, B: int = 2) -> SeqBatch:
    x = torch.randn(B, T, 1, dtype=torch.float64, requires_grad=True)
    return SeqBatch(x, torch.zeros(B, T, 1, dtype=torch.float64), torch.ones(B, T, dtype=torch.bool))


def _mse(out, batch):
    return masked_loss(out, batch, "mse")


def _lstm_model(task, hidden=8, seed=0):
    torch.manual_seed(seed)
    return SequenceModel(nn.LSTM(4, hidden, batch_first=True), hidden, task.output_dim,
                         vocab_size=task.vocab_size, input_dim=task.input_dim, embed_dim=4)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("T,k1,k2", [(10, 5, 5), (12, 3, 7), (9, 2, 9), (7, 7, 7), (11, 4, 4)])
def test_windows_score_every_step_once_and_reach_back_k2(T, k1, k2):
    windows = plan_windows(T, k1, k2)
    scored = [t for w in windows for t in range(w.score_from, w.stop)]
    assert scored == list(range(T))
    for w in windows:
        assert w.start == max(0, w.stop - k2)
        assert w.stop - w.score_from <= k1


def test_gradient_is_exactly_zero_across_the_cut():
    batch, model = _all_scored(10), LinearRNN()
    for i, (loss, _, _) in enumerate(tbptt_windows(model, batch, 5, 5, _mse)):
        batch.x.grad = None
        loss.backward()
        g = batch.x.grad[0, :, 0]
        window = slice(5 * i, 5 * i + 5)
        assert torch.all(g[window] != 0)
        outside = torch.cat([g[: 5 * i], g[5 * i + 5 :]])
        assert torch.all(outside == 0)


def test_with_k2_greater_than_k1_the_gradient_reaches_back_exactly_k2_steps():
    T, k1, k2 = 12, 3, 7
    batch, model = _all_scored(T), LinearRNN()
    for w, (loss, _, _) in zip(plan_windows(T, k1, k2), tbptt_windows(model, batch, k1, k2, _mse)):
        batch.x.grad = None
        loss.backward()
        g = batch.x.grad[0, :, 0]
        assert torch.all(g[w.start : w.stop] != 0)
        assert torch.all(g[: w.start] == 0) and torch.all(g[w.stop :] == 0)
        if w.stop >= k2:
            assert w.stop - w.start == k2


def test_tbptt_state_carry_matches_an_unbroken_forward():
    batch, model = _all_scored(12), LinearRNN()
    full, _ = model(batch.x)
    outs = []
    collect = lambda out, b: (outs.append(out.detach()) or _mse(out, b))  # noqa: E731
    list(tbptt_windows(model, batch, 3, 7, collect))
    torch.testing.assert_close(torch.cat(outs, dim=1), full.detach())


def test_k1_equal_k2_equal_T_is_full_bptt():
    task = AddingProblem(length=12)
    results = []
    for tb in (None, 12):
        model = _lstm_model(task)
        cfg = TrainConfig(steps=5, batch_size=4, progress=False, tbptt_k1=tb, tbptt_k2=tb, eval_every=5)
        Trainer(model, task, cfg).fit()
        results.append(_params(model))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


def test_clipping_by_norm_and_value():
    p = nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([3.0, 4.0, 0.0])
    clip_gradients([p], 1.0, None)
    assert p.grad.norm().item() == pytest.approx(1.0)
    p.grad = torch.tensor([3.0, -4.0, 0.5])
    clip_gradients([p], None, 1.0)
    assert p.grad.tolist() == [1.0, -1.0, 0.5]


def test_gradient_health_flags_vanishing_and_exploding():
    m = nn.Linear(2, 2)
    m.weight.grad = torch.full((2, 2), 1e4)
    m.bias.grad = torch.full((2,), 1e-9)
    h = gradient_health(m)
    assert h.exploding == ["weight"] and h.vanishing == ["bias"]
    assert h.total_norm == pytest.approx(math.sqrt(4 * 1e8 + 2 * 1e-18))


def test_nan_guard_names_the_step_and_the_cures(tmp_path):
    task = AddingProblem(length=8)
    model = _lstm_model(task)
    cfg = TrainConfig(steps=10, batch_size=4, progress=False, checkpoint_every=2, eval_every=100)

    class Poison:
        def on_step(self, trainer, step, metrics):
            if step == 3:
                with torch.no_grad():
                    trainer.raw_model.head.weight.fill_(float("nan"))

    trainer = Trainer(model, task, cfg, run_dir=tmp_path, callbacks=[Poison()])
    with pytest.raises(TrainingDivergedError) as err:
        trainer.fit()
    msg = str(err.value)
    assert "step 4" in msg and "clip" in msg and "learning rate" in msg
    good = latest_checkpoint(tmp_path)
    assert good is not None and good.name == "ckpt-00000002"
    assert all(torch.isfinite(v).all() for v in load_weights(good).values())


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    task = CopyMemory(delay=4, num_symbols=3, alphabet=4)
    cfg = TrainConfig(steps=8, batch_size=4, progress=False, eval_every=4, schedule="cosine",
                      warmup_steps=2, tbptt_k1=5, tbptt_k2=7)
    straight = _lstm_model(task)
    Trainer(straight, task, cfg).fit()

    class StopAt:
        def on_step(self, trainer, step, metrics):
            if step == 3:
                trainer.request_stop()

    first = Trainer(_lstm_model(task), task, cfg, run_dir=tmp_path, callbacks=[StopAt()])
    assert first.fit().stopped == "interrupted"
    torch.manual_seed(123)  # disturb the global RNG: resume must restore it
    resumed_model = _lstm_model(task, seed=99)
    result = Trainer(resumed_model, task, cfg, run_dir=tmp_path, resume=True).fit()
    assert result.steps == 8
    torch.testing.assert_close(_params(resumed_model), _params(straight), rtol=0, atol=1e-6)


def test_target_loss_and_early_stopping_end_the_run():
    task = AddingProblem(length=5)
    cfg = TrainConfig(steps=50, batch_size=8, progress=False, eval_every=1, target_loss=10.0)
    assert Trainer(_lstm_model(task), task, cfg).fit().stopped == "target_reached"
    cfg = TrainConfig(steps=50, batch_size=8, progress=False, eval_every=1, lr=0.0, early_stop_patience=2)
    result = Trainer(_lstm_model(task), task, cfg).fit()
    assert result.stopped == "early_stop" and result.steps == 3


def test_warmup_invsqrt_peaks_at_the_end_of_warmup():
    cfg = TrainConfig(schedule="warmup_invsqrt", warmup_steps=4)
    factors = [lr_factor(s, cfg) for s in range(12)]
    assert factors[3] == pytest.approx(1.0)
    assert factors[:4] == sorted(factors[:4]) and factors[3:] == sorted(factors[3:], reverse=True)
    assert factors[8 - 1] == pytest.approx(math.sqrt(4 / 8))


def test_training_lowers_the_loss_on_the_copy_task():
    task = CopyMemory(delay=2, num_symbols=2, alphabet=3)
    cfg = TrainConfig(steps=60, batch_size=16, lr=1e-2, progress=False, eval_every=60)
    trainer = Trainer(_lstm_model(task, hidden=16), task, cfg)
    before = trainer.evaluate()["loss"]
    after = trainer.fit().final["loss"]
    assert after < 0.8 * before


def test_a_wall_clock_budget_stops_the_run():
    task = AddingProblem(length=5)
    cfg = TrainConfig(steps=10_000, batch_size=4, progress=False, eval_every=10_000, max_minutes=0.0)
    result = Trainer(_lstm_model(task), task, cfg).fit()
    assert result.stopped == "time_limit" and result.steps == 1 and result.final["step"] == 1
