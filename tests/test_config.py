"""Configs: strict loading with one-line errors that name the key and what is allowed."""

from __future__ import annotations

import pytest

from seqlab.cli import main
from seqlab.config import apply_overrides, from_dict
from seqlab.errors import ConfigError
from seqlab.recipe import load_recipe, recipe_from_dict
from seqlab.train import TrainConfig


def test_unknown_key_names_the_key_and_the_choices():
    with pytest.raises(ConfigError) as err:
        from_dict(TrainConfig, {"stpes": 10})
    msg = str(err.value)
    assert "'stpes'" in msg and "steps" in msg and "\n" not in msg


def test_wrong_type_names_the_key_and_the_type():
    with pytest.raises(ConfigError, match=r"'train.lr' must be float, got str 'fast'"):
        recipe_from_dict({"task": {"name": "adding"}, "train": {"lr": "fast"}})


def test_out_of_range_value_names_the_range():
    with pytest.raises(ConfigError, match=r"'model.dropout' is 1.5; allowed range: \[0.0, 0.99\]"):
        recipe_from_dict({"task": {"name": "adding"}, "model": {"dropout": 1.5}})


def test_literal_choices_are_listed():
    with pytest.raises(ConfigError, match=r"'model.arch' is 'transformerx'; allowed values: 'rnn_tanh'"):
        recipe_from_dict({"task": {"name": "adding"}, "model": {"arch": "transformerx"}})


def test_unknown_task_field_and_task_name():
    with pytest.raises(ConfigError, match=r"unknown key 'task.lenght'"):
        recipe_from_dict({"task": {"name": "adding", "lenght": 5}})
    with pytest.raises(ConfigError, match=r"'task.name' is 'addding'"):
        recipe_from_dict({"task": {"name": "addding"}})


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="tbptt_k2"):
        TrainConfig(tbptt_k1=10, tbptt_k2=5)
    with pytest.raises(ConfigError, match="forget_bias"):
        recipe_from_dict({"task": {"name": "adding"}, "model": {"arch": "gru", "forget_bias": 1.0}})


def test_bools_are_not_numbers_and_ints_widen_to_floats():
    assert from_dict(TrainConfig, {"lr": 1}).lr == 1.0
    with pytest.raises(ConfigError, match="'steps' must be int, got bool"):
        from_dict(TrainConfig, {"steps": True})


def test_overrides_parse_values_and_nest():
    data = apply_overrides({"train": {"lr": 0.1}}, ["train.lr=3e-4", "model.arch=gru", "train.progress=false"])
    assert data == {"train": {"lr": 3e-4, "progress": False}, "model": {"arch": "gru"}}


def test_toml_and_yaml_recipes_load(tmp_path):
    (tmp_path / "a.toml").write_text('[task]\nname = "copy"\ndelay = 5\n[train]\nsteps = 3\n')
    (tmp_path / "b.yaml").write_text("task: {name: copy, delay: 5}\ntrain: {steps: 3}\n")
    a, b = load_recipe(tmp_path / "a.toml"), load_recipe(tmp_path / "b.yaml")
    assert a.task == b.task and a.train == b.train and a.out.endswith("a")


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[task]\nname = "adding"\n[model]\nhidden_size = -3\n')
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'model.hidden_size' is -3" in err and "Traceback" not in err
