"""Translation pipeline on a tiny numbers corpus: recipe checks, train, reload, CLI."""

import json

import pytest
import torch

from seqlab.cli import main
from seqlab.errors import ConfigError
from seqlab.translation.build import build_translator
from seqlab.translation.config import MTModel, mt_recipe_from_dict
from seqlab.translation.evaluate import translate_texts
from seqlab.translation.loop import load_translator, lr_factor, train_translator

TINY = {
    "data": {"corpus": "numbers", "tokenizer": "char", "src_vocab": 300, "tgt_vocab": 300,
             "numbers_size": 60, "numbers_max_words": 4},
    "model": {"arch": "luong", "embed_dim": 8, "hidden": 16, "layers": 1, "attention": "local-p", "half_width": 3},
    "train": {"minutes": 1.0, "max_steps": 3, "max_tokens": 400, "eval_every_minutes": 10.0,
              "eval_sentences": 4, "device": "cpu"},
}

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def test_recipe_rejects_unknown_and_out_of_range_keys():
    with pytest.raises(ConfigError, match="unknown"):
        mt_recipe_from_dict({"model": {"arch": "transformer", "hiden": 3}})
    with pytest.raises(ConfigError):
        mt_recipe_from_dict({"model": {"arch": "rnn"}})
    with pytest.raises(ConfigError):
        mt_recipe_from_dict({"train": {"label_smoothing": 1.5}})


@pytest.mark.parametrize("arch", ["seq2seq", "bahdanau", "luong", "transformer", "convs2s"])
def test_factory_builds_every_arch(arch):
    model = build_translator(MTModel(arch=arch, embed_dim=8, hidden=16, layers=1, heads=2, ff=16), 20, 30)
    src, mask = torch.randint(4, 20, (2, 5)), torch.ones(2, 5, dtype=torch.bool)
    logits, _ = model(src, mask, torch.randint(4, 30, (2, 4)))
    assert logits.shape == (2, 4, 30)


def test_lr_warmup_then_inverse_sqrt():
    assert lr_factor(50, 0) == 1.0
    assert lr_factor(50, 100) == 0.5 and lr_factor(100, 100) == 1.0 and lr_factor(400, 100) == 0.5


def test_train_reload_translate_evaluate(tmp_path, capsys):
    recipe = mt_recipe_from_dict(TINY)
    result = train_translator(recipe, tmp_path / "run", log=lambda line: None)
    assert result.steps == 3 and result.parameters > 0 and result.history[-1]["step"] == 3
    assert (tmp_path / "run" / "model.safetensors").is_file()
    model, src_tok, tgt_tok, loaded = load_translator(tmp_path / "run", "cpu")
    assert loaded == recipe
    out = translate_texts(model, src_tok, tgt_tok, ["seven", "twenty-one"], "cpu", beam=2)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    assert main(["translate", str(tmp_path / "run"), "seven", "--beam", "2",
                 "--attention", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["evaluate", str(tmp_path / "run"), "--limit", "3", "--beam", "1",
                 "--json", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    assert "BLEU" in printed and "nrefs:1" in printed and "31-40" in printed and "41+" in printed
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["sentences"] == 3 and scores["aer"] is None  # numbers has no gold alignments


def test_missing_run_folder_is_one_line_error(tmp_path, capsys):
    assert main(["translate", str(tmp_path / "nope"), "x"]) == 2
    assert "not a translation run folder" in capsys.readouterr().err


def test_tied_weights_save_once_and_reload():
    from seqlab.translation.loop import _unique_state

    cfg = MTModel(arch="transformer", hidden=16, layers=1, heads=2, ff=16, tie_embeddings=True)
    model = build_translator(cfg, 20, 30)
    state = _unique_state(model)
    assert "out.weight" not in state and "tgt_embed.weight" in state
    fresh = build_translator(cfg, 20, 30)
    missing, unexpected = fresh.load_state_dict({k: v.clone() for k, v in state.items()}, strict=False)
    assert missing == ["out.weight"] and unexpected == []
    assert torch.equal(fresh.out.weight, model.out.weight)


def test_bf16_on_cpu_autocasts_and_still_trains(tmp_path):
    from seqlab.errors import SeqlabError
    from seqlab.train.device import autocast, cpu_has_bf16

    if not cpu_has_bf16():  # bf16 asked for where the CPU has no bf16 units: one line, before training
        recipe = mt_recipe_from_dict({**TINY, "train": {**TINY["train"], "bf16": True}})
        with pytest.raises(SeqlabError, match="bf16 units"):
            train_translator(recipe, tmp_path / "run", log=lambda line: None)
        return
    a = torch.randn(4, 8)
    with autocast(torch.device("cpu"), True):
        assert (a @ a.T).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), False):
        assert (a @ a.T).dtype == torch.float32
    recipe = mt_recipe_from_dict({**TINY, "train": {**TINY["train"], "bf16": True}})
    result = train_translator(recipe, tmp_path / "run", log=lambda line: None)
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
    model, *_ = load_translator(tmp_path / "run", "cpu")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32


def _weights(run_dir):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model.safetensors"))


def test_resume_continues_exactly(tmp_path):
    """3 steps, stop, resume to 7 == 7 steps in one go (weights, history, clock), across an epoch end."""
    base = {**TINY, "model": {**TINY["model"], "dropout": 0.3}}  # dropout: the RNG state must resume too

    def recipe(steps):
        return mt_recipe_from_dict({**base, "train": {**base["train"], "max_steps": steps, "max_tokens": 200}})

    whole = train_translator(recipe(7), tmp_path / "whole", log=lambda line: None)
    part = train_translator(recipe(3), tmp_path / "part", log=lambda line: None)
    assert part.steps == 3 and (tmp_path / "part" / "checkpoints" / "latest").is_file()
    resumed = train_translator(recipe(7), tmp_path / "part", log=lambda line: None, resume=True)
    assert resumed.steps == whole.steps == 7 and resumed.epoch == whole.epoch >= 1
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "part")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "history.jsonl").read_text().splitlines()]
    assert steps == [3, 7]  # the pre-resume row is kept, the new one appended


def test_resume_without_checkpoint_is_one_line_error(tmp_path, capsys):
    import yaml

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(TINY))
    assert main(["train", str(path), "--resume", "--out", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "Traceback" not in err


def test_nan_loss_names_the_step_and_the_cure(tmp_path):
    from seqlab.errors import TrainingDivergedError

    recipe = mt_recipe_from_dict({**TINY, "train": {**TINY["train"], "lr": 10.0, "clip_norm": 0.0, "max_steps": 50}})
    original = torch.nn.functional.cross_entropy

    def poisoned(*args, **kwargs):  # the third loss is NaN, as after a blow-up
        poisoned.calls += 1
        out = original(*args, **kwargs)
        return out * float("nan") if poisoned.calls == 3 else out

    poisoned.calls = 0
    torch.nn.functional.cross_entropy = poisoned
    try:
        with pytest.raises(TrainingDivergedError, match=r"at step 3: loss nan.*lower train.lr"):
            train_translator(recipe, tmp_path / "run", log=lambda line: None)
    finally:
        torch.nn.functional.cross_entropy = original


def test_ctrl_c_finishes_the_batch_and_checkpoints(tmp_path, monkeypatch):
    import os
    import signal

    from seqlab.translation import loop

    real_step = loop.train_step

    def step_then_interrupt(*args, **kwargs):
        loss = real_step(*args, **kwargs)
        if args[-1] == 2:  # the step number
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    monkeypatch.setattr(loop, "train_step", step_then_interrupt)
    recipe = mt_recipe_from_dict({**TINY, "train": {**TINY["train"], "max_steps": 50}})
    result = train_translator(recipe, tmp_path / "run", log=lambda line: None)
    assert result.stopped == "interrupted" and result.steps == 2
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == "ckpt-00000002"
    assert not (tmp_path / "run" / "model.safetensors").exists()  # no final weights from a cut run
