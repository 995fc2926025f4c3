"""Reliability of runs: self-verifying checkpoints with fallback, one run per folder (lock,
refusal, --overwrite), --resume that refuses inexact changes, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from seqlab.cli import main
from seqlab.errors import SeqlabError, TrainingDivergedError
from seqlab.train import checkpoint as ckpt
from seqlab.train.run_folder import RunFolder

TASK = (
    '[task]\nname = "adding"\nlength = 6\n'
    '[model]\narch = "lstm"\nhidden_size = 8\n'
    '[train]\nsteps = 4\nbatch_size = 4\neval_every = 2\neval_batches = 1\ncheckpoint_every = 2\n'
    'progress = false\n'
)
MT = (
    '[task]\nname = "translation"\ncorpus = "numbers"\ntokenizer = "char"\nnumbers_size = 60\nnumbers_max_words = 4\n'
    'max_tokens = 400\neval_sentences = 4\n'
    '[model]\narch = "transformer"\nhidden = 16\nlayers = 1\nheads = 2\nff = 32\n'
    '[train]\nmax_minutes = 1.0\nsteps = 2\nbetas = [0.9, 0.98]\nclip_norm = 1.0\ndevice = "cpu"\nprogress = false\n'
)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


@pytest.fixture
def task_recipe(tmp_path):
    path = tmp_path / "task.toml"
    path.write_text(TASK)
    return str(path)


@pytest.fixture
def mt_recipe(tmp_path):
    path = tmp_path / "mt.toml"
    path.write_text(MT)
    return str(path)


def train(recipe, out, *extra):
    return main(["train", recipe, "--out", str(out), *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def warnings_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if "warning" in line]


# ----------------------------------------------------------------------------- checkpoints
def test_a_checkpoint_carries_a_manifest_that_catches_truncation_emptying_and_bit_flips(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = ckpt.save_checkpoint(tmp_path, 5, model.state_dict(), {"step": 5})
    manifest = json.loads((path / ckpt.MANIFEST).read_text())
    assert set(manifest["files"]) == {ckpt.WEIGHTS, ckpt.STATE}
    assert manifest["files"][ckpt.WEIGHTS]["size"] == (path / ckpt.WEIGHTS).stat().st_size
    assert ckpt.check_manifest(path) is None
    assert not list(tmp_path.glob(".*"))  # no temporary left behind
    data = bytearray((path / ckpt.WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (path / ckpt.WEIGHTS).write_bytes(bytes(data))
    assert "SHA-256" in ckpt.check_manifest(path)
    (path / ckpt.STATE).write_bytes(b"")
    assert "trainer.pt has 0 bytes" in ckpt.check_manifest(path, [ckpt.STATE])


def test_resume_falls_back_past_a_truncated_latest_checkpoint_with_one_warning(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    assert (run / "latest").read_text().strip() == "ckpt-00000004"
    with open(run / "ckpt-00000004" / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.steps=6") == 0
    out, err = capsys.readouterr()
    (warning,) = warnings_of(err)
    assert "ckpt-00000004" in warning and "damaged" in warning and "falling back to ckpt-00000002" in warning
    assert "resumed at step 2" in out and "completed after 6 steps" in out
    # the damaged checkpoint is set aside (kept for a look, out of the way of scanning and pruning)
    assert "set aside as damaged-ckpt-00000004" in warning and (run / "damaged-ckpt-00000004").is_dir()
    assert [p.name for _, p in ckpt.checkpoints(run)] == ["ckpt-00000006", "ckpt-00000004"]
    assert ckpt.check_manifest(run / "ckpt-00000004") is None
    # metrics.jsonl: the interrupted stretch's records (eval at step 4) are dropped, each step logged once
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["step"], r["split"]) for r in records]
    assert len(keys) == len(set(keys)) and (4, "eval") in keys and (6, "eval") in keys


def test_an_empty_trainer_state_falls_back_too(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    (run / "ckpt-00000004" / "trainer.pt").write_bytes(b"")
    assert train(task_recipe, run, "--resume", "--set", "train.steps=6") == 0
    (warning,) = warnings_of(capsys.readouterr().err)
    assert "ckpt-00000004" in warning and "trainer.pt has 0 bytes" in warning


@pytest.mark.parametrize("pointer", [None, b"\xff\xfegarbage", b"ckpt-00000099\n"])
def test_a_missing_or_damaged_latest_pointer_is_found_by_scanning(tmp_path, task_recipe, capsys, pointer):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    if pointer is None:
        (run / "latest").unlink()
    else:
        (run / "latest").write_bytes(pointer)
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.steps=6") == 0
    out, err = capsys.readouterr()
    (warning,) = warnings_of(err)
    assert "latest" in warning and "found ckpt-00000004 by scanning" in warning
    assert "resumed at step 4" in out


def test_nothing_intact_is_one_line_naming_the_folder(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    for _, path in ckpt.checkpoints(run):
        (path / "model.safetensors").write_bytes(b"junk")
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.steps=6") == 2
    line = one_line_error(capsys)
    assert f"no intact checkpoint in {run}" in line
    assert main(["evaluate", str(run)]) == 0  # the final weights are intact
    capsys.readouterr()
    (run / "model.safetensors").write_bytes(b"junk")
    assert main(["evaluate", str(run)]) == 2
    line = one_line_error(capsys)
    assert "model.safetensors is damaged" in line and "no intact checkpoint" in line


def test_evaluate_and_generate_load_the_newest_intact_checkpoint(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    (run / "ckpt-00000004" / "model.safetensors").write_bytes(b"")
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0  # the final weights (step 4) are intact: no warning
    out, err = capsys.readouterr()
    assert "loss" in out and err == ""
    (run / "model.safetensors").unlink()
    assert main(["evaluate", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "loss" in out and "falling back to ckpt-00000002" in err and "training was cut" in err


def test_translation_resume_and_translate_survive_damaged_weights(tmp_path, mt_recipe, capsys):
    run = tmp_path / "mt"
    assert train(mt_recipe, run) == 0
    assert train(mt_recipe, run, "--resume", "--set", "train.steps=4") == 0
    assert [p.name for _, p in ckpt.checkpoints(run)] == ["ckpt-00000004", "ckpt-00000002"]
    with open(run / "ckpt-00000004" / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    capsys.readouterr()
    assert train(mt_recipe, run, "--resume", "--set", "train.steps=5") == 0
    out, err = capsys.readouterr()
    (warning,) = warnings_of(err)
    assert "ckpt-00000004" in warning and "falling back to ckpt-00000002" in warning
    assert "resumed at step 2" in out and "completed after 5 steps" in out
    # the final weights: damaged -> the newest intact checkpoint, with a warning
    with open(run / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    assert main(["translate", str(run), "seven", "--beam", "1"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1
    (warning,) = warnings_of(err)
    assert "model.safetensors is damaged" in warning and "ckpt-00000005" in warning
    assert main(["evaluate", str(run), "--limit", "2", "--beam", "1"]) == 0
    assert "model.safetensors is damaged" in capsys.readouterr().err
    # a translation run cut before its end has no final weights: the checkpoint serves
    (run / "model.safetensors").unlink()
    assert main(["translate", str(run), "seven", "--beam", "1"]) == 0
    assert "training was cut" in capsys.readouterr().err


# a training run that goes slower after step 2 (the same numbers): time to kill it between checkpoints
SLOW_RUN = textwrap.dedent("""
    import sys, time
    from seqlab.train.loop import Trainer
    real = Trainer.train_batch
    def slow(self):
        if self.step >= 2:
            time.sleep(0.4)
        return real(self)
    Trainer.train_batch = slow
    from seqlab.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.skipif(os.name != "posix", reason="kill -9 is POSIX")
def test_kill_9_during_a_translation_run_then_resume_equals_an_uninterrupted_run(tmp_path, mt_recipe):
    import time

    from safetensors.torch import load_file

    steps = ["--set", "train.steps=8", "--set", "train.eval_every=2", "--set", "train.checkpoint_every=2",
             "--set", "model.dropout=0.3"]
    assert train(mt_recipe, tmp_path / "whole", *steps) == 0
    run = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "train", mt_recipe, "--out", str(run), "--threads", "1",
                             *steps], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not (run / "ckpt-00000004").is_dir():  # renamed into place once complete
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the run wrote no checkpoint at step 4"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (run / "model.safetensors").exists()
    assert train(mt_recipe, run, "--resume", *steps) == 0
    whole, cut = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(run / "model.safetensors"))
    assert whole.keys() == cut.keys()
    for name in whole:
        torch.testing.assert_close(cut[name], whole[name], rtol=0, atol=1e-6, msg=name)


# ----------------------------------------------------------------------------- one run per folder
# another process that holds a run folder's lock as a run does (flock on .lock, its PID
# inside), without importing torch, so the test does not wait for a second torch import
HOLDER = textwrap.dedent("""
    import fcntl, os, sys
    os.makedirs(sys.argv[1], exist_ok=True)
    fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\\n".encode())
    print("locked", flush=True)
    sys.stdin.read()
""")


@pytest.mark.skipif(os.name != "posix", reason="run folders are locked with flock")
def test_a_second_run_into_a_locked_folder_fails_naming_the_holder(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train(task_recipe, run) == 2
        line = one_line_error(capsys)
        assert f"in use by another run (pid {holder.pid})" in line
        assert not (run / "metrics.jsonl").exists()
        with pytest.raises(SeqlabError, match=f"pid {holder.pid}"):
            RunFolder.open(run, resume=False)
    finally:
        holder.kill()  # as kill -9: the kernel drops the lock with the process
        holder.wait()
    assert train(task_recipe, run) == 0


def test_a_new_run_into_a_used_folder_is_refused_unless_overwrite(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    (run / "notes.txt").write_text("mine")
    before = (run / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert train(task_recipe, run) == 2
    line = one_line_error(capsys)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert (run / "metrics.jsonl").read_text() == before
    assert train(task_recipe, run, "--resume", "--overwrite") == 2
    assert "choose one" in one_line_error(capsys)
    assert train(task_recipe, run, "--overwrite", "--set", "train.steps=2") == 0
    assert [p.name for _, p in ckpt.checkpoints(run)] == ["ckpt-00000002"]  # no stale ckpt-4 beside it
    assert max(json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()) == 2
    assert (run / "notes.txt").read_text() == "mine"  # only run files are deleted


def test_a_new_translation_run_into_a_used_folder_is_refused(tmp_path, mt_recipe, capsys):
    run = tmp_path / "mt"
    assert train(mt_recipe, run) == 0
    metrics = (run / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert train(mt_recipe, run) == 2
    assert "already holds a run" in one_line_error(capsys)
    assert (run / "metrics.jsonl").read_text() == metrics


def test_resume_of_a_missing_folder_creates_nothing(tmp_path, task_recipe, capsys):
    assert train(task_recipe, tmp_path / "nope", "--resume") == 2
    assert "nothing to resume" in one_line_error(capsys)
    assert not (tmp_path / "nope").exists()


# ----------------------------------------------------------------------------- resume and the recipe
def test_resume_refuses_changes_that_break_exactness_naming_the_keys(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", "train.lr=1e-4") == 0
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.lr=10", "--set", "model.hidden_size=9",
                 "--set", "train.steps=6") == 2
    line = one_line_error(capsys)
    assert "train.lr (0.0001 -> 10.0)" in line and "model.hidden_size (8 -> 9)" in line
    assert "train.steps" not in line
    assert json.loads((run / "recipe.json").read_text())["train"]["lr"] == 1e-4


def test_resume_applies_the_safe_changes_and_records_them(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", "train.lr=1e-4") == 0
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.lr=1e-4", "--set", "train.steps=6",
                 "--set", "train.log_every=1") == 0
    out = capsys.readouterr().out
    assert "resumed at step 4" in out and "train.steps 4 -> 6" in out
    saved = json.loads((run / "recipe.json").read_text())
    assert saved["train"]["steps"] == 6 and saved["train"]["log_every"] == 1 and saved["out"] == str(run)


def test_resume_refuses_new_steps_under_a_cosine_schedule(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", 'train.schedule="cosine"') == 0
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", 'train.schedule="cosine"', "--set", "train.steps=6") == 2
    assert "train.steps (4 -> 6) (the cosine schedule spans train.steps)" in one_line_error(capsys)


def test_translation_resume_refuses_a_new_learning_rate(tmp_path, mt_recipe, capsys):
    run = tmp_path / "mt"
    assert train(mt_recipe, run) == 0
    capsys.readouterr()
    assert train(mt_recipe, run, "--resume", "--set", "train.lr=10", "--set", "train.steps=4") == 2
    line = one_line_error(capsys)
    assert "train.lr" in line and "train.steps" not in line


def test_resuming_a_finished_run_says_so(tmp_path, task_recipe, mt_recipe, capsys):
    assert train(task_recipe, tmp_path / "run") == 0
    capsys.readouterr()
    assert train(task_recipe, tmp_path / "run", "--resume") == 0
    out = capsys.readouterr().out
    assert "resumed at step 4" in out and "finished already at step 4 of 4" in out and "completed" not in out
    assert train(mt_recipe, tmp_path / "mt") == 0
    capsys.readouterr()
    assert train(mt_recipe, tmp_path / "mt", "--resume") == 0
    out = capsys.readouterr().out
    assert "finished already at step 2" in out and "completed" not in out


# ----------------------------------------------------------------------------- stops and messages
def test_an_interrupted_task_run_exits_130_and_resumes(tmp_path, task_recipe, capsys, monkeypatch):
    from seqlab.train.loop import Trainer

    real = Trainer.train_batch

    def batch_then_ctrl_c(self):
        metrics = real(self)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return metrics

    monkeypatch.setattr(Trainer, "train_batch", batch_then_ctrl_c)
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", "train.steps=20") == 130
    assert "interrupted at step 3; continue with --resume" in capsys.readouterr().out
    monkeypatch.setattr(Trainer, "train_batch", real)
    assert train(task_recipe, run, "--set", "train.steps=20", "--resume") == 0
    assert "resumed at step 3" in capsys.readouterr().out


def test_the_cli_says_whether_ddp_is_on():
    from seqlab.train.distributed import DistInfo

    assert DistInfo().describe() == "one process (no DDP)"
    assert DistInfo(rank=1, world=4, backend="gloo").describe() == "DDP on: 4 processes, backend gloo"


def test_divergence_before_any_checkpoint_says_there_is_none(tmp_path):
    from seqlab.data.tasks import AddingProblem
    from seqlab.nn.sequence import SequenceModel
    from seqlab.train import Trainer, TrainConfig

    task = AddingProblem(length=5)
    model = SequenceModel(torch.nn.LSTM(4, 8, batch_first=True), 8, 1, input_dim=2, embed_dim=4)
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    cfg = TrainConfig(steps=5, batch_size=4, progress=False, checkpoint_every=2)
    with pytest.raises(TrainingDivergedError) as err:
        Trainer(model, task, cfg, run_dir=tmp_path / "run").fit()
    msg = str(err.value)
    assert "it was the first update of the run" in msg and "nan" not in msg.split("loss")[0]
    assert "last finite gradient norm nan" not in msg
    assert "No checkpoint was written" in msg and "intact" not in msg


def test_translation_divergence_before_any_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    import tomllib

    from seqlab.translation import loop
    from seqlab.recipe import recipe_from_dict
    from seqlab.translation.task import TranslationTask

    real = TranslationTask.loss

    def nan_loss(self, model, batch):
        loss, metrics = real(self, model, batch)
        return loss * float("nan"), metrics

    monkeypatch.setattr(TranslationTask, "loss", nan_loss)
    recipe = recipe_from_dict(tomllib.loads(MT))
    with pytest.raises(TrainingDivergedError, match="No checkpoint was written"):
        loop.train_translator(recipe, tmp_path / "mt", log=lambda line: None)


# ----------------------------------------------------------------------------- one-line errors
@pytest.mark.parametrize("args,needle", [
    (["--set", "train.lr=nan"], "'train.lr' is nan"),
    (["--set", "task=3"], "'task' must be a table"),
    (["--set", "task.name.x=1"], "'name' is not a table"),
    (["--set", "train..lr=1"], "dotted names"),
    (["--set", 'out=""'], "'out' must name a folder"),
    (["--threads", "0"], "--threads must be at least 1"),
])
def test_bad_overrides_are_one_line(tmp_path, task_recipe, capsys, args, needle):
    assert main(["train", task_recipe, "--out", str(tmp_path / "run"), *args]) == 2
    assert needle in one_line_error(capsys)


@pytest.mark.parametrize("name,content,needle", [
    ("bin.toml", bytes(range(256)), "not UTF-8 text"),
    ("list.yaml", b"- 1\n- 2\n", "expected tables of keys"),
    ("keys.yaml", b"1: 2\ntask: {name: adding}\n", "unknown key '1'"),
    ("deep.toml", b"[task]\nname = 'adding'\n[train]\nlr = {a = 1}\n", "'train.lr' must be float"),
])
def test_bad_recipe_files_are_one_line(tmp_path, capsys, name, content, needle):
    (tmp_path / name).write_bytes(content)
    assert main(["train", str(tmp_path / name), "--out", str(tmp_path / "run")]) == 2
    assert needle in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_an_out_that_is_a_file_or_under_a_file_is_one_line(tmp_path, task_recipe, capsys):
    (tmp_path / "afile").write_text("")
    assert train(task_recipe, tmp_path / "afile") == 2
    assert "exists and is not a folder" in one_line_error(capsys)
    assert train(task_recipe, tmp_path / "afile" / "run") == 2
    assert "cannot create run folder" in one_line_error(capsys)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_out_is_one_line(tmp_path, task_recipe, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert train(task_recipe, ro / "run") == 2
        assert "cannot create run folder" in one_line_error(capsys)
    finally:
        ro.chmod(0o755)


def test_a_bpe_language_model_without_vocab_limit_names_the_recipe_key(tmp_path, capsys):
    path = tmp_path / "lm.toml"
    path.write_text('[task]\nname = "lm"\ntokenizer = "bpe"\n[model]\narch = "lstm"\n')
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    line = one_line_error(capsys)
    assert "'task.vocab_limit'" in line and "vocab_size" not in line


def test_argparse_mistakes_are_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["generate", "x", "-n", "many"])
    assert done.value.code == 2
    assert "invalid int value" in one_line_error(capsys)


@pytest.mark.parametrize("args,needle", [
    (["classify", "japanese_vowels", "--hidden", "0"], "--hidden must be at least 1"),
    (["forecast", "nile", "--stride", "0"], "--stride must be at least 1"),
    (["embed", "compare", "bank", "-k", "0"], "-k must be at least 1"),
    (["evaluate", "/nonexistent/run"], "not a run folder"),
    (["translate", "/nonexistent/run", "x", "--device", "foo"], "not a translation run folder"),
])
def test_other_commands_refuse_bad_numbers_in_one_line(capsys, args, needle):
    assert main(args) == 2
    assert needle in one_line_error(capsys)


def test_an_unknown_device_is_one_line():
    from seqlab.train.device import pick_device

    with pytest.raises(SeqlabError, match="unknown device 'foo'"):
        pick_device("foo")
    assert pick_device("cpu").type == "cpu"
