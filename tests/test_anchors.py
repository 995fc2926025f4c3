"""benchmarks/anchors: the corpus in Joey NMT's format, Joey configs at the recipes' shapes, its log.

Joey itself is not installed here (the benchmark installs it into an environment of its own);
these tests check what seqlab writes for it and what it reads back.
"""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.bench.recurrent import load_script
from seqlab.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
joey = load_script(ROOT / "benchmarks" / "anchors" / "joey.py")


class _Tokenizer:
    def __init__(self, pieces):
        self.pieces, self.model_file = pieces, Path("/tmp/spm.model")

    @property
    def vocab_size(self):
        return len(self.pieces)

    def id_to_piece(self, i):
        return self.pieces[i]


class _Corpus:
    splits = {"train": [("α β", "a b"), ("γ\nδ", "c  d")], "dev": [("ε", "e"), ("ζ", "f"), ("η", "g")]}

    def texts(self, split, side):
        return [p[0] if side == "src" else p[1] for p in self.splits[split]]


def _config(recipe_file):
    recipe = load_recipe(ROOT / "configs" / recipe_file)
    toks = (_Tokenizer(["<pad>", "<s>"]), _Tokenizer(["<pad>"]))
    data = {"train": Path("/d/train"), "dev": Path("/d/dev")}
    return recipe, joey.config(recipe, "x", data, toks, (Path("/v.el"), Path("/v.en")), Path("/m"), 1, 50)


def test_bahdanau_config_has_the_recipe_shape():
    recipe, cfg = _config("mt-nt-bahdanau-lstm.toml")
    enc, dec, m = cfg["model"]["encoder"], cfg["model"]["decoder"], recipe.model
    assert enc["bidirectional"] and enc["rnn_type"] == dec["rnn_type"] == "lstm"
    assert enc["hidden_size"] == dec["hidden_size"] == m.hidden == 256
    assert enc["num_layers"] == dec["num_layers"] == m.layers == 2
    assert enc["embeddings"]["embedding_dim"] == m.embed_dim and dec["attention"] == "bahdanau"
    train = cfg["training"]
    assert train["batch_size"] == recipe.task.max_tokens and train["batch_type"] == "token"
    assert train["learning_rate"] == recipe.train.lr and train["label_smoothing"] == recipe.task.label_smoothing
    assert train["scheduling"] == "exponential" and train["decrease_factor"] == 1.0  # ExponentialLR(gamma=1): constant
    assert cfg["testing"]["beam_size"] == 1 and cfg["testing"]["max_output_length"] == 50


def test_transformer_config_has_the_recipe_shape():
    recipe, cfg = _config("mt-nt-transformer.toml")
    m = recipe.model
    for side in ("encoder", "decoder"):
        layer = cfg["model"][side]
        assert (layer["num_layers"], layer["hidden_size"], layer["num_heads"], layer["ff_size"]) == \
            (m.layers, m.hidden, m.heads, m.ff)
        assert layer["layer_norm"] == "pre"
    assert cfg["model"]["tied_softmax"] is m.tie_embeddings
    assert cfg["training"]["scheduling"] == "warmupinversesquareroot"
    assert cfg["training"]["learning_rate_warmup"] == recipe.train.warmup_steps


def test_unsupported_arch_is_refused():
    recipe = load_recipe(ROOT / "configs" / "mt-nt-convs2s.toml")
    with pytest.raises(ValueError, match="no Joey counterpart"):
        joey.config(recipe, "x", {"train": Path("t"), "dev": Path("d")}, (None, None), (None, None), Path("m"), 0, 5)


def test_corpus_is_one_verse_a_line_and_dev_is_cut(tmp_path):
    prefixes = joey.write_corpus(_Corpus(), tmp_path, "el", "en", dev_sentences=2)
    assert Path(f"{prefixes['train']}.el").read_text(encoding="utf-8") == "α β\nγ δ\n"
    assert Path(f"{prefixes['train']}.en").read_text(encoding="utf-8") == "a b\nc d\n"
    assert Path(f"{prefixes['dev']}.en").read_text(encoding="utf-8") == "e\nf\n"


def test_vocab_file_lists_every_piece(tmp_path):
    assert joey.write_vocab(_Tokenizer(["<pad>", "▁a", "b"]), tmp_path / "v") == 3
    assert (tmp_path / "v").read_text(encoding="utf-8").splitlines() == ["<pad>", "▁a", "b"]


def test_train_log_is_parsed():
    lines = ["2026 - INFO - joeynmt.training - EPOCH 1",
             "x - Epoch   1, Step:       10, Batch Loss: 5.1, Batch Acc: 0.01, Tokens per Sec:     1200, Lr: 0.001",
             "x - Epoch   1, Step:       20, Batch Loss: 4.9, Batch Acc: 0.02, Tokens per Sec:     1400, Lr: 0.001",
             "x - Epoch   1, Step:       30, Batch Loss: 4.8, Batch Acc: 0.03, Tokens per Sec:     1000, Lr: 0.001",
             "x - Interrupt at epoch 1, step 34."]
    stats = joey.parse_train_log(lines)
    assert stats["rates"] == [1200, 1400, 1000] and stats["tokens_per_s"] == 1200 and stats["updates"] == 34
    assert joey.parse_train_log(lines[:2])["updates"] == 10  # no interrupt line: the last logged step


# ------------------------------------------------------------------ stopping Joey at the budget

anchors = load_script(ROOT / "benchmarks" / "anchors" / "anchors.py")

# Like Joey's loop: a KeyboardInterrupt is how it is told to save and stop. This one swallows
# the first (as Joey can, outside its training loop) and stops at the second.
SWALLOWS_ONE = """
import sys, time
print("ready", flush=True)
for attempt in range(2):
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        if attempt == 1:
            sys.exit(0)
sys.exit(3)  # the second SIGINT never came
"""


def _child(code, **kwargs):
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **kwargs)
    assert child.stdout.readline().strip() == "ready"  # its handler is in place
    return child


def test_interrupt_sends_again_when_the_first_is_swallowed():
    # as the benchmark starts Joey: SIGINT handled even where pytest runs with it ignored (a background job)
    child = _child(SWALLOWS_ONE, preexec_fn=anchors._default_sigint)
    anchors.interrupt(child, tries=3, wait_s=2.0)
    assert child.returncode == 0  # stopped by the second SIGINT, on its own terms


def test_interrupt_gives_up_on_a_child_that_never_stops():
    child = _child("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                   "time.sleep(60)")
    with pytest.raises(anchors.ToolkitError, match="did not stop after 2 interrupts"):
        anchors.interrupt(child, tries=2, wait_s=0.5)
    assert child.returncode is not None  # killed, not left running


@pytest.mark.parametrize("reset", [True, False])
def test_joey_gets_sigint_back_even_from_a_background_script(reset):
    """A parent started in the background has SIGINT ignored; without the reset the child inherits
    that, and Python then never raises KeyboardInterrupt in it."""
    report = "import signal\nprint('ready', flush=True)\nprint(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = _child(report, preexec_fn=anchors._default_sigint if reset else None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert child.stdout.readline().strip() == str(reset)
    child.wait()
