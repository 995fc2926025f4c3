"""The command line as a whole: every command registers, and train routes recipes."""

from __future__ import annotations

import pytest
import torch

from seqlab.cli import COMMANDS, build_parser, main


def test_every_command_builds_its_parser():
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        assert done.value.code == 0


def test_models_and_tasks_list_what_exists(capsys):
    assert main(["models"]) == 0 and "lstm" in capsys.readouterr().out
    assert main(["tasks"]) == 0 and "adding" in capsys.readouterr().out


def test_train_routes_a_translation_recipe(tmp_path, capsys):
    recipe = tmp_path / "mt.toml"
    recipe.write_text(
        '[data]\ncorpus = "numbers"\ntokenizer = "char"\n'
        '[model]\narch = "transformer"\nhidden = 16\nlayers = 1\nheads = 2\nff = 32\n'
        '[train]\nminutes = 0.01\nmax_steps = 2\n'
    )
    threads = torch.get_num_threads()
    try:
        assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "trained" in capsys.readouterr().out
    assert (tmp_path / "run").is_dir()


def test_a_missing_config_is_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
