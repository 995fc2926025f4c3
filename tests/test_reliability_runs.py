"""Reliability of runs, part 2: nothing read or deleted outside the run, SIGTERM like Ctrl-C,
values in range that mean what they say, resumes checked against the checkpoint, the newest
intact weights, a full disk, memory estimates, bounded decoding."""

from __future__ import annotations

import errno
import json
import os
import signal

import pytest
import torch

from report_fixtures import make_run
from seqlab.cli import main
from seqlab.errors import ConfigError, SeqlabError
from seqlab.recipe import load_recipe, recipe_from_dict
from seqlab.report import write_report
from seqlab.train import checkpoint as ckpt
from seqlab.train.manifest import RUN_FILES, read_run_files
from test_reliability import mt_recipe, one_line_error, task_recipe, train  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- the report reads its claims only
def _figure_named(folder, name: str) -> None:
    data = json.loads((folder / "result.json").read_text())
    data["figures"] = [{"name": name, "caption": "c"}]
    (folder / "result.json").write_text(json.dumps(data))


@pytest.mark.parametrize("name", ["/etc/hostname", "../../../../../../etc/hostname", "../C4/result.json"])
def test_a_figure_outside_the_claims_folder_is_not_read(tmp_path, name):
    make_run(tmp_path)
    _figure_named(tmp_path / "C1", name)
    page = write_report(tmp_path).read_text()
    assert "lies outside its claim folder" in page and page.count("data:image/png;base64,") == 0


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_link_out_of_the_folder_is_refused_and_one_inside_is_read(tmp_path):
    make_run(tmp_path)
    outside = tmp_path / "outside.png"
    outside.write_bytes((tmp_path / "C1" / "flow.png").read_bytes())
    (tmp_path / "C1" / "out.png").symlink_to(outside)
    _figure_named(tmp_path / "C1", "out.png")
    assert "lies outside its claim folder" in write_report(tmp_path).read_text()
    (tmp_path / "C1" / "in.png").symlink_to(tmp_path / "C1" / "flow.png")
    _figure_named(tmp_path / "C1", "in.png")
    assert write_report(tmp_path).read_text().count("data:image/png;base64,") == 1


def test_a_figure_that_is_not_a_png_is_not_shown(tmp_path):
    make_run(tmp_path)
    (tmp_path / "C1" / "notes.txt").write_text("private")
    _figure_named(tmp_path / "C1", "notes.txt")
    page = write_report(tmp_path).read_text()
    assert "is not a PNG file" in page and "cHJpdmF0ZQ" not in page  # base64 of "private"


@pytest.mark.parametrize("key,value,field", [
    ("wall_time", None, "wall_time"), ("wall_time", "x", "wall_time"), ("seeds", 5, "seeds"),
    ("gates", "ab", "gates"), ("machine", "abc", "machine"), ("claim_id", 5, "claim_id"),
    ("tables", [{"title": "t", "columns": ["a"], "rows": 5}], "tables[0].rows"),
    ("tables", [{"title": "t", "columns": ["a"], "rows": [5]}], "tables[0].rows[0]"),
    ("figures", [{"caption": "no name"}], "figures[0]"), ("claim", None, "claim"),
])
def test_report_names_the_field_of_the_wrong_type(tmp_path, capsys, key, value, field):
    make_run(tmp_path)
    data = json.loads((tmp_path / "C4" / "result.json").read_text())
    (tmp_path / "C4" / "result.json").write_text(json.dumps({**data, key: value}))
    assert main(["report", str(tmp_path)]) == 2
    line = one_line_error(capsys)
    assert f"field '{field}'" in line and "C4" in line


def test_report_of_a_result_json_that_is_not_json_or_not_a_table(tmp_path, capsys):
    make_run(tmp_path)
    (tmp_path / "C4" / "result.json").write_bytes(b"\xff\xfe[")
    assert main(["report", str(tmp_path)]) == 2
    assert "is not valid JSON" in one_line_error(capsys)
    (tmp_path / "C4" / "result.json").write_text("[1, 2]")
    assert main(["report", str(tmp_path)]) == 2
    assert "the file is not valid: [1, 2] is not of type 'object'" in one_line_error(capsys)


# ----------------------------------------------------------------------------- --overwrite deletes only its own files
def test_overwrite_never_deletes_a_users_files_named_like_a_runs(tmp_path, task_recipe, capsys):
    proj = tmp_path / "proj"
    (proj / "checkpoints").mkdir(parents=True)
    (proj / "checkpoints" / "my_model.pt").write_text("weights")
    (proj / "tokenizers").mkdir()
    (proj / "tokenizers" / "vocab.txt").write_text("vocab")
    assert train(task_recipe, proj) == 2
    assert "already holds a run" in one_line_error(capsys)
    assert train(task_recipe, proj, "--overwrite") == 2
    line = one_line_error(capsys)
    assert "deletes only the files seqlab wrote" in line and "checkpoints/my_model.pt" in line
    assert "tokenizers/vocab.txt" in line and f"no {RUN_FILES}" in line
    assert (proj / "checkpoints" / "my_model.pt").read_text() == "weights"
    assert (proj / "tokenizers" / "vocab.txt").read_text() == "vocab"


def test_overwrite_deletes_the_listed_files_and_refuses_a_file_slipped_in(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", "train.checkpoint_every=2") == 0
    listed = read_run_files(run)
    assert {"recipe.json", "metrics.jsonl", "model.safetensors", "manifest.json", "latest",
            "ckpt-00000004/model.safetensors", "ckpt-00000004/trainer.pt"} <= listed
    (run / "ckpt-00000004" / "mine.txt").write_text("mine")
    capsys.readouterr()
    assert train(task_recipe, run, "--overwrite") == 2
    assert "ckpt-00000004/mine.txt" in one_line_error(capsys)
    assert (run / "ckpt-00000004" / "model.safetensors").is_file()  # nothing deleted
    (run / "ckpt-00000004" / "mine.txt").unlink()
    (run / ".ckpt-00000006.tmp").mkdir()  # a checkpoint cut short: seqlab's temporary, listed or not
    (run / ".ckpt-00000006.tmp" / "model.safetensors").write_bytes(b"x")
    assert train(task_recipe, run, "--overwrite", "--set", "train.steps=2") == 0
    assert sorted(p.name for p in run.iterdir() if p.name != "tb") == [
        "ckpt-00000002", "latest", "manifest.json", "metrics.jsonl", "model.safetensors", "recipe.json", RUN_FILES]


def test_checkpoint_pruning_and_overwrite_never_delete_a_users_folder_with_seqlabs_names(tmp_path, task_recipe, capsys):
    model = torch.nn.Linear(3, 2)
    mine = tmp_path / "ckpt-00000001"  # a user's folder named like a checkpoint, inside the run folder
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    for step in (2, 4, 6):
        ckpt.save_checkpoint(tmp_path, step, model.state_dict(), {"step": step}, keep=1)
    assert (mine / "notes.txt").read_text() == "mine"  # pruning removed ckpt-2 and ckpt-4, not it
    assert not (tmp_path / "ckpt-00000002").exists() and not (tmp_path / "ckpt-00000004").exists()
    (tmp_path / ".ckpt-00000008.tmp").mkdir()
    (tmp_path / ".ckpt-00000008.tmp" / "draft.txt").write_text("mine too")
    with pytest.raises(SeqlabError, match="holds files seqlab did not write"):
        ckpt.save_checkpoint(tmp_path, 8, model.state_dict(), {"step": 8})
    assert (tmp_path / ".ckpt-00000008.tmp" / "draft.txt").read_text() == "mine too"
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    (run / ".ckpt-00000006.tmp").mkdir()  # a temporary's name on a folder of the user's files
    (run / ".ckpt-00000006.tmp" / "draft.txt").write_text("mine")
    capsys.readouterr()
    assert train(task_recipe, run, "--overwrite") == 2
    assert ".ckpt-00000006.tmp/draft.txt" in one_line_error(capsys)
    assert (run / ".ckpt-00000006.tmp" / "draft.txt").read_text() == "mine"


def test_overwrite_of_a_translation_run_deletes_its_tokenizers(tmp_path, mt_recipe):
    run = tmp_path / "mt"
    assert train(mt_recipe, run) == 0
    assert any(name.startswith("tokenizers/src/") for name in read_run_files(run))
    assert train(mt_recipe, run, "--overwrite") == 0


# ----------------------------------------------------------------------------- values in range mean something
def test_clip_norm_zero_means_off_and_off_is_spellable(tmp_path, task_recipe):
    for value in ("0", "0.0", "off", "none", '"off"'):
        assert load_recipe(task_recipe, [f"train.clip_norm={value}"]).train.clip_norm is None
    assert load_recipe(task_recipe, ["train.clip_value=0"]).train.clip_value is None
    assert load_recipe(task_recipe, ["train.clip_norm=1", "train.clip_norm=off"]).train.clip_norm is None
    with pytest.raises(ConfigError, match="'off' leaves it unset"):
        load_recipe(task_recipe, ["train.clip_norm=much"])
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", "train.clip_norm=0", "--set", "train.steps=3") == 0
    first = ckpt.load_weights(run / "ckpt-00000003")
    start = ckpt.load_weights(run / "ckpt-00000002")
    assert any(not torch.equal(first[k], start[k]) for k in first)  # the weights moved
    assert json.loads((run / "recipe.json").read_text())["train"]["clip_norm"] is None


@pytest.mark.parametrize("task,key,value", [
    ("copy", "num_symbols", 0), ("copy", "delay", -1), ("copy", "delay", 0), ("copy", "alphabet", 1),
    ("adding", "length", 1), ("recall", "num_values", 1), ("recall", "num_pairs", 17),
])
def test_task_values_that_would_mean_nothing_are_refused(task, key, value):
    with pytest.raises(ConfigError, match=f"'task.{key}'|task.num_pairs"):
        recipe_from_dict({"task": {"name": task, key: value}})


# ----------------------------------------------------------------------------- resume checked against the checkpoint
def test_resume_without_recipe_json_checks_the_checkpoints_recipe(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run, "--set", "train.lr=0.003") == 0
    (run / "recipe.json").unlink()
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.lr=0.05", "--set", "train.steps=6") == 2
    assert "train.lr (0.003 -> 0.05)" in one_line_error(capsys)
    assert not (run / "recipe.json").exists()
    assert train(task_recipe, run, "--resume", "--set", "train.lr=0.003", "--set", "train.steps=6") == 0
    assert json.loads((run / "recipe.json").read_text())["train"]["lr"] == 0.003


def test_resume_of_a_translation_run_without_recipe_json_checks_the_checkpoint(tmp_path, mt_recipe, capsys):
    run = tmp_path / "mt"
    assert train(mt_recipe, run) == 0
    (run / "recipe.json").unlink()
    capsys.readouterr()
    assert train(mt_recipe, run, "--resume", "--set", "train.lr=10", "--set", "train.steps=4") == 2
    assert "train.lr" in one_line_error(capsys)


def test_resume_refuses_fewer_steps_than_the_run_has(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    before = (run / "recipe.json").read_text()
    capsys.readouterr()
    assert train(task_recipe, run, "--resume", "--set", "train.steps=2") == 2
    assert "train.steps = 2 is below step 4" in one_line_error(capsys)
    assert (run / "recipe.json").read_text() == before


# ----------------------------------------------------------------------------- SIGTERM
def test_sigterm_writes_a_checkpoint_exits_143_and_resumes(tmp_path, task_recipe, capsys, monkeypatch):
    from seqlab.train.loop import Trainer

    real = Trainer.train_batch

    def batch_then_sigterm(self):
        metrics = real(self)
        if self.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return metrics

    monkeypatch.setattr(Trainer, "train_batch", batch_then_sigterm)
    before = signal.getsignal(signal.SIGTERM)
    run = tmp_path / "run"
    # checkpoint_every = 0 (the default): the only checkpoint is the one SIGTERM writes
    assert train(task_recipe, run, "--set", "train.steps=20", "--set", "train.checkpoint_every=0") == 143
    assert "interrupted by SIGTERM at step 3; continue with --resume" in capsys.readouterr().out
    assert [p.name for _, p in ckpt.checkpoints(run)] == ["ckpt-00000003"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is gone with the run
    monkeypatch.setattr(Trainer, "train_batch", real)
    assert train(task_recipe, run, "--set", "train.steps=20", "--set", "train.checkpoint_every=0", "--resume") == 0
    assert "resumed at step 3" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the newest intact weights
def test_evaluate_uses_intact_final_weights_when_no_checkpoint_is_left(tmp_path, task_recipe, capsys):
    run = tmp_path / "run"
    assert train(task_recipe, run) == 0
    for _, path in ckpt.checkpoints(run):
        for file in path.iterdir():
            file.unlink()
        path.rmdir()
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "loss" in out and err == ""


def test_a_checkpoint_newer_than_the_final_weights_wins(tmp_path, task_recipe, capsys, monkeypatch):
    from seqlab.train.loop import Trainer

    run = tmp_path / "run"
    assert train(task_recipe, run) == 0  # final weights at step 4
    assert ckpt.weights_step(run / "model.safetensors") == 4
    real = Trainer.train_batch

    def ctrl_c_at_6(self):
        metrics = real(self)
        if self.step == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return metrics

    monkeypatch.setattr(Trainer, "train_batch", ctrl_c_at_6)
    assert train(task_recipe, run, "--resume", "--set", "train.steps=10") == 130
    capsys.readouterr()
    weights = ckpt.load_final_weights(run, run, on_warning=print)
    assert "holds step 4" in capsys.readouterr().out
    torch.testing.assert_close(weights, ckpt.load_weights(run / "ckpt-00000006"), rtol=0, atol=0)


# ----------------------------------------------------------------------------- a full disk
def test_a_full_disk_while_checkpointing_is_one_error_and_keeps_the_previous(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    ckpt.save_checkpoint(tmp_path, 2, model.state_dict(), {"step": 2})

    def full(tensors, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"\0" * 7)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt, "save_file", full)
    with pytest.raises(SeqlabError) as err:
        ckpt.save_checkpoint(tmp_path, 4, model.state_dict(), {"step": 4})
    assert "cannot write checkpoint ckpt-00000004" in str(err.value) and "ckpt-00000002, is untouched" in str(err.value)
    assert [p.name for _, p in ckpt.checkpoints(tmp_path)] == ["ckpt-00000002"]
    assert ckpt.check_manifest(tmp_path / "ckpt-00000002") is None and not list(tmp_path.glob(".ckpt-*"))
    with pytest.raises(SeqlabError, match="cannot write the final weights"):
        ckpt.save_weights(model.state_dict(), tmp_path)
    assert not (tmp_path / ".model.safetensors.tmp").exists()


# ----------------------------------------------------------------------------- sizes that cannot fit
def test_the_memory_estimate_counts_parameters_without_allocating_them():
    from seqlab.build import ModelConfig, build_model
    from seqlab.data.tasks import AddingProblem
    from seqlab.train.memory import count_parameters, footprint, optimizer_slots

    H, E = 65536, 32
    params = count_parameters(lambda: build_model(ModelConfig(hidden_size=H, embed_dim=E), AddingProblem()))
    lstm = 4 * H * (E + H) + 2 * 4 * H  # W_ih, W_hh and two biases
    assert params == lstm + (2 * E + E) + (H + 1)  # the input layer (2 -> E) and the head (H -> 1)
    need = footprint(params, optimizer_slots("adam"), 32, 100, 100, 13, H, 1, 1)
    assert need.weights == 16 * params and need.batch == 32 * 100 * 13 and need.kept == 4 * 32 * 100 * (H + 1)
    assert optimizer_slots("sgd") == 0 and optimizer_slots("sgd", 0.9) == 1


def test_an_allocator_error_is_one_line(capsys):
    from seqlab.cli import guarded

    def allocate():
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 68719476736 bytes.")

    assert guarded("seqlab train", allocate) == 2
    assert "out of memory" in one_line_error(capsys)
    with pytest.raises(RuntimeError, match="a bug"):
        guarded("seqlab train", lambda: (_ for _ in ()).throw(RuntimeError("a bug")))


# ----------------------------------------------------------------------------- bounded decoding
def test_the_decoding_batch_holds_at_most_max_hypotheses():
    from seqlab.decode import MAX_BEAM, MAX_HYPOTHESES, check_beam, hypotheses_batch

    assert hypotheses_batch(32, 5) == 32 and hypotheses_batch(32, MAX_BEAM) * MAX_BEAM <= MAX_HYPOTHESES
    assert hypotheses_batch(10**9, 1) == MAX_HYPOTHESES and hypotheses_batch(1, MAX_BEAM) == 1
    with pytest.raises(ValueError, match="between 1 and 64"):
        check_beam(1_000_000)


@pytest.mark.parametrize("seed", ["99999999999999999999", "-1", "x"])
def test_a_seed_out_of_range_is_one_line(tmp_path, capsys, seed):
    with pytest.raises(SystemExit) as done:
        main(["generate", str(tmp_path), "--seed", seed])
    assert done.value.code == 2 and "seed" in one_line_error(capsys)


def test_generate_length_is_bounded(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "-n", "10001"]) == 2
    assert "-n must be between 1 and 10,000" in one_line_error(capsys)
