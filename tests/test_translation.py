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



@pytest.fixture(autouse=True)
def one_thread():
    """These tests train tiny models: one thread is fastest and steadiest on a shared machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

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
    from seqlab.train.device import autocast

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
