"""The command line explains itself: a version, every option's help with its default, choices
that fit the command, and the time a budgeted run will take said before it starts."""

from __future__ import annotations

import argparse

import pytest

from seqlab import __version__
from seqlab.cli import build_parser, main


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser, nested ones (``data info``) under their full name."""
    found, todo = {}, [("seqlab", build_parser())]
    while todo:
        name, parser = todo.pop()
        found[name] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                todo += [(f"{name} {sub}", p) for sub, p in action.choices.items()]
    return found


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"seqlab {__version__}"


def test_top_level_help_points_at_the_claims_list(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "seqlab reproduce --list" in capsys.readouterr().out


def test_every_option_has_help_and_shows_its_default():
    missing, hidden_defaults = [], []
    for name, parser in _parsers().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if not action.option_strings:
                continue  # positional arguments are named in the usage line
            label = f"{name} {'/'.join(action.option_strings)}"
            if not (action.help or "").strip():
                missing.append(label)
                continue
            default = action.default
            if default is None or default is False or default == [] or default == argparse.SUPPRESS:
                continue  # a flag, or an option that is off unless given
            if "default" not in formatter._get_help_string(action):
                hidden_defaults.append(label)
    assert not missing, f"options without help: {missing}"
    assert not hidden_defaults, f"options whose help does not state the default: {hidden_defaults}"


def test_classify_lists_only_classification_sets(capsys):
    assert main(["classify", "nope", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "japanese_vowels" in err and "gunpoint" in err
    assert "nt_el_en" not in err and "co2" not in err


def test_a_time_budgeted_run_says_how_long_before_it_starts(tmp_path, capsys):
    recipe = tmp_path / "budget.toml"
    recipe.write_text('[task]\nname = "adding"\nlength = 6\n[model]\narch = "gru"\nhidden_size = 4\n'
                      "[train]\nsteps = 1\nmax_minutes = 30.0\nbatch_size = 2\nprogress = false\n")
    args = ["train", str(recipe), "--out", str(tmp_path / "run"), "--threads", "1", "--set", "train.max_minutes=5"]
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("time budget: about 5 minutes (train.max_minutes) at 1 threads")
    assert "sized for 30 minutes" in first
