"""The user's own files wherever a corpus name goes: every task trains a few steps on tiny
files written here, then evaluates on the split its run folder recorded; every bad file is
one line naming the file (and line), exit 2, and a run folder left as it was."""

from __future__ import annotations

import json
import math
import random

import pytest

from seqlab.cli import main

WORDS = "the cat sat on a mat and dog ran to big red house in rain".split()
TINY_LM = ["--set", "train.steps=3", "--set", "train.batch_size=2", "--set", "task.seq_len=8",
           "--set", "task.eval_chars=1000", "--set", "model.hidden_size=8", "--set", "model.embed_dim=8",
           "--set", "train.warmup_steps=0", "--set", "train.eval_every=3", "--set", "train.checkpoint_every=3",
           "--set", "train.progress=false"]
MT = ('[task]\nname = "translation"\ntokenizer = "char"\nmax_tokens = 300\neval_sentences = 3\n'
      '[model]\narch = "luong"\nembed_dim = 8\nhidden = 8\nlayers = 1\n'
      '[train]\nsteps = 2\nprogress = false\ndevice = "cpu"\n')
CLASSIFY = ('[task]\nname = "classify"\n[model]\narch = "gru"\nhidden_size = 8\nembed_dim = 8\n'
            '[train]\nsteps = 3\nbatch_size = 4\neval_every = 3\nprogress = false\n')
FORECAST = ('[task]\nname = "forecast"\ncontext = 6\nhorizon = 2\n[model]\narch = "gru"\nhidden_size = 8\n'
            '[train]\nsteps = 3\nbatch_size = 4\neval_every = 3\nprogress = false\n')

pytestmark = pytest.mark.usefixtures("one_thread", "cache")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("seqlab-cache")


@pytest.fixture
def cache(cache_dir, monkeypatch):
    monkeypatch.setenv("SEQLAB_CACHE", str(cache_dir))


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))) for _ in range(n)]


def write(path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def toml(value) -> str:
    """A string or a table of strings as a TOML value."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def recipe(tmp_path, text: str, corpus=None) -> str:
    """``text`` with ``corpus = ...`` after its [task] name line, as tmp_path/recipe.toml."""
    path = tmp_path / "recipe.toml"
    first, name, rest = text.split("\n", 2)
    line = "" if corpus is None else f"corpus = {toml(corpus)}\n"
    path.write_text(f"{first}\n{name}\n{line}{rest}")
    return str(path)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def lm_config() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / "configs" / "lm-bsb-char-lstm.toml")


# ----------------------------------------------------------------------------- training on files
def test_language_model_from_a_text_file_trains_evaluates_and_generates(tmp_path, capsys):
    lines = sentences(60)
    text = write(tmp_path / "some.txt", lines)
    run = tmp_path / "runs" / "mine"
    code, out, err = run_cli(capsys, "train", lm_config(), "--set", f"task.corpus={text}", "--out", run, *TINY_LM)
    assert code == 0, err
    record = json.loads((run / "data.json").read_text())
    # the documented rule: 60 lines -> the last 3 (5%) test, the 3 before them dev
    assert [record["splits"][s]["lines"] for s in ("train", "dev", "test")] == ["1-54", "55-57", "58-60"]
    assert list(record["files"]) == [str(tmp_path / "some.txt")]
    code, out, err = run_cli(capsys, "evaluate", run, "--split", "test", "--batch-size", "2")
    assert code == 0 and "bits per character" in out, err
    from seqlab.recipe import load_trained

    task = load_trained(run)[0].task
    assert task.token_file("test").chars == len("\n".join(lines[57:]))  # the test split is those 3 lines
    code, out, err = run_cli(capsys, "generate", run, "--prompt", "the cat", "-n", "10")
    assert code == 0 and out.startswith("the cat"), err


def test_split_files_are_read_whole_and_a_missing_split_is_carved_from_train(tmp_path, capsys):
    train, test = write(tmp_path / "train.txt", sentences(40)), write(tmp_path / "test.txt", sentences(5, 1))
    run = tmp_path / "run"
    corpus = f"task.corpus={toml({'train': train, 'test': test})}"
    code, _, err = run_cli(capsys, "train", lm_config(), "--set", corpus, "--out", run, *TINY_LM)
    assert code == 0, err
    splits = json.loads((run / "data.json").read_text())["splits"]
    assert splits["train"] == {"file": train, "lines": "1-38"} and splits["dev"] == {"file": train, "lines": "39-40"}
    assert splits["test"] == {"file": test, "lines": "1-5"}


def pairs(n: int) -> list[tuple[str, str]]:
    return [(s, " ".join(w.upper() for w in reversed(s.split()))) for s in sentences(n, 2)]


def test_translation_from_a_tsv_and_from_parallel_files_takes_the_same_split(tmp_path, capsys):
    data = pairs(40)
    tsv = write(tmp_path / "pairs.tsv", [f"{s}\t{t}" for s, t in data])
    src, tgt = write(tmp_path / "a.src", [s for s, _ in data]), write(tmp_path / "a.tgt", [t for _, t in data])
    records = {}
    for name, corpus in (("tsv", tsv), ("parallel", {"src": src, "tgt": tgt})):
        run = tmp_path / name
        code, out, err = run_cli(capsys, "train", recipe(tmp_path, MT, corpus), "--out", run)
        assert code == 0 and "completed after 2 steps" in out, err
        code, out, err = run_cli(capsys, "evaluate", run, "--split", "test", "--beam", "1", "--no-aer")
        assert code == 0 and "BLEU" in out and "(2 sentences" in out, err  # 5% of 40 pairs
        records[name] = json.loads((run / "data.json").read_text())["splits"]
    assert [records["tsv"][s]["lines"] for s in ("dev", "test")] == [records["parallel"][s]["lines"]
                                                                     for s in ("dev", "test")]
    assert records["parallel"]["test"]["file"] == {"src": src, "tgt": tgt}


def test_classifier_from_a_csv_trains_and_scores_its_test_rows(tmp_path, capsys):
    rows = [f'"{s}",{"cat" if "cat" in s else "other"}' for s in sentences(60, 3)]
    csv = write(tmp_path / "reviews.csv", ["text,label"] + rows)
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", recipe(tmp_path, CLASSIFY, csv), "--out", run)
    assert code == 0 and "accuracy" in out, err
    code, out, err = run_cli(capsys, "evaluate", run, "--split", "test")
    assert code == 0 and "accuracy" in out and "(3 scored targets)" in out, err  # 5% of 60 rows
    assert json.loads((run / "data.json").read_text())["splits"]["test"]["file"] == csv


def test_forecaster_from_a_csv_column_trains_and_scores_its_test_windows(tmp_path, capsys):
    rows = [f"2020-{i},{10 + 3 * math.sin(i / 4):.4f}" for i in range(80)]
    csv = write(tmp_path / "series.csv", ["month,level"] + rows)
    run = tmp_path / "run"
    config = recipe(tmp_path, FORECAST, csv)
    code, out, err = run_cli(capsys, "train", config, "--out", run, "--set", "task.value_column=level",
                             "--set", "task.time_column=month")
    assert code == 0 and "mae" in out, err
    code, out, err = run_cli(capsys, "evaluate", run, "--split", "test")
    # the last 16 of 80 steps are test (20%): origins 64..78 whose 2 future steps lie inside it
    assert code == 0 and "mae" in out and "(15 scored targets)" in out, err
    assert json.loads((run / "data.json").read_text())["splits"]["test"]["lines"] == "66-81"


def test_data_check_shows_sizes_lengths_coverage_and_examples(tmp_path, capsys):
    text = write(tmp_path / "some.txt", sentences(60))
    code, out, err = run_cli(capsys, "data", "check", lm_config(), "--set", f"task.corpus={text}", "-n", "2")
    assert code == 0, err
    assert "train lines 1-54" in out and "in vocabulary" in out and "100.00%" in out
    assert "p50/p90/p99/max" in out and sentences(60)[0] in out
    assert not (tmp_path / "runs").exists()


def test_evaluate_and_resume_refuse_a_file_changed_since_the_run(tmp_path, capsys):
    text = tmp_path / "some.txt"
    write(text, sentences(60))
    run = tmp_path / "run"
    assert run_cli(capsys, "train", lm_config(), "--set", f"task.corpus={text}", "--out", run, *TINY_LM)[0] == 0
    write(text, sentences(60, 9))
    code, _, err = run_cli(capsys, "evaluate", run, "--split", "test", "--batch-size", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "changed since" in err and str(text) in err
    code, _, err = run_cli(capsys, "train", lm_config(), "--set", f"task.corpus={text}", "--out", run, "--resume",
                           *TINY_LM)
    assert code == 2 and "--resume continues a run on the data it began with" in err


def test_train_help_shows_the_one_recipe_shape(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert all(t in out for t in ("[task]", "[model]", "[train]", "pairs.tsv", "{train =", "--set task.corpus"))


# ----------------------------------------------------------------------------- bad files
def _lm(tmp_path, corpus) -> list:
    return [lm_config(), "--set", f"task.corpus={corpus}", *TINY_LM]


def _with(text: str):
    def make(tmp_path):
        return recipe(tmp_path, text, None)
    return make


def bad_cases():
    """(name, files to write {name: bytes}, recipe maker, args, text the line must hold)."""
    tsv = MT.replace('name = "translation"', 'name = "translation"\ncorpus = "bad.tsv"')
    para = MT.replace('name = "translation"', 'name = "translation"\ncorpus = {src = "a.src", tgt = "a.tgt"}')
    csv = CLASSIFY.replace('name = "classify"', 'name = "classify"\ncorpus = "rows.csv"')
    series = FORECAST.replace('name = "forecast"', 'name = "forecast"\ncorpus = "series.csv"')
    good = "".join(f"{s}\n" for s in sentences(40)).encode()
    return [
        ("missing", {}, "lm", "missing.txt", "unknown corpus: no file"),
        ("empty", {"empty.txt": b""}, "lm", "empty.txt", "empty.txt is empty"),
        ("folder", {"folder/x.txt": b"x\n"}, "lm", "folder", "is a folder"),
        ("binary", {"bin.txt": good + b"ab\0cd\n"}, "lm", "bin.txt", "bin.txt:41: binary content"),
        ("not utf-8", {"latin.txt": good + "caf\u00e9\n".encode("latin-1")}, "lm", "latin.txt",
         "latin.txt:41: not UTF-8 text (byte 0xe9 at byte 4"),
        ("too few lines", {"two.txt": b"one\ntwo\n"}, "lm", "two.txt", "2 lines are too few"),
        ("too few tokens", {"short.txt": b"a\nb\nc\nd\n"}, "lm", "short.txt", "too few for a batch of 2 streams"),
        ("no tab", {"bad.tsv": b"a\tA\nb B\nc\tC\n"}, tsv, None, "bad.tsv:2: no tab"),
        ("two tabs", {"bad.tsv": b"a\tA\nb\tB\tb\n"}, tsv, None, "bad.tsv:2: 2 tabs"),
        ("empty side", {"bad.tsv": b"a\tA\nb\t \n"}, tsv, None, "bad.tsv:2: empty target side"),
        ("tsv too small", {"bad.tsv": b"a\tA\nb\tB\n"}, tsv, None, "2 sentence pairs are too few"),
        ("line counts", {"a.src": b"a\nb\nc\n", "a.tgt": b"A\nB\n"}, para, None, "a.src:3: no partner line in"),
        ("parallel empty line", {"a.src": b"a\n\nc\n", "a.tgt": b"A\nB\nC\n"}, para, None, "a.src:2: empty line"),
        ("no column", {"rows.csv": b"txt,label\nx,a\ny,b\nz,a\n"}, csv, None, "rows.csv:1: no column 'text'"),
        ("one class", {"rows.csv": b"text,label\nx,a\ny,a\nz,a\nw,a\n"}, csv, None, "holds one class ('a')"),
        ("field count", {"rows.csv": b"text,label\nx,a\ny,b,c\n"}, csv, None, "rows.csv:3: 3 fields"),
        ("not a number", {"series.csv": b"value\n1\n2\nlots\n"}, series, None, "series.csv:4: 'lots'"),
        ("series too short", {"series.csv": b"value\n" + b"".join(b"%d\n" % i for i in range(12))}, series, None,
         "holds no window"),
    ]


@pytest.mark.parametrize("name,files,config,corpus,expected", bad_cases(), ids=[c[0] for c in bad_cases()])
def test_a_bad_file_is_one_line_exit_2_and_an_untouched_run_folder(tmp_path, monkeypatch, capsys, name, files,
                                                                   config, corpus, expected):
    monkeypatch.chdir(tmp_path)
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    args = _lm(tmp_path, corpus) if config == "lm" else [recipe(tmp_path, config)]
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    for out in (tmp_path / "new", kept):
        code, stdout, err = run_cli(capsys, "train", *args, "--out", out)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert expected in lines[0] and (corpus or "").split("/")[0] in lines[0]
    assert not (tmp_path / "new").exists()
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]
    code, _, err = run_cli(capsys, "data", "check", *args)  # seqlab data check reads them as train does
    assert code == 2 and expected in err


# ----------------------------------------------------------------------------- reading, splitting, tokens
def test_the_check_reads_in_chunks_and_still_names_the_right_line(tmp_path, monkeypatch):
    from seqlab.data.corpora import files
    from seqlab.errors import SeqlabError

    monkeypatch.setattr(files, "CHUNK", 5)  # chunks end inside lines and inside multi-byte characters
    text = "Ἐν ἀρχῇ ἦν\nὁ λόγος, a long line without end " * 3 + "é"
    path = tmp_path / "greek.txt"
    path.write_text(text, encoding="utf-8")
    info = files.check_file(path)
    assert info.lines == 4 and info.size == len(text.encode())
    assert [t for _, t in files.read_lines(path, 1, 3)] == text.split("\n")[1:3]
    path.write_bytes(text.encode() + b"\nline five\nbad \xff here\n")
    with pytest.raises(SeqlabError, match=r"greek.txt:6: not UTF-8 text \(byte 0xff at byte 5 of the line\)"):
        files.check_file(path)


def test_split_rules_by_hand():
    from seqlab.data.corpora.files import contiguous_split, line_ranges, shuffled_split

    assert contiguous_split(40, "x") == {"train": range(0, 36), "dev": range(36, 38), "test": range(38, 40)}
    assert contiguous_split(3, "x") == {"train": range(0, 1), "dev": range(1, 2), "test": range(2, 3)}
    dealt = shuffled_split(40, "x")
    assert sorted(sum(dealt.values(), [])) == list(range(40)) and [len(dealt[s]) for s in dealt] == [36, 2, 2]
    assert dealt == shuffled_split(40, "y")  # a fixed seed: the same split on every machine
    assert shuffled_split(40, "x", carve=("test",))["test"] == dealt["test"]  # test is dealt first
    assert line_ranges([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"


@pytest.mark.parametrize("kind,vocab", [("char", None), ("word", None), ("bpe", 300)])
def test_token_files_hold_the_ids_of_the_whole_text(tmp_path, monkeypatch, kind, vocab):
    import numpy as np

    from seqlab.data import tokens
    from seqlab.data.tokenize import train_tokenizer

    lines = sentences(300, 5) + ["Ünïcode ✓ and CAPITALS"]
    tok = train_tokenizer(kind, lines[:200], vocab)
    monkeypatch.setattr(tokens, "PIECE_CHARS", 100)  # many pieces, each ending at a line end
    file = tokens.token_file(tok, f"lines-{kind}", iter(lines))
    assert isinstance(file.ids, np.memmap) and file.ids.dtype == np.uint16
    assert file.ids.tolist() == tok.encode("\n".join(lines)) and file.chars == len("\n".join(lines))
    cut = tokens.token_file(tok, f"lines-{kind}", iter(lines), limit_chars=500)
    assert cut.ids.tolist() == tok.encode("\n".join(lines)[:500])
    again = tokens.token_file(tok, f"lines-{kind}", iter(()))  # found in the cache: the texts are not read
    assert again.ids.tolist() == file.ids.tolist()


def test_the_classify_task_takes_a_built_in_set_the_same_way(tmp_path, capsys):
    pytest.importorskip("sktime")
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", recipe(tmp_path, CLASSIFY, "japanese_vowels"), "--out", run,
                             "--set", "task.pooling=mean", "--set", "model.bidirectional=true")
    assert code == 0 and "accuracy" in out, err
    code, out, err = run_cli(capsys, "evaluate", run, "--split", "test")
    assert code == 0 and "(370 scored targets)" in out, err  # the official test split
    assert json.loads((run / "data.json").read_text())["corpus"] == "japanese_vowels"
