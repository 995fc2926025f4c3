"""C12-C14 at toy size: they run, fill their tables, gate, and decide by their rules."""

import pytest
import torch

from seqlab.data.transduction import BOS, PAD, Transduction
from seqlab.experiments.bottleneck import c12_length_cliff as c12
from seqlab.experiments.attention import c13_attention_alignment as c13
from seqlab.experiments.attention import c14_score_functions as c14
from seqlab.experiments.core.base import new_result
from seqlab.experiments.core.transduction_runs import alignment_scores, attention_links
from seqlab.experiments.core.units import run_inline

SEEDS = (0, 1, 2)
FLAT = [0.5, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]  # a dev curve that has converged
RISING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]  # still learning: the convergence gate fails


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def _blank(claim_id):
    return new_result(claim_id, "claim", "setup", "quick", {})


@pytest.mark.parametrize("module", [c12, c13, c14])
def test_an_under_trained_run_is_inconclusive_not_refuted(module, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    result = run_inline(module, "quick")
    assert result.verdict == "inconclusive" and result.decided_by.startswith("gate failed")
    assert result.seeds == [0, 1, 2] and result.gates and not all(g["passed"] for g in result.gates)
    assert result.tables[0].timing == ["training s"]
    assert len(result.tables[0].rows) == 3 * (4 if module is c14 else 2)  # C14 TINY: three scores + Bahdanau


def _buckets(*tokens):
    return [{"bucket": str(i), "token": t, "exact": t} for i, t in enumerate(tokens)]


def test_c12_rule_over_seeds():
    cfg = c12.Config()
    curves = {(m, s): FLAT for m in (c12.SEQ2SEQ, c12.ATTENTION) for s in SEEDS}
    cliff = {**{(c12.SEQ2SEQ, s): _buckets(0.95, 0.6, 0.3) for s in SEEDS},
             **{(c12.ATTENTION, s): _buckets(0.99, 0.97, 0.9) for s in SEEDS}}
    assert c12._verdict(_blank("C12"), cliff, curves, cfg, SEEDS).verdict == "confirmed"
    flat = {**cliff, **{(c12.SEQ2SEQ, s): _buckets(0.95, 0.93, 0.9) for s in SEEDS}}
    assert c12._verdict(_blank("C12"), flat, curves, cfg, SEEDS).verdict == "refuted"
    one_seed_off = {**cliff, (c12.SEQ2SEQ, 1): _buckets(0.95, 0.9, 0.8)}  # the rule asks for every seed
    assert c12._verdict(_blank("C12"), one_seed_off, curves, cfg, SEEDS).verdict == "inconclusive"
    incompetent = {**cliff, (c12.SEQ2SEQ, 2): _buckets(0.7, 0.4, 0.2)}
    r = c12._verdict(_blank("C12"), incompetent, curves, cfg, SEEDS)
    assert r.verdict == "inconclusive" and "seq2seq competent" in r.decided_by
    r = c12._verdict(_blank("C12"), cliff, {**curves, (c12.ATTENTION, 0): RISING}, cfg, SEEDS)
    assert r.verdict == "inconclusive" and "attention seed 0 trained" in r.decided_by


def test_c12_full_rule_reads_exact_match_in_percent():
    cfg = c12.CorpusConfig()
    curves = {(m, s): FLAT for m in (c12.SEQ2SEQ, c12.ATTENTION) for s in SEEDS}
    cliff = {**{(c12.SEQ2SEQ, s): _buckets(95.0, 60.0, 30.0) for s in SEEDS},
             **{(c12.ATTENTION, s): _buckets(99.0, 97.0, 90.0) for s in SEEDS}}
    assert c12._verdict(_blank("C12"), cliff, curves, cfg, SEEDS).verdict == "confirmed"
    small = {**cliff, **{(c12.SEQ2SEQ, s): _buckets(95.0, 94.0, 90.0) for s in SEEDS}}  # 5 points: no cliff
    assert c12._verdict(_blank("C12"), small, curves, cfg, SEEDS).verdict == "refuted"
    weak = {**cliff, (c12.ATTENTION, 0): _buckets(50.0, 45.0, 40.0)}  # 50% on 1-10 words: not competent
    r = c12._verdict(_blank("C12"), weak, curves, cfg, SEEDS)
    assert r.verdict == "inconclusive" and "attention competent" in r.decided_by


def test_the_numbers_setting_fills_every_10_word_band_up_to_48_words():
    from seqlab.data.corpora.numbers import english_words, sample_numbers
    from seqlab.experiments.core.nt_runs import NUMBERS
    drawn = sample_numbers(200, NUMBERS["numbers_min_words"], NUMBERS["numbers_max_words"],
                           NUMBERS["numbers_max_digits"], 0, NUMBERS["numbers_even_width"])
    bands = [(english_words(words) - 1) // 10 for _, words in drawn]
    assert len(drawn) == 200 and all(bands.count(b) == 40 for b in range(5))


class GoldAttention(torch.nn.Module):
    """A stand-in model whose attention is exactly the task's gold alignment."""

    def __init__(self, task):
        super().__init__()
        self.task = task

    def forward(self, src, src_mask, tgt_in):
        B, T, S = src.shape[0], tgt_in.shape[1], src.shape[1]
        attn = torch.full((B, T, S), 1.0 / S)
        for b in range(B):
            for i, j in self.task.translate([t for t in src[b].tolist() if t != PAD])[1]:
                attn[b, j] = 0.0
                attn[b, j, i] = 1.0
        return torch.zeros(B, T, self.task.tgt_vocab), attn


def test_gold_attention_has_zero_aer_and_beats_both_baselines():
    task = Transduction(vocab=8, min_len=4, max_len=10, fertile=0.25, deleted=0.125, modifier=0.25)
    scores = alignment_scores(GoldAttention(task), task, n=20, lo=4, hi=10, seed=0)
    assert scores["attention"] == 0.0
    assert scores["diagonal"] > 0.1 and scores["shuffled"] > 0.3
    links = attention_links(GoldAttention(task), task, [[3, 4, 5]])
    assert links == [set(task.translate([3, 4, 5])[1])] and BOS == 1


def test_c13_rule():
    cfg = c13.Config()
    acc = {(m, s): {"token": 0.95} for m in ("a", "b") for s in SEEDS}
    curves = {k: FLAT for k in acc}
    good = {k: {"attention": 0.1, "diagonal": 0.5, "shuffled": 0.7} for k in acc}
    assert c13._verdict(_blank("C13"), good, acc, curves, cfg, SEEDS).verdict == "confirmed"
    bad = {k: {"attention": 0.6, "diagonal": 0.5, "shuffled": 0.7} for k in acc}
    assert c13._verdict(_blank("C13"), bad, acc, curves, cfg, SEEDS).verdict == "refuted"
    one_seed_off = {**good, ("a", 0): bad["a", 0]}  # all seeds but one still beat both baselines
    assert c13._verdict(_blank("C13"), one_seed_off, acc, curves, cfg, SEEDS).verdict == "confirmed"
    two_off = {**one_seed_off, ("a", 1): {"attention": 0.45, "diagonal": 0.5, "shuffled": 0.7}}
    assert c13._verdict(_blank("C13"), two_off, acc, curves, cfg, SEEDS).verdict == "inconclusive"
    r = c13._verdict(_blank("C13"), good, {**acc, ("b", 1): {"token": 0.3}}, curves, cfg, SEEDS)
    assert r.verdict == "inconclusive" and "b translates" in r.decided_by


def test_c14_rule_needs_quality_within_tolerance_and_a_clear_speed_margin():
    cfg = c14.Config()
    acc = {(s, k): 0.95 for s in cfg.scores for k in SEEDS}
    curves = {key: FLAT for key in acc}
    fast, slow = [1.0, 1.1, 1.05], [3.0, 3.2, 3.1]
    times = {"dot": fast, "general": fast, "concat": slow}
    assert c14._verdict(_blank("C14"), acc, curves, times, cfg, SEEDS).verdict == "confirmed"
    worse = {**acc, **{("dot", k): 0.85 for k in SEEDS}}
    assert c14._verdict(_blank("C14"), worse, curves, times, cfg, SEEDS).verdict == "refuted"
    better = {**acc, **{("dot", k): 0.99 for k in SEEDS}}  # doing better is "nearly as well"
    assert c14._verdict(_blank("C14"), better, curves, times, cfg, SEEDS).verdict == "confirmed"
    nobody = {key: 0.5 for key in acc}  # no score learns the task: nothing to compare
    assert c14._verdict(_blank("C14"), nobody, curves, times, cfg, SEEDS).verdict == "inconclusive"
    assert c14._verdict(_blank("C14"), acc, curves, {**times, "dot": slow, "concat": fast}, cfg,
                        SEEDS).verdict == "refuted"
    near = {**times, "concat": [1.2, 1.3, 1.25]}  # faster, but not by the margin: undecided
    assert c14._verdict(_blank("C14"), acc, curves, near, cfg, SEEDS).verdict == "inconclusive"


def test_c14_corpus_rule_reads_exact_match_points_and_gates_on_short_numbers():
    cfg = c14.CorpusConfig()
    labels = (*cfg.scores, "bahdanau")
    exact = {(s, k): 90.0 for s in labels for k in SEEDS}  # percent, as seqlab.metrics.exact_match
    short = {key: 99.0 for key in exact}  # exact match on numbers of 1-10 words: the competence gate
    curves = {key: [40.0, 80.0, 90.0, 95.0, 95.5, 95.6, 95.6, 95.7] for key in exact}  # dev chrF, flat at the end
    times = {"dot": [1.0, 1.1, 1.05], "general": [1.0, 1.1, 1.05], "concat": [3.0, 3.2, 3.1]}
    near = {**exact, **{("dot", k): 87.0 + k for k in SEEDS}}  # 1-3 points below concat: within 5
    r = c14._verdict(_blank("C14"), near, curves, times, cfg, SEEDS, short)
    assert r.verdict == "confirmed" and "exact-match points" in r.headline
    far = {**exact, **{("dot", k): 80.0 for k in SEEDS}}  # 10 points below: refuted
    assert c14._verdict(_blank("C14"), far, curves, times, cfg, SEEDS, short).verdict == "refuted"
    r = c14._verdict(_blank("C14"), near, curves, times, cfg, SEEDS, {key: 60.0 for key in short})
    assert r.verdict == "inconclusive" and "learnable" in r.decided_by and "1-10 words" in r.decided_by
    r = c14._verdict(_blank("C14"), near, {**curves, ("concat", 2): [10.0 * i for i in range(8)]}, times, cfg,
                     SEEDS, short)
    assert r.verdict == "inconclusive" and "concat seed 2 trained (dev chrF)" in r.decided_by


def test_c14_times_each_score_function():
    times = c14.score_times(c14.TINY)
    assert set(times) == {"dot", "general", "concat"} and all(len(t) == 3 for t in times.values())


# ---------------------------------------------------------------- full profile: the real corpora


def test_dice_aligner_counts_pairs_and_breaks_ties_toward_the_diagonal():
    from seqlab.metrics import DiceAligner

    d = DiceAligner([("a b".split(), "x y".split()), ("A c".split(), "x z".split()), (["b"], ["y"])])
    # c(a) = c(x) = 2, c(a, x) = 2 -> 1; c(a, y) = 1 -> 2 * 1 / (2 + 2); words compared lowercased
    assert d.dice("a", "x") == 1.0 and d.dice("a", "y") == 0.5 and d.dice("b", "Y") == 1.0
    assert d.dice("unseen", "x") == 0.0
    assert d.links(["b", "a"], ["x", "y"]) == {(1, 0), (0, 1)}
    assert d.links(["q", "r"], ["u", "v"]) == {(0, 0), (1, 1)}  # all zero: the diagonal


def test_heatmap_draws_gold_links(tmp_path):
    import numpy as np

    from seqlab.metrics import save_attention_heatmap

    w = np.eye(3)
    plain = save_attention_heatmap(w, list("abc"), list("xyz"), tmp_path / "a.png").read_bytes()
    marked = save_attention_heatmap(w, list("abc"), list("xyz"), tmp_path / "b.png",
                                    links={(0, 0), (2, 1)}).read_bytes()
    assert plain.startswith(b"\x89PNG") and marked.startswith(b"\x89PNG") and plain != marked


@pytest.mark.parametrize("module", [c12, c13, c14])
def test_the_corpus_profile_runs_and_an_under_trained_model_is_inconclusive(module, monkeypatch):
    from seqlab.experiments.core import rules

    monkeypatch.setitem(rules.SEEDS, "full", 1)
    monkeypatch.setitem(module.PROFILES, "full", module.TINY_CORPUS)
    result = run_inline(module, "full")
    assert result.verdict == "inconclusive" and result.decided_by.startswith("gate failed")
    table = result.tables[0]
    if module is c12:  # numbers: exact match and chrF per 10-word band
        assert table.columns[2:4] == ["exact 1-10", "exact 11-20"] and "chrF 1-10" in table.columns
    elif module is c14:  # numbers: each score and Bahdanau, test exact match (decides) and chrF
        assert [row[0] for row in table.rows] == ["dot", "general", "concat", "bahdanau"]
        row = dict(zip(table.columns, table.rows[0]))
        assert 0.0 <= row["exact match %"] <= 100.0 and 0.0 <= row["chrF"] <= 100.0 and row["parameters"] > 0
        assert "exact % 1-10" in row and table.timing == ["training s"]
        assert "learnable" in result.decided_by or "trained (dev chrF)" in result.decided_by
        assert len(result.tables[1].rows) == 3  # the score computation of each score function, timed
    else:  # NT: attention against the diagonal and Dice, a heatmap with gold links
        assert {"AER attention", "AER diagonal", "AER Dice"} <= set(table.columns)
        row = dict(zip(table.columns, table.rows[0]))
        assert 0.0 <= row["AER Dice"] < row["AER diagonal"] <= 1.0  # co-occurrence beats lengths alone
        assert result.figures and result.figures[0].png.startswith(b"\x89PNG")
