"""Translation on a tiny numbers corpus, trained by the one Trainer: recipe checks, the
task's batches and loss, train, reload, CLI, exact resume, the guards, Ctrl-C."""

import json

import pytest
import torch

from seqlab.cli import main
from seqlab.errors import ConfigError, TrainingDivergedError
from seqlab.build import build_translator
from seqlab.build import MTModel
from seqlab.recipe import recipe_from_dict
from seqlab.translation.evaluate import translate_texts
from seqlab.translation.loop import load_translator, train_translator

TINY = {
    "task": {"name": "translation", "corpus": "numbers", "tokenizer": "char", "src_vocab": 300, "tgt_vocab": 300,
             "numbers_size": 60, "numbers_max_words": 4, "max_tokens": 400, "eval_sentences": 4},
    "model": {"arch": "luong", "embed_dim": 8, "hidden": 16, "layers": 1, "attention": "local-p", "half_width": 3},
    "train": {"steps": 3, "eval_every": 3, "lr": 1e-3, "betas": [0.9, 0.98], "clip_norm": 1.0, "device": "cpu",
              "progress": False},
}
pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def recipe(**train):
    return recipe_from_dict({**TINY, "train": {**TINY["train"], **train}})


def quiet(line):
    pass


def test_recipe_rejects_unknown_and_out_of_range_keys():
    with pytest.raises(ConfigError, match="unknown key 'model.hiden'"):
        recipe_from_dict({**TINY, "model": {"arch": "transformer", "hiden": 3}})
    with pytest.raises(ConfigError, match="'model.arch'"):
        recipe_from_dict({**TINY, "model": {"arch": "rnn"}})
    with pytest.raises(ConfigError, match="label_smoothing"):
        recipe_from_dict({**TINY, "task": {**TINY["task"], "label_smoothing": 1.5}})
    with pytest.raises(ConfigError, match="tbptt_k1"):
        recipe(tbptt_k1=4)
    with pytest.raises(ConfigError, match="unknown key 'data': a translation recipe names its corpus in"):
        recipe_from_dict({**TINY, "data": {"corpus": "numbers"}})  # the one shape only: [data] is no table of it
    with pytest.raises(ConfigError, match="missing table"):
        recipe_from_dict({"model": {"arch": "transformer"}})


@pytest.mark.parametrize("arch", ["seq2seq", "bahdanau", "luong", "transformer", "convs2s"])
def test_factory_builds_every_arch(arch):
    model = build_translator(MTModel(arch=arch, embed_dim=8, hidden=16, layers=1, heads=2, ff=16), 20, 30)
    src, mask = torch.randint(4, 20, (2, 5)), torch.ones(2, 5, dtype=torch.bool)
    logits, _ = model(src, mask, torch.randint(4, 30, (2, 4)))
    assert logits.shape == (2, 4, 30)


def test_train_reload_translate_evaluate(tmp_path, capsys):
    rec = recipe()
    result = train_translator(rec, tmp_path / "run", log=quiet)
    assert result.steps == 3 and result.stopped == "completed" and result.history[-1]["step"] == 3
    assert result.targets > 0 and result.targets_per_second > 0
    assert {"dev_bleu", "dev_chrf", "loss"} <= set(result.final)
    assert (tmp_path / "run" / "model.safetensors").is_file()
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "eval"] == [3] and "dev_bleu" in records[-1]
    model, src_tok, tgt_tok, loaded = load_translator(tmp_path / "run", "cpu")
    assert loaded == rec
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


def test_tied_weights_save_once_and_reload(tmp_path):
    from seqlab.train import checkpoint as ckpt

    cfg = MTModel(arch="transformer", hidden=16, layers=1, heads=2, ff=16, tie_embeddings=True)
    model = build_translator(cfg, 20, 30)
    state = ckpt.unique_state(model.state_dict())
    assert "out.weight" not in state and "tgt_embed.weight" in state
    folder = ckpt.save_checkpoint(tmp_path, 1, model.state_dict(), {"step": 1})  # safetensors: no shared storage
    fresh = build_translator(cfg, 20, 30)
    ckpt.load_model_weights(fresh, ckpt.load_weights(folder), folder)
    assert torch.equal(fresh.out.weight, model.out.weight) and fresh.out.weight is fresh.tgt_embed.weight
    with pytest.raises(Exception, match="do not fit"):
        ckpt.load_model_weights(fresh, {k: v for k, v in state.items() if k != "tgt_embed.weight"}, folder)


def test_batches_come_by_step_the_same_in_every_epoch_order(tmp_path):
    """Step s is batch s mod n of epoch s // n; an epoch's order is a function of (seed, epoch)."""
    from seqlab.data.batching import PairBatcher
    from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs
    from seqlab.translation.task import TranslationTask

    rec = recipe()
    corpus = load_pairs(rec.task)
    src, tgt = fit_tokenizers(corpus, rec.task, tmp_path)
    train, dev = encode_split(corpus, "train", src, tgt, rec.task.max_len), encode_split(corpus, "dev", src, tgt)
    task = TranslationTask(rec.task, train, dev, seed=5)
    n = task.batches_per_epoch
    old = [b.index.tolist() for e in range(2) for b in PairBatcher(train.src, train.tgt, 400, 5).epoch(e)]
    assert [task.batch_at(s).pairs.index.tolist() for s in range(2 * n)] == old
    assert old[:n] != old[n:]  # epochs differ


def test_early_stopping_follows_dev_bleu(tmp_path, monkeypatch):
    from seqlab.translation.task import DevScores

    rising = iter(range(100))
    monkeypatch.setattr(DevScores, "evaluate", lambda self, trainer: {"dev_bleu": float(next(rising))})
    done = train_translator(recipe(steps=4, eval_every=1, lr=0.0, early_stop_patience=1), tmp_path / "a", log=quiet)
    assert done.stopped == "completed"  # the dev loss stands still (lr 0), dev BLEU rises
    monkeypatch.setattr(DevScores, "evaluate", lambda self, trainer: {"dev_bleu": 1.0})
    done = train_translator(recipe(steps=4, eval_every=1, lr=0.0, early_stop_patience=1), tmp_path / "b", log=quiet)
    assert done.stopped == "early_stop" and done.steps == 2


def test_bf16_on_cpu_autocasts_and_still_trains(tmp_path):
    from seqlab.errors import SeqlabError
    from seqlab.train.device import autocast, cpu_has_bf16

    if not cpu_has_bf16():  # bf16 asked for where the CPU has no bf16 units: one line, before training
        with pytest.raises(SeqlabError, match="bf16 units"):
            train_translator(recipe(bf16=True), tmp_path / "run", log=quiet)
        return
    a = torch.randn(4, 8)
    with autocast(torch.device("cpu"), True):
        assert (a @ a.T).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), False):
        assert (a @ a.T).dtype == torch.float32
    result = train_translator(recipe(bf16=True), tmp_path / "run", log=quiet)
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
    model, *_ = load_translator(tmp_path / "run", "cpu")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay float32


def _final(run_dir):
    from seqlab.train import checkpoint as ckpt

    loaded = ckpt.load_checkpoint(run_dir)
    return loaded.weights, loaded.state


def _train_losses(run_dir):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records if r["split"] == "train"]


def _batches_per_epoch(run_dir, rec) -> int:
    from seqlab.translation.data import encode_split, load_pairs, load_tokenizers
    from seqlab.translation.task import TranslationTask

    corpus = load_pairs(rec.task)
    src, tgt = load_tokenizers(run_dir / "tokenizers")
    train = encode_split(corpus, "train", src, tgt, rec.task.max_len)
    return TranslationTask(rec.task, train, train, rec.train.seed).batches_per_epoch


def test_resume_continues_exactly_across_an_epoch_end(tmp_path):
    """3 steps, stop, resume to 7 == 7 steps in one go: weights, Adam moments, schedule, batch
    order and dropout draws (the per-step losses) within 1e-6, across the end of an epoch."""
    base = {**TINY, "model": {**TINY["model"], "dropout": 0.3}}  # dropout: the RNG state must resume too

    def rec(steps):
        return recipe_from_dict({**base, "task": {**base["task"], "max_tokens": 200},
                                    "train": {**base["train"], "steps": steps, "eval_every": 3, "log_every": 1,
                                              "schedule": "warmup_invsqrt", "warmup_steps": 2}})

    whole = train_translator(rec(7), tmp_path / "whole", log=quiet)
    part = train_translator(rec(3), tmp_path / "part", log=quiet)
    assert part.steps == 3 and (tmp_path / "part" / "latest").is_file()
    resumed = train_translator(rec(7), tmp_path / "part", log=quiet, resume=True)
    assert resumed.steps == whole.steps == 7
    assert _batches_per_epoch(tmp_path / "whole", rec(7)) < 7  # the run crossed the end of an epoch
    (wa, sa), (wb, sb) = _final(tmp_path / "whole"), _final(tmp_path / "part")
    assert wa.keys() == wb.keys() and all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert torch.allclose(pa["exp_avg"], pb["exp_avg"], atol=1e-6)
        assert torch.allclose(pa["exp_avg_sq"], pb["exp_avg_sq"], atol=1e-6)
    assert sa["scheduler"] == sb["scheduler"] and sa["step"] == sb["step"] == 7
    a, b = _train_losses(tmp_path / "whole"), _train_losses(tmp_path / "part")
    assert [s for s, _ in a] == [s for s, _ in b] == list(range(1, 8))  # each step logged once
    assert all(abs(x - y) < 1e-6 for (_, x), (_, y) in zip(a, b))
    assert [r["step"] for r in resumed.history] == [3, 6, 7]  # the pre-resume evaluation kept


def test_resume_without_checkpoint_is_one_line_error(tmp_path, capsys):
    import yaml

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(TINY))
    assert main(["train", str(path), "--resume", "--out", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "Traceback" not in err


def test_nan_loss_names_the_step_and_the_cure(tmp_path):
    original = torch.nn.functional.cross_entropy

    def poisoned(*args, **kwargs):  # the third loss is NaN, as after a blow-up
        poisoned.calls += 1
        out = original(*args, **kwargs)
        return out * float("nan") if poisoned.calls == 3 else out

    poisoned.calls = 0
    torch.nn.functional.cross_entropy = poisoned
    try:
        with pytest.raises(TrainingDivergedError, match=r"at step 3 .*loss nan.*learning rate"):
            train_translator(recipe(steps=50), tmp_path / "run", log=quiet)
    finally:
        torch.nn.functional.cross_entropy = original


def test_the_gradient_norm_guard_fires_for_translation(tmp_path, monkeypatch):
    """A finite loss with an infinite gradient stops the run before the update, naming the norm."""
    from seqlab.translation.task import TranslationTask

    real = TranslationTask.loss

    def blown_gradient(self, model, batch):
        loss, metrics = real(self, model, batch)
        blown_gradient.calls += 1
        if blown_gradient.calls == 2:
            weight = next(model.parameters())
            weight.register_hook(lambda g: torch.full_like(g, float("inf")))
        return loss, metrics

    blown_gradient.calls = 0
    monkeypatch.setattr(TranslationTask, "loss", blown_gradient)
    with pytest.raises(TrainingDivergedError, match=r"at step 2 .*gradient norm inf"):
        train_translator(recipe(steps=5, checkpoint_every=1), tmp_path / "run", log=quiet)
    assert (tmp_path / "run" / "latest").read_text().strip() == "ckpt-00000001"  # the last good step stays


def test_ctrl_c_finishes_the_batch_and_checkpoints(tmp_path, monkeypatch):
    import os
    import signal

    from seqlab.train.loop import Trainer

    real = Trainer.train_batch

    def batch_then_interrupt(self):
        metrics = real(self)
        if self.step == 1:  # the second batch
            os.kill(os.getpid(), signal.SIGINT)
        return metrics

    monkeypatch.setattr(Trainer, "train_batch", batch_then_interrupt)
    result = train_translator(recipe(steps=50), tmp_path / "run", log=quiet)
    assert result.stopped == "interrupted" and result.steps == 2
    assert (tmp_path / "run" / "latest").read_text().strip() == "ckpt-00000002"
    assert not (tmp_path / "run" / "model.safetensors").exists()  # no final weights from a cut run
