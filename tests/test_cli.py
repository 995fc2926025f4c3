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
        '[task]\nname = "translation"\ncorpus = "numbers"\ntokenizer = "char"\nnumbers_size = 60\n'
        'numbers_max_words = 4\n'
        '[model]\narch = "transformer"\nhidden = 16\nlayers = 1\nheads = 2\nff = 32\n'
        '[train]\nmax_minutes = 10\nsteps = 2\nprogress = false\n'  # the step cap ends it: a tiny time budget fails on a busy machine
    )
    threads = torch.get_num_threads()
    try:
        assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "completed after 2 steps" in out and "dev_bleu" in out and "target tokens/s" in out
    assert (tmp_path / "run" / "model.safetensors").is_file() and (tmp_path / "run" / "metrics.jsonl").is_file()


def test_a_missing_config_is_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


TINY_TASK = (
    '[task]\nname = "adding"\nlength = 6\n'
    '[model]\narch = "lstm"\nhidden_size = 8\n'
    '[train]\nsteps = 2\nbatch_size = 4\neval_every = 2\neval_batches = 1\nprogress = false\n'
)


def _trained_weights(tmp_path, name: str, *overrides: str) -> dict:
    from seqlab.train.checkpoint import latest_checkpoint, load_weights

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_TASK)
    torch.manual_seed(len(name) * 7919)  # whatever the global RNG holds before, the seed decides
    args = ["train", str(recipe), "--out", str(tmp_path / name)]
    for item in overrides:
        args += ["--set", item]
    assert main(args) == 0
    return load_weights(latest_checkpoint(tmp_path / name))


def test_one_seed_gives_identical_weights_and_two_seeds_differ(tmp_path):
    a = _trained_weights(tmp_path, "a")
    b = _trained_weights(tmp_path, "bb")
    c = _trained_weights(tmp_path, "c", "train.seed=1")
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    # with lr = 0 the weights stay as initialised: the recipe's seed draws them
    init0 = _trained_weights(tmp_path, "d", "train.lr=0")
    init1 = _trained_weights(tmp_path, "e", "train.lr=0", "train.seed=1")
    assert not any(torch.equal(init0[k], init1[k]) for k in init0 if init0[k].numel() > 1)
