"""C12-C15 experiments end to end at toy size: they run, fill their tables, and decide."""

import math

import pytest

from seqlab.experiments import c12_length_cliff, c13_attention_alignment, c14_score_functions, c15_local_attention
from seqlab.experiments.base import VERDICTS

TINY_DATA = {"corpus": "numbers", "tokenizer": "char", "src_vocab": 300, "tgt_vocab": 300, "numbers_size": 80,
             "numbers_min_words": 1, "numbers_max_words": 6, "numbers_max_digits": 6, "max_len": 60}
TINY = {"embed_dim": 8, "hidden": 16, "layers": 1}



@pytest.fixture(autouse=True)
def one_thread():
    """These tests train tiny models: one thread is fastest and steadiest on a shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

def tiny_models(*archs):
    return tuple((a, {"arch": a, **TINY, **({"heads": 2, "ff": 16} if a == "transformer" else {})}) for a in archs)


@pytest.mark.slow
def test_c12_runs_and_decides():
    cfg = c12_length_cliff.Config(TINY_DATA, models=tiny_models("seq2seq", "bahdanau"), minutes=1.0,
                                  max_steps=2, limit=8, eval_sentences=2)
    result = c12_length_cliff.run_config(cfg)
    assert result.verdict in VERDICTS and result.verdict == "inconclusive"  # nothing learned in 2 steps
    assert result.tables[0].columns[1] == "chrF 1-10" and len(result.tables[0].rows) == 2
    assert result.figures[0].png[:4] == b"\x89PNG"


def test_c12_drop_over_non_empty_buckets():
    rows = [{"n": 3, "score": 50.0}, {"n": 0, "score": math.nan}, {"n": 2, "score": 20.0}]
    assert c12_length_cliff.drop(rows) == (50.0, 20.0, 30.0)
    assert math.isnan(c12_length_cliff.drop(rows[:1])[2])


@pytest.mark.slow
def test_c13_runs_on_gold_alignments():
    data = {"corpus": "nt_el_en", "tokenizer": "unigram", "src_vocab": 800, "tgt_vocab": 800}
    cfg = c13_attention_alignment.Config(data, models=tiny_models("bahdanau"), minutes=1.0, max_steps=1, limit=3,
                                         eval_sentences=2)
    result = c13_attention_alignment.run_config(cfg)
    row = result.tables[0].rows[0]
    assert row[0] == "bahdanau" and 0.0 <= row[2] <= 1.0 and 0.0 <= row[5] <= 1.0 and row[6] == 3
    assert result.verdict == "inconclusive"


@pytest.mark.slow
def test_c14_and_c15_run():
    models = ((c14_score_functions.DOT, {"arch": "luong", **TINY, "score": "dot"}),
              (c14_score_functions.ADDITIVE, {"arch": "luong", **TINY, "score": "concat"}))
    r14 = c14_score_functions.run_config(c14_score_functions.Config(TINY_DATA, models=models, minutes=1.0,
                                                                    max_steps=1, limit=4, eval_sentences=2))
    assert len(r14.tables[0].rows) == 2 and r14.verdict == "inconclusive"
    r15 = c15_local_attention.run_config(c15_local_attention.Config(TINY_DATA, half_width=1, minutes=1.0,
                                                                    max_steps=1, limit=4, eval_sentences=2))
    rows = {r[0]: r for r in r15.tables[0].rows}
    assert set(rows) == {"global", "local-m", "local-p"}
    assert rows["local-p"][2] <= 3 and rows["global"][2] >= rows["local-p"][2]


@pytest.mark.parametrize("module", [c12_length_cliff, c13_attention_alignment, c14_score_functions,
                                    c15_local_attention])
def test_profiles_are_plain_configs(module):
    assert module.CLAIM_ID.startswith("C") and module.config("quick")["minutes"] <= 3.0
    assert module.config("full")["minutes"] >= 30.0
