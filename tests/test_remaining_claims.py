"""The chapter's remaining claims (C37-C42): each runs end to end at a tiny size, and each rule
decides confirmed / refuted / inconclusive from hand-made numbers."""

import pytest

from seqlab.experiments.core.base import new_result

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny(module, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    result = module.run("quick")
    assert result.verdict in ("confirmed", "refuted", "inconclusive"), result.error
    assert result.claim_id == module.CLAIM_ID and module.QUOTE in result.claim
    return result


# ---------------------------------------------------------------- C40 score cost per pair
def test_c40_tiny_run_is_gated_and_quotes_the_table(monkeypatch):
    from seqlab.experiments.attention import c40_score_cost as c40

    result = _tiny(c40, monkeypatch)
    assert result.verdict == "inconclusive" and "widths in the fit" in result.decided_by  # 3 widths < 4
    assert any(t.title.startswith("margin") for t in result.tables)


def test_c40_as_written_scores_one_value_per_pair():
    import torch

    from seqlab.experiments.attention import c40_score_cost as c40

    cfg = c40.Config(elements=64, widths=(8,))
    fns = c40.as_written(8, cfg, torch.device("cpu"))
    assert all(fn().shape == (8,) for fn in fns.values())
    h, s = torch.eye(2), torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    assert torch.equal((h * s).sum(-1), torch.tensor([2.0, 3.0]))  # the dot as written: h_j^T s_i per pair


def test_c40_rule():
    from seqlab.experiments.attention import c40_score_cost as c40

    cfg = c40.Config()
    ok = c40.outcome({"dot": 1.0, "general": 2.0, "concat": 1.9}, {"general": 10.0, "concat": 20.0}, cfg)
    assert ok["confirmed"] and not ok["refuted"]
    assert ok["margins"]["dot exponent below linear"] == pytest.approx(0.3)
    flat = c40.outcome({"dot": 1.0, "general": 1.1, "concat": 2.0}, {"general": 1.2, "concat": 5.0}, cfg)
    assert flat["refuted"] and not flat["confirmed"]
    between = c40.outcome({"dot": 1.4, "general": 2.0, "concat": 2.0}, {"general": 9.0, "concat": 9.0}, cfg)
    assert not between["confirmed"] and not between["refuted"]


# ---------------------------------------------------------------- C38 troubleshooting fixes
def test_c38_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c38_troubleshooting_fixes as c38

    result = _tiny(c38, monkeypatch)
    assert any(t.title.startswith("margin") for t in result.tables)
    assert {g["name"].split(":")[0] for g in result.gates} >= {"NaN", "stuck", "early tokens"}


def test_c38_rule_per_row():
    from seqlab.experiments.gradients import c38_troubleshooting_fixes as c38

    cured = c38.row_outcome([True] * 3, [True, True, False], [False, False, True])
    assert cured["failure shown"] and cured["cured"] and not cured["not cured"] and cured["seeds needed"] == 2
    not_cured = c38.row_outcome([True] * 3, [False, False, True], [True, True, False])
    assert not_cured["not cured"] and not not_cured["cured"]
    unshown = c38.row_outcome([True, False, True], [True] * 3, [False] * 3)
    assert not unshown["failure shown"]  # the gate: no failure to cure in one seed


def test_c38_symptoms():
    from seqlab.experiments.gradients import c38_troubleshooting_fixes as c38

    cfg = c38.Config()
    assert c38.symptoms(c38.ROWS[0], {"diverged": 54}, cfg) == (True, False)
    assert c38.symptoms(c38.ROWS[0], {"diverged": None}, cfg) == (False, True)
    assert c38.symptoms(c38.ROWS[2], {"loss0": 1.0, "loss_end": 0.95}, cfg) == (True, False)
    assert c38.symptoms(c38.ROWS[2], {"loss0": 1.0, "loss_end": 0.4}, cfg) == (False, True)
    assert c38.symptoms(c38.ROWS[3], 0.26, cfg) == (True, False)
    assert c38.symptoms(c38.ROWS[3], 0.95, cfg) == (False, True)


def test_conditional_clipping_clips_only_above_the_threshold():
    import torch

    from seqlab.train.monitor import clip_gradients

    for norm, expected in ((5.0, 5.0), (20.0, 1.0)):
        p = torch.nn.Parameter(torch.zeros(2))
        p.grad = torch.tensor([norm, 0.0])
        clip_gradients([p], 1.0, None, clip_above=10.0, total_norm=norm)
        assert float(p.grad.norm()) == pytest.approx(expected)


def test_clip_above_needs_clip_norm():
    from seqlab.errors import ConfigError
    from seqlab.train import TrainConfig

    with pytest.raises(ConfigError, match="clip_above"):
        TrainConfig(clip_above=10.0)
    assert TrainConfig(clip_norm=1.0, clip_above=10.0).clip_above == 10.0


# ---------------------------------------------------------------- C42 FastText OOV
def test_c42_tiny_run(monkeypatch):
    pytest.importorskip("gensim")
    from seqlab.experiments.problem import c42_fasttext_oov as c42

    result = _tiny(c42, monkeypatch)
    assert result.tables[0].rows and len(result.tables[0].rows) == 3  # one row per seed
    assert any(t.title.startswith("margin") for t in result.tables)


def test_c42_without_gensim_is_inconclusive(monkeypatch):
    import sys

    from seqlab.experiments.problem import c42_fasttext_oov as c42

    monkeypatch.setitem(sys.modules, "gensim", None)
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    result = c42.run("quick")
    assert result.verdict == "inconclusive" and "gensim missing" in result.headline


def test_c42_rule_and_word_choice():
    from seqlab.experiments.problem import c42_fasttext_oov as c42

    cfg = c42.Config()
    assert c42.outcome([0.2, 0.3, 0.25], [0.0, 0.01, 0.0], cfg)["confirmed"]
    assert c42.outcome([0.0, 0.01, 0.3], [0.0, 0.02, 0.0], cfg)["refuted"]
    mid = c42.outcome([0.03, 0.03, 0.03], [0.0, 0.0, 0.0], cfg)
    assert not mid["confirmed"] and not mid["refuted"] and mid["margin"] == pytest.approx(-0.02)
    verses = [["rare", "word", "common"]] * 3 + [["other", "common"]] * 10 + [["kept", "common"]] * 3
    small = c42.Config(band=(3, 3), held_out=1, controls=2, min_count=1)
    held, controls = c42.pick_words(verses, small)
    assert len(held) == 1 and set(held) | set(controls) <= {"rare", "word", "kept"}
    assert all(not set(held) & set(v) for v in c42.without(verses, held))


def test_c42_overlap_counts_shared_neighbours():
    import numpy as np

    from seqlab.experiments.problem import c42_fasttext_oov as c42

    class KV(dict):
        def __getitem__(self, key):
            return np.stack([dict.__getitem__(self, k) for k in key]) if isinstance(key, list) else \
                dict.__getitem__(self, key)

        @property
        def vectors(self):
            return np.stack(list(self.values()))

    kv = KV(a=np.array([1.0, 0.0]), b=np.array([0.9, 0.1]), c=np.array([0.0, 1.0]))
    assert c42.neighbours(kv, np.array([1.0, 0.0]), ["b", "c"], 1) == {"b"}
    assert c42.overlaps(kv, kv, ["a"], ["a", "b", "c"], 1) == [1.0]  # a model agrees with itself


# ---------------------------------------------------------------- C41 BiLSTM tagging
def test_c41_tiny_run(monkeypatch):
    from seqlab.experiments.limitations import c41_bilstm_tagging as c41

    result = _tiny(c41, monkeypatch)
    assert len(result.tables[0].rows) == 9  # 3 models x 3 seeds
    assert any(t.title.startswith("margin") for t in result.tables)


def test_c41_windows_and_tags_line_up():
    import torch

    from seqlab.experiments.limitations import c41_bilstm_tagging as c41

    s = c41.TaggedStream(torch.arange(10), torch.arange(10) % 3, length=4, vocab_size=10, output_dim=3)
    b = s.sample(5, torch.Generator().manual_seed(0))
    assert b.x.shape == (5, 4) and torch.equal(b.y, b.x % 3) and b.mask.all()
    assert torch.equal((b.x[:, 1:] - b.x[:, :-1]), torch.ones(5, 3, dtype=torch.long))  # consecutive words
    x, y = s.windows()
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and torch.equal(y, x % 3)


def test_c41_greek_tags_are_real():
    from seqlab.data.corpora.bible import greek_tagged

    verses = greek_tagged()
    first = verses["40001001"]
    assert first[0] == ("Βίβλος", "noun") and sum(len(v) for v in verses.values()) == 137741


def test_c41_rule():
    from seqlab.experiments.limitations import c41_bilstm_tagging as c41

    cfg, seeds = c41.Config(), (0, 1, 2)

    def acc(bi, tr, uni):
        return {**{(c41.BI, s): bi for s in seeds}, **{(c41.TRANSFORMER, s): tr for s in seeds},
                **{(c41.UNI, s): uni for s in seeds}}

    assert c41.outcome(acc(0.95, 0.955, 0.93), cfg, seeds)["confirmed"]
    assert c41.outcome(acc(0.90, 0.95, 0.85), cfg, seeds)["refuted"]  # trails the Transformer by 0.05
    assert c41.outcome(acc(0.95, 0.95, 0.95), cfg, seeds)["refuted"]  # no gain over left-to-right
    mid = c41.outcome(acc(0.935, 0.95, 0.93), cfg, seeds)  # 0.015 behind: neither
    assert not mid["confirmed"] and not mid["refuted"]


# ---------------------------------------------------------------- C37 failure rows
def test_c37_tiny_run(monkeypatch):
    from seqlab.experiments.problem import c37_failure_rows as c37

    result = _tiny(c37, monkeypatch)
    assert len(result.tables[0].rows) == 5 * 2 * 3  # rows x models x seeds
    assert [r[0] for r in result.tables[-1].rows] == list(c37.ROWS)


@pytest.mark.parametrize("row", ["garden path", "first paragraph", "long-context qa", "sentiment as printed",
                                 "word order"])
def test_failure_row_templates_put_the_answer_where_the_rule_says(row):
    import torch

    from seqlab.data.failure_rows import AMBIGUOUS, NAMES, PLACES, POLARITY, TOPICS, WORDS, FailureRow, token

    task = FailureRow(row, length=16, gap=10)
    b = task.sample(64, torch.Generator().manual_seed(1))
    assert (b.x[:, -1] == token("?")).all() and b.mask[:, -1].all() and b.mask.sum() == 64
    for x, y in zip(b.x.tolist(), b.y[:, -1].tolist()):
        w = [WORDS[t - 1] for t in x]
        if row == "garden path":
            i = next(k for k, v in enumerate(w) if v in AMBIGUOUS)
            assert y == int(w[i + 1] == "the") and i + 1 <= 16 - 1 - 10
        elif row == "first paragraph":
            assert w[next(k for k, v in enumerate(w) if v in TOPICS)] == TOPICS[y]
        elif row == "long-context qa":
            first = next(k for k, v in enumerate(w) if v in NAMES)
            assert w[-2] == w[first] and w[first + 1] == PLACES[y]
        elif row == "sentiment as printed":
            assert [v for v in w if v in POLARITY][-1] == POLARITY[y] and w[8] == "but"
        else:
            i = w.index("gave")
            assert w[i - 1] == NAMES[y] and w[i + 1] in NAMES and w[i + 1] != w[i - 1] and i + 1 <= 16 - 1 - 10


def test_failure_row_words_are_bsb_words():
    from seqlab.data.corpora import load_corpus
    from seqlab.data.failure_rows import MARKS, WORDS
    from seqlab.embeddings.words import words

    seen = {w for _, t in load_corpus("bsb_en").splits["train"] for w in words(t)}
    assert [w for w in WORDS if w not in seen and w not in MARKS] == []


def test_c37_rule():
    from seqlab.experiments.problem import c37_failure_rows as c37

    cfg, seeds = c37.Config(), (0, 1, 2)

    def acc(rnn, att):
        return {**{("word order", c37.RNN, s): v for s, v in zip(seeds, rnn)},
                **{("word order", c37.ATTENTION, s): v for s, v in zip(seeds, att)}}

    assert c37.row_verdict(c37.row_outcome(acc([0.5, 0.6, 0.95], [0.95, 1.0, 0.5]), "word order", cfg, seeds)) == \
        "as predicted"
    assert c37.row_verdict(c37.row_outcome(acc([0.95, 0.92, 0.5], [1.0] * 3), "word order", cfg, seeds)) == \
        "contradicted"
    assert c37.row_verdict(c37.row_outcome(acc([0.8] * 3, [0.95] * 3), "word order", cfg, seeds)) == "unclear"


# ---------------------------------------------------------------- C39 truncated BPTT on real text
def test_c39_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c39_tbptt_context as c39

    result = _tiny(c39, monkeypatch)
    assert len(result.tables[0].rows) == 3 * 3  # windows x seeds
    assert any(t.title.startswith("margin") for t in result.tables)


def test_c39_rule():
    from seqlab.experiments.gradients import c39_tbptt_context as c39

    cfg = c39.Config()
    assert c39.used_beyond({10: 3.2, 50: 3.05, 100: 3.0}, 10, 100) == pytest.approx(0.2)
    ok = c39.outcome([0.02, 0.03, 0.05], [0.0, 0.005, -0.01], cfg)
    assert ok["confirmed"] and not ok["refuted"] and ok["margins"]["medium captures more"] == pytest.approx(0.01)
    assert c39.outcome([0.0, -0.01, 0.05], [0.0] * 3, cfg)["refuted"]  # medium uses no more than small
    assert c39.outcome([0.05] * 3, [0.04, 0.05, 0.0], cfg)["refuted"]  # full BPTT buys far context
    mid = c39.outcome([0.005] * 3, [0.02] * 3, cfg)
    assert not mid["confirmed"] and not mid["refuted"]
