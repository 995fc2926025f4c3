"""Translation trains a budget of updates when asked: the ledger's budget of record."""

import json

import pytest
import torch

from seqlab.errors import ConfigError
from seqlab.recipe import recipe_from_dict
from seqlab.translation.loop import load_translator, train_translator

# a budget of steps alone, with an evaluation every 2 steps (as seqlab.experiments.core.nt_runs writes it)
STEPS = {
    "task": {"name": "translation", "corpus": "numbers", "tokenizer": "char", "src_vocab": 300, "tgt_vocab": 300,
             "numbers_size": 60, "numbers_max_words": 4, "max_tokens": 400, "eval_sentences": 4},
    "model": {"arch": "luong", "embed_dim": 8, "hidden": 16, "layers": 1},
    "train": {"steps": 4, "eval_every": 2, "checkpoint_every": 2, "device": "cpu", "progress": False},
}


def test_a_step_budget_trains_exactly_its_updates_and_evaluates_by_step(tmp_path):
    torch.set_num_threads(1)
    result = train_translator(recipe_from_dict(STEPS), tmp_path / "a", log=lambda line: None)
    assert result.steps == 4 and [row["step"] for row in result.history] == [2, 4]
    assert all("dev_bleu" in row and "dev_chrf" in row for row in result.history)
    again = train_translator(recipe_from_dict(STEPS), tmp_path / "b", log=lambda line: None)
    assert [r["loss"] for r in again.history] == [r["loss"] for r in result.history]  # same seed, same run
    a, b = load_translator(tmp_path / "a")[0], load_translator(tmp_path / "b")[0]
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    train = json.loads((tmp_path / "a" / "recipe.json").read_text())["train"]
    assert train["max_minutes"] is None and train["steps"] == 4


def test_a_run_needs_some_budget():
    with pytest.raises(ConfigError, match="'train.steps' or 'train.max_minutes'"):
        recipe_from_dict({"task": {"name": "translation"}, "train": {"steps": None}})
