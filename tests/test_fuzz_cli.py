"""The CLI's rule for what users type and feed it: exit 0, or exit 2 with one line on
stderr; never a traceback, never a hang. Fixed cases for each command's inputs, then
property-based fuzzing (hypothesis) of recipe files, --set, translate's stdin and the
arguments of generate and data show, bounded in examples and time."""

from __future__ import annotations

import contextlib
import io
import math
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqlab.cli import main
from seqlab.cli.generate import MAX_LENGTH

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

MT = (
    '[task]\nname = "translation"\ncorpus = "numbers"\ntokenizer = "char"\nnumbers_size = 60\nnumbers_max_words = 4\n'
    'max_tokens = 400\neval_sentences = 4\n'
    '[model]\narch = "luong"\nembed_dim = 8\nhidden = 16\nlayers = 1\n'
    '[train]\nmax_minutes = 1.0\nsteps = 2\ndevice = "cpu"\nprogress = false\n'
)
LM = (
    '[task]\nname = "lm"\ncorpus = "bsb_en"\nseq_len = 16\neval_chars = 2000\n'
    '[model]\narch = "lstm"\nhidden_size = 16\nembed_dim = 8\n'
    '[train]\nsteps = 2\nbatch_size = 4\neval_every = 2\nprogress = false\n'
)
TASK = (
    '[task]\nname = "adding"\nlength = 6\n'
    '[model]\narch = "lstm"\nhidden_size = 8\n'
    '[train]\nsteps = 2\nbatch_size = 4\nprogress = false\n'
)


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def cli(args: list[str], stdin: bytes = b"") -> tuple[int, str, str]:
    """Run the CLI in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = _Stdin(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as done:  # argparse
                code = done.code
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def assert_rule(code: int, err: str) -> None:
    """Exit 0, or exit 2 with exactly one line on stderr; no traceback either way."""
    assert "Traceback" not in err, err
    if code != 0:
        assert code == 2, (code, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "error:" in lines[0], err


VERSES = ["In the beginning God created the heavens and the earth.", "And God said, “Let there be light,”",
          "and there was light.", "Ἐν ἀρχῇ ἦν ὁ λόγος"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny translation run (trained) and a language-model run (its initial weights as a
    checkpoint: generate needs no trained model). The language model reads a few verses
    in place of the whole bsb_en corpus, whose parsing would take most of this module's time."""
    import tomllib

    import seqlab.data.corpora
    from seqlab.build import build_model
    from seqlab.data.corpora.base import TextCorpus
    from seqlab.recipe import recipe_from_dict
    from seqlab.train.checkpoint import save_checkpoint, save_weights
    from seqlab.train.run_folder import write_recipe

    real_load = seqlab.data.corpora.load_corpus
    verses = TextCorpus("bsb_en", None, {s: [(f"{s} {i}", v) for i, v in enumerate(VERSES)]
                                         for s in ("train", "dev", "test")})

    def load_corpus(name):
        return verses if name == "bsb_en" else real_load(name)

    root = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    patch = pytest.MonkeyPatch()
    patch.setattr(seqlab.data.corpora, "load_corpus", load_corpus)
    patch.setenv("SEQLAB_CACHE", str(root / "cache"))
    try:
        (root / "mt.toml").write_text(MT)
        code, _, err = cli(["train", str(root / "mt.toml"), "--out", str(root / "mt")])
        assert code == 0, err
        recipe = recipe_from_dict({**tomllib.loads(LM), "out": str(root / "lm")})
        torch.manual_seed(0)
        model = build_model(recipe.model, recipe.task)
        save_checkpoint(root / "lm", 0, model.state_dict(), {"step": 0})
        save_weights(model.state_dict(), root / "lm", step=0)  # a run's end: the final weights too
        write_recipe(root / "lm", recipe.to_dict())
        yield root
    finally:
        patch.undo()
        torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- translate
def test_translate_stdin_keeps_one_output_line_per_input_line(runs):
    code, out, err = cli(["translate", str(runs / "mt"), "--beam", "1"], b"seven\n\n  \nthree\r\nfour")
    assert code == 0, err
    lines = out.split("\n")
    assert lines[-1] == "" and len(lines) - 1 == 5
    assert lines[1] == "" and lines[2] == "" and lines[0] and lines[3] and lines[4]


def test_translate_an_empty_argument_gives_an_empty_line_and_says_so(runs):
    code, out, err = cli(["translate", str(runs / "mt"), "", "seven", "--beam", "1"])
    assert code == 0
    first, second = out.split("\n")[:2]
    assert first == "" and second
    assert "sentence 1 is empty" in err


@pytest.mark.parametrize("args,stdin,needle", [
    ([], b"\xff\xfe\n", "stdin line 1 is not UTF-8"),
    ([], b"", "nothing to translate"),
    (["seven", "--attention", "/missing/dir/a.png"], b"", "does not exist"),
    (["seven", "--attention", "a.txt"], b"", "name a .png"),
    (["seven", "--beam", "0"], b"", "between 1 and 64"),
    (["seven", "--beam", "1000000"], b"", "between 1 and 64"),
    (["seven", "--batch-size", "0"], b"", "--batch-size must be at least 1"),
    (["seven", "--alpha", "nan"], b"", "--alpha"),
])
def test_translate_mistakes_are_one_line(runs, args, stdin, needle):
    code, _, err = cli(["translate", str(runs / "mt"), *args], stdin)
    assert code == 2
    assert_rule(code, err)
    assert needle in err


def test_translate_and_evaluate_write_nothing_where_they_run_by_default(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(["translate", str(runs / "mt"), "seven", "--beam", "1"])[0] == 0
    assert cli(["evaluate", str(runs / "mt"), "--limit", "2", "--beam", "1"])[0] == 0
    assert list(tmp_path.iterdir()) == []
    # the paths the user gives are used as given
    assert cli(["translate", str(runs / "mt"), "seven", "--beam", "1", "--attention", "a.png"])[0] == 0
    assert cli(["evaluate", str(runs / "mt"), "--limit", "2", "--beam", "1", "--json", "s.json"])[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "s.json"]


# ----------------------------------------------------------------------------- generate, evaluate, data
@pytest.mark.parametrize("args,needle", [
    (["--top-k", "0"], "--top-k must be at least 1"),
    (["--top-k", "-5"], "--top-k must be at least 1"),
    (["--temperature", "nan"], "--temperature must be a number >= 0"),
    (["--temperature", "-1"], "--temperature must be a number >= 0"),
    (["-n", "0"], "-n must be between 1"),
    (["-n", "100000000"], "-n must be between 1"),
    (["--prompt", ""], "no tokens"),
])
def test_generate_mistakes_are_one_line(runs, args, needle):
    code, out, err = cli(["generate", str(runs / "lm"), *args])
    assert code == 2 and out == ""
    assert_rule(code, err)
    assert needle in err


def test_generate_on_a_translation_run_names_the_run(runs):
    code, _, err = cli(["generate", str(runs / "mt")])
    assert code == 2 and f"{runs / 'mt'} is a translation run" in err


def test_generate_streams_the_same_text_it_would_print_at_once(runs, monkeypatch):
    import seqlab.generate
    from seqlab.recipe import load_trained

    code, out, _ = cli(["generate", str(runs / "lm"), "--prompt", "In the", "-n", "40", "--seed", "3"])
    assert code == 0
    recipe, model = load_trained(runs / "lm")
    tok = recipe.task.tokenizer_obj
    ids = seqlab.generate.generate(model, tok.encode("In the"), 40, 0.8, None, 3)
    assert out == "In the" + tok.decode(ids) + "\n"
    drawn, seen_at_write = [0], []
    real = seqlab.generate.generate_stream

    def counting(*args, **kwargs):
        for i in real(*args, **kwargs):
            drawn[0] += 1
            yield i

    class Recorder(io.StringIO):
        def write(self, text):
            seen_at_write.append(drawn[0])
            return super().write(text)

    monkeypatch.setattr(seqlab.generate, "generate_stream", counting)
    monkeypatch.setattr(sys, "stdout", Recorder())
    assert main(["generate", str(runs / "lm"), "-n", "30", "--temperature", "0"]) == 0
    assert drawn[0] == 30 and any(0 < n < 30 for n in seen_at_write)  # text came out while sampling


@pytest.mark.parametrize("args,needle", [
    (["show", "nt_el_en", "-n", "-1"], "-n must be at least 1"),
    (["show", "nt_el_en", "-n", "0"], "-n must be at least 1"),
    (["show", "nope"], "nope"),
    (["show", "nile", "--split", "valid"], "no split"),
])
def test_data_show_mistakes_are_one_line(args, needle):
    code, _, err = cli(["data", *args])
    assert code == 2
    assert_rule(code, err)
    assert needle in err


@pytest.mark.parametrize("args,needle", [
    (["--limit", "0"], "--limit must be at least 1"),
    (["--json", "/missing/dir/s.json"], "does not exist"),
])
def test_evaluate_mistakes_are_one_line(runs, args, needle):
    code, _, err = cli(["evaluate", str(runs / "mt"), *args])
    assert code == 2 and needle in err


# ----------------------------------------------------------------------------- fuzzing
class _Reached(Exception):
    """The recipe was valid: the command got as far as building the model."""


@pytest.fixture
def stop_before_training(monkeypatch):
    import seqlab.build
    import seqlab.translation.loop

    def reached(*args, **kwargs):
        raise _Reached

    monkeypatch.setattr(seqlab.build, "build_model", reached)
    monkeypatch.setattr(seqlab.translation.loop, "train_translator", reached)


def _train_until_built(args: list[str]) -> tuple[int, str]:
    try:
        code, _, err = cli(args)
    except _Reached:
        return 0, ""
    return code, err


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".toml", ".yaml", ".yml"]))
def test_fuzz_recipe_files(tmp_path, stop_before_training, data, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    code, err = _train_until_built(["train", str(path), "--out", str(tmp_path / "run")])
    assert_rule(code, err)


KEYS = st.sampled_from(["task.name", "task.length", "train.lr", "train.steps", "train.schedule", "model.arch",
                        "model.hidden_size", "train.tbptt_k1", "train.clip_norm", "out", "task", "train",
                        "data.corpus", "model", "train.seed", "x.y.z"])


@FUZZ
@given(overrides=st.lists(st.one_of(st.text(max_size=30),
                                    st.tuples(KEYS, st.text(max_size=12)).map("=".join),
                                    st.tuples(KEYS, st.sampled_from(["nan", "inf", "-1", "1e400", "[1]", "{a=1}",
                                                                     "true", '"x"', "0", "10**9", ""]))
                                    .map("=".join)), max_size=4))
def test_fuzz_set_overrides(tmp_path, stop_before_training, overrides):
    recipe = tmp_path / "task.toml"
    recipe.write_text(TASK)
    args = ["train", str(recipe), "--out", str(tmp_path / "run")]
    for item in overrides:
        args += ["--set", item]
    code, err = _train_until_built(args)
    assert_rule(code, err)


@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=20).map(lambda t: t.encode("utf-8"))),
                      max_size=4))
def test_fuzz_translate_stdin(runs, lines):
    data = b"\n".join(lines)
    code, out, err = cli(["translate", str(runs / "mt"), "--beam", "1"], data)
    assert_rule(code, err)
    if code == 0:
        expected = data.split(b"\n")
        if expected[-1] == b"":
            expected.pop()
        assert out.count("\n") == len(expected)


@settings(FUZZ, max_examples=12)  # a valid call loads the model: keep them few
@given(n=st.one_of(st.integers(-3, 8), st.sampled_from([10**6, 10**12, -(10**12)])),
       temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1.0])),
       top_k=st.one_of(st.none(), st.integers(-3, 5), st.just(10**9)),
       prompt=st.text(max_size=8))
def test_fuzz_generate_arguments(runs, n, temperature, top_k, prompt):
    args = ["generate", str(runs / "lm"), "-n", str(n), f"--temperature={temperature}", f"--prompt={prompt}"]
    if top_k is not None:
        args.append(f"--top-k={top_k}")
    code, out, err = cli(args)
    assert_rule(code, err)
    valid = 1 <= n <= MAX_LENGTH and math.isfinite(temperature) and temperature >= 0 and (top_k is None or top_k >= 1)
    if code == 0:
        assert valid and out.startswith(prompt)


@FUZZ
@given(corpus=st.one_of(st.sampled_from(["co2", "nile"]), st.text(max_size=10)),
       n=st.one_of(st.integers(-3, 5), st.just(10**12)),
       split=st.one_of(st.sampled_from(["train", "dev", "test"]), st.text(max_size=6)))
def test_fuzz_data_show_arguments(corpus, n, split):
    code, _, err = cli(["data", "show", corpus, f"-n={n}", f"--split={split}"])
    assert_rule(code, err)
