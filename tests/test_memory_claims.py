"""The Transformer task backbone (``seqlab.build``, arch "transformer") and the memory claims
C4 (long dependencies), C7 (forget-gate bias), C25 (Transformers on long dependencies):
causality by construction, the rules on hand-made numbers, tiny runs."""

import pytest
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import from_dict
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.errors import ConfigError
from seqlab.experiments.core.units import run_inline

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


# ---------------------------------------------------------------- the Transformer backbone

def _transformer(bidirectional=False, layers=2, task=None):
    torch.manual_seed(0)
    spec = ModelConfig(arch="transformer", hidden_size=16, num_layers=layers, heads=2, embed_dim=8,
                       bidirectional=bidirectional)
    return build_model(spec, task or CopyMemory(delay=6, num_symbols=2, alphabet=4)).eval()


def test_transformer_shapes_tokens_and_features():
    model = _transformer()
    x = torch.randint(0, 6, (3, 10))
    out, state = model(x)
    assert out.shape == (3, 10, 6) and state is None
    model = _transformer(task=AddingProblem(12))
    out, _ = model(torch.rand(2, 12, 2))
    assert out.shape == (2, 12, 1)
    assert _transformer(bidirectional=True).head.in_features == 16  # d_model, not 2 x d_model


def test_causal_transformer_output_before_t_ignores_x_t():
    model = _transformer()
    x = torch.randint(0, 6, (2, 10))
    changed = x.clone()
    changed[:, 6] = (x[:, 6] + 1) % 6  # a different token at t = 6 only
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(changed)
    assert torch.equal(a[:, :6], b[:, :6])  # steps 0..5 never see step 6
    assert (a[:, 6:] - b[:, 6:]).abs().amax() > 1e-4  # step 6 and later do


def test_bidirectional_transformer_sees_the_future():
    model = _transformer(bidirectional=True)
    x = torch.randint(0, 6, (2, 10))
    changed = x.clone()
    changed[:, 9] = (x[:, 9] + 1) % 6  # only the last token differs
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(changed)
    assert (a[:, 0] - b[:, 0]).abs().amax() > 1e-4  # step 0 reads the last step


def test_bidirectional_transformer_masks_right_padding():
    model = _transformer(bidirectional=True)
    x = torch.randint(0, 6, (2, 10))
    padded = x.clone()
    padded[:, 7:] = 0  # different content in the padding
    lengths = torch.tensor([7, 7])
    with torch.no_grad():
        a, _ = model(x, lengths=lengths)
        b, _ = model(padded, lengths=lengths)
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-6)


def test_transformer_config_is_validated():
    with pytest.raises(ConfigError, match="not divisible by heads 4"):
        ModelConfig(arch="transformer", hidden_size=30)
    with pytest.raises(ConfigError, match="'heads' applies to arch 'transformer' only"):
        ModelConfig(arch="lstm", heads=2)
    with pytest.raises(ConfigError, match="no hidden-to-hidden matrix"):
        ModelConfig(arch="transformer", init="orthogonal")
    cfg = from_dict(ModelConfig, {"arch": "transformer", "hidden_size": 24, "heads": 3, "num_layers": 2})
    assert cfg.num_heads == 3 and ModelConfig(arch="transformer", hidden_size=32).num_heads == 4
    model = build_model(cfg, CopyMemory(delay=4, num_symbols=2, alphabet=4))
    assert len(model.backbone.layers) == 2 and model.backbone.layers[0].attn.heads == 3


# ---------------------------------------------------------------- PairedRecall and the run helpers

def test_paired_recall_answers_the_queried_key():
    from seqlab.data.memory_tasks import PairedRecall

    task = PairedRecall(num_pairs=3, num_keys=4, num_values=5)
    assert (task.length, task.input_dim, task.output_dim) == (4, 10, 5)
    assert task.chance_loss == pytest.approx(1.6094, abs=1e-4)  # ln 5
    b = task.sample(50, torch.Generator().manual_seed(0))
    assert b.x.shape == (50, 4, 10) and b.mask[:, -1].all() and b.mask.sum() == 50
    for i in range(50):
        pairs = {int(b.x[i, t, :4].argmax()): int(b.x[i, t, 4:9].argmax()) for t in range(3)}
        assert len(pairs) == 3  # distinct keys
        assert b.x[i, :3].sum() == 6 and b.x[i, 3, 9] == 1 and b.x[i, 3, 4:9].sum() == 0
        assert int(b.y[i, -1]) == pairs[int(b.x[i, 3, :4].argmax())]
    with pytest.raises(ValueError, match="needs at least that many keys"):
        PairedRecall(5, 4, 4).sample(1, torch.Generator())


def test_skill_and_chance():
    from seqlab.experiments.core.memory_runs import chance_skill, skill

    adding = AddingProblem(10)
    assert skill(adding, {"loss": adding.chance_loss}) == pytest.approx(0.0)
    assert skill(adding, {"loss": 0.1 * adding.chance_loss}) == pytest.approx(0.9)
    assert skill(CopyMemory(5, 1, 8), {"loss": 2.0, "accuracy": 0.75}) == 0.75
    assert chance_skill(CopyMemory(5, 1, 8)) == 1 / 8 and chance_skill(adding) == 0.0


def test_watch_finds_the_first_step_of_competence():
    from seqlab.experiments.core.memory_runs import Watch, _Competent, sample_curve

    task = CopyMemory(5, 1, 8)
    watch = Watch(task, threshold=0.9, window=3, stop=False)
    for step, acc in enumerate([1.0, 1.0, 0.5, 0.9, 1.0, 0.95, 1.0], start=1):
        watch.on_step(None, step, {"accuracy": acc})
    # running means: 1, 1, .833, .8, .8, .95 -> first full window >= 0.9 at step 6
    assert watch.reached == 6 and watch.running[2] == pytest.approx(2.5 / 3)
    stopping = Watch(task, threshold=0.9, window=2, stop=True)
    stopping.on_step(None, 1, {"accuracy": 1.0})  # window not yet full: no decision
    with pytest.raises(_Competent):
        stopping.on_step(None, 2, {"accuracy": 0.8})
    assert stopping.reached == 2
    assert sample_curve(list(range(16)), points=4) == [3, 7, 11, 15]
    assert sample_curve([0.5, 0.7], points=4) == [0.5, 0.5, 0.7, 0.7]


def _run(reached, held_out=0.0, curve=(0.1,) * 8, budget=300):
    from seqlab.experiments.core.memory_runs import Run

    return Run(reached, budget, budget if reached is None else reached, list(curve), max(curve), held_out)


# ---------------------------------------------------------------- C7 forget-gate bias

def test_c7_rule_on_hand_made_steps():
    from seqlab.experiments.gates import c07_forget_bias as c7

    cfg = c7.Config()
    assert c7.best_positive({0.0: [301] * 5, 1.0: [100, 120, 90, 301, 80], 2.0: [50, 60, 40, 55, 301]}) == 2.0
    assert c7.best_positive({0.0: [1], 1.0: [5, 5], 2.0: [5, 5]}) == 1.0  # tie: the smaller bias
    assert c7.rule([0.2, 0.3, 0.1, 1.0, 0.5], cfg) == (True, False)  # 4 of 5 faster, median 0.3
    assert c7.rule([0.2, 0.3, 0.8, 1.0, 0.9], cfg) == (False, False)  # median 0.8: not enough
    assert c7.rule([1.0, 1.2, 1.0, 0.5, 2.0], cfg) == (False, True)  # bias 0 as fast or faster
    assert c7.rule([0.6, 0.65, 0.7, 1.0, 1.0], cfg) == (False, False)  # only 3 of 5 faster


def test_c7_verdict_needs_a_bias_that_learns():
    from seqlab.experiments.gates import c07_forget_bias as c7
    from seqlab.experiments.core.base import new_result

    cfg, seeds = c7.Config(delays=(10,), budget=300), tuple(range(5))
    reach = {(10, b): -float(3 - b) for b in cfg.biases}

    def verdict(zero, one, two):
        steps = {(10, b, s): v[s] for b, v in ((0.0, zero), (1.0, one), (2.0, two)) for s in seeds}
        return c7._verdict(new_result("C7", "c", "s", "quick", {}), steps, reach, cfg, seeds)

    assert verdict([301] * 5, [120] * 5, [50, 60, 40, 55, 301]).verdict == "confirmed"
    assert verdict([60] * 5, [120] * 5, [90] * 5).verdict == "refuted"
    never = verdict([301] * 5, [301] * 5, [301] * 5)  # nothing learned: the budget measured no speed
    assert never.verdict == "inconclusive" and "gate failed" in never.decided_by


# ---------------------------------------------------------------- C4 long dependencies

def _c4_runs(c4, seeds, long_lstm, rnn_long=None, short_ok=True):
    runs = {}
    for s in seeds:
        for arch in c4.ARCHS:
            runs["adding", "short", arch, s] = _run(50 if short_ok else None, 0.95)
        runs["adding", "long", "gru", s] = _run(80, 0.95)
        runs["adding", "long", "lstm", s] = long_lstm[s]
        runs["adding", "long", "rnn_tanh", s] = rnn_long or _run(None, 0.02)
    return runs


def test_c4_judges_each_gated_architecture():
    from seqlab.experiments.gates import c04_long_dependencies as c4
    from seqlab.experiments.core.base import new_result

    cfg, seeds = c4.Config(), (0, 1, 2)
    named = c4.tasks(cfg)

    def verdict(runs):
        return c4._verdict(new_result("C4", "c", "s", "quick", {}), runs, cfg, named, seeds)

    good = verdict(_c4_runs(c4, seeds, [_run(230, 0.93)] * 3))
    assert good.verdict == "confirmed" and "LSTM beats the RNN in 3/3" in good.headline
    lstm_fails = verdict(_c4_runs(c4, seeds, [_run(None, 0.05)] * 3))
    assert lstm_fails.verdict == "refuted" and "LSTM beats the RNN in 0/3" in lstm_fails.headline
    mixed = verdict(_c4_runs(c4, seeds, [_run(230, 0.93), _run(None, 0.1), _run(200, 0.9)]))
    assert mixed.verdict == "inconclusive" and not mixed.decided_by.startswith("gate failed")
    small = verdict(_c4_runs(c4, seeds, [_run(230, 0.93)] * 3, short_ok=False))
    assert small.verdict == "inconclusive" and "competent at the short length" in small.decided_by
    climbing = _run(None, 0.3, curve=(0.0, 0.0, 0.05, 0.1, 0.1, 0.2, 0.3, 0.45))
    still = verdict(_c4_runs(c4, seeds, [_run(230, 0.93)] * 3, rnn_long=climbing))
    assert still.verdict == "inconclusive" and "RNN plateaued" in still.decided_by


def test_c4_rnn_gets_the_updates_the_gated_nets_needed(monkeypatch):
    from dataclasses import asdict

    from seqlab.experiments.gates import c04_long_dependencies as c4

    monkeypatch.setitem(c4.PROFILES, "quick", c4.Config(adding=(10, 40), budget=600))

    def planned(done):
        return {u.key: u for u in c4.units("quick", done) if u.key.endswith("-s0")}

    first = planned({})  # the gated nets at T = 40 and the RNN at T = 10 need nothing else
    assert sorted(first) == ["adding-long-gru-s0", "adding-long-lstm-s0", "adding-short-rnn_tanh-s0"]
    assert all(u.args["budget"] == 600 for u in first.values())
    both = planned({"adding-long-lstm-s0": asdict(_run(420, budget=600)),
                    "adding-long-gru-s0": asdict(_run(100, budget=600))})
    assert both["adding-long-rnn_tanh-s0"].args["budget"] == 420  # as many as the slower gated net needed
    assert "adding-short-lstm-s0" not in both and "adding-short-gru-s0" not in both
    # the LSTM never competent at T = 40: the RNN gets the whole budget, the LSTM a short run
    never = planned({"adding-long-lstm-s0": asdict(_run(None, budget=600)),
                     "adding-long-gru-s0": asdict(_run(100, budget=600))})
    assert never["adding-long-rnn_tanh-s0"].args["budget"] == 600
    assert never["adding-short-lstm-s0"].args["length"] == 10 and "adding-short-gru-s0" not in never
    runs = {("adding", "long", "lstm", 1): _run(None, budget=600), ("adding", "short", "lstm", 1): _run(90),
            ("adding", "long", "gru", 1): _run(100, budget=600)}
    assert c4.learned(runs, "adding", "lstm", 1) and c4.learned(runs, "adding", "gru", 1)


# ---------------------------------------------------------------- C25 Transformer on long dependencies

def test_c25_key_recall_puts_the_key_at_distance_d():
    from seqlab.experiments.gradients.c25_key_recall import KeyRecall

    task = KeyRecall(distance=9, keys=4, filler=3)
    b = task.sample(16, torch.Generator().manual_seed(0))
    assert b.x.shape == (16, 10) and task.length == 10 and task.vocab_size == 8 and task.output_dim == 4
    assert (b.x[:, 0] < 4).all() and (b.x[:, 9] == 7).all()  # key at step 0, query marker at step d
    assert ((b.x[:, 1:9] >= 4) & (b.x[:, 1:9] < 7)).all()  # distractors are never keys
    assert b.mask.sum() == 16 and b.mask[:, 9].all() and (b.y[:, 9] == b.x[:, 0]).all()
    with pytest.raises(ValueError):
        KeyRecall(distance=0)


def test_c25_drop_rule_on_hand_made_numbers():
    from seqlab.experiments.gradients import c25_transformer_long_dependencies as c25

    cfg = c25.Config()  # holds: drop < 0.2; recurrent fails: drop > 0.5
    holds = {128: [0.0, 0.05, 0.1], 256: [0.0, 0.13, -0.02]}
    rule = c25.drop_rule
    assert (rule(holds, {"lstm": [0.85, 0.8, 0.6]}, {"lstm": [False] * 3}, cfg)["confirmed"],
            rule(holds, {"lstm": [0.85, 0.8, 0.6]}, {"lstm": [False] * 3}, cfg)["refuted"]) == (True, False)
    one_seed = rule(holds, {"lstm": [0.85, 0.8, 0.45]}, {"lstm": [False] * 3}, cfg)  # one seed short of 0.5
    assert not one_seed["confirmed"] and not one_seed["refuted"]
    slips = rule({128: [0.0, 0.0, 0.0], 256: [0.0, 0.25, 0.0]}, {"lstm": [0.85] * 3}, {"lstm": [False] * 3}, cfg)
    assert not slips["confirmed"] and not slips["refuted"]  # the Transformer dropped in one seed: inconclusive
    kept = rule(holds, {"lstm": [0.0, 0.05, 0.1]}, {"lstm": [True] * 3}, cfg)
    assert kept["refuted"] and not kept["confirmed"]  # the LSTM handles the distance too
    assert not rule(holds, {"lstm": [0.0, 0.05, 0.1]}, {"lstm": [True, True, False]}, cfg)["refuted"]
    five = rule({256: [0.0, 0.01, 0.02, 0.0, 0.3]}, {"lstm": [0.9, 0.85, 0.9, 0.88, 0.8]}, {"lstm": [False] * 5},
                cfg)  # 5 seeds: bootstrap interval of the mean; one Transformer slip of 0.3 does not decide alone
    assert five["confirmed"] and "bootstrap" in five["holds"][256].method


def _c25_results(c25, cfg, held, reached=lambda arch, d: 3, curve=(0.1,) * 8):
    """Hand-made unit results for ``decide``: held-out accuracy ``held(arch, d)`` in every seed."""
    from dataclasses import asdict

    from seqlab.experiments.core.memory_runs import Run

    return {f"{a}-d{d}-s{s}": asdict(Run(reached(a, d), cfg.budget, cfg.budget, list(curve), 0.5, held(a, d)))
            for a in c25.families(cfg) for d in (cfg.control, *cfg.distances) for s in range(3)}


def test_c25_gates_make_it_inconclusive(monkeypatch):
    from seqlab.experiments.gradients import c25_transformer_long_dependencies as c25

    cfg = c25.TINY
    monkeypatch.setitem(c25.PROFILES, "quick", cfg)
    lstm_fails = lambda a, d: 1.0 if a == "transformer" or d == cfg.control else 0.2  # noqa: E731
    competent = lambda a, d: 3 if a == "transformer" or d == cfg.control else None  # noqa: E731
    assert c25.decide("quick", _c25_results(c25, cfg, lstm_fails, competent)).verdict == "confirmed"
    never = lambda a, d: None if a == "lstm" else 3  # noqa: E731  the LSTM misses the control too
    r = c25.decide("quick", _c25_results(c25, cfg, lstm_fails, never))
    assert r.verdict == "inconclusive" and not r.gates[0]["passed"] and r.gates[1]["passed"]
    climbing = c25.decide("quick", _c25_results(c25, cfg, lstm_fails, competent, curve=[0.1] * 6 + [0.3, 0.5]))
    assert climbing.verdict == "inconclusive" and not climbing.gates[1]["passed"]


def test_c25_tiny_run_reports_every_run(monkeypatch):
    from seqlab.experiments.gradients import c25_transformer_long_dependencies as c25

    monkeypatch.setitem(c25.PROFILES, "quick", c25.TINY)
    r = run_inline(c25, "quick")
    assert r.verdict in ("confirmed", "refuted", "inconclusive")
    rows = r.tables[0].rows
    assert len(rows) == 2 * 3 * 3 and {row[1] for row in rows} == {2, 4, 6}
    assert len(r.gates) == 2 and len(r.margins) == 2
