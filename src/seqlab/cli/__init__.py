"""The command line: the only module that reads argv.

Each subcommand lives in its own module of this package and defines
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports (torch) happen
inside ``run`` so that ``seqlab --help`` stays instant.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import sys
from typing import Callable

from seqlab.errors import SeqlabError
from seqlab.host_memory import keep_freed_host_memory

# command name -> (module in seqlab.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train a model from a TOML/YAML recipe (tasks, language models, translation)"),
    "models": ("catalog", "list the model architectures"),
    "tasks": ("catalog", "list the synthetic tasks"),
    "data": ("data", "list, describe and show the real corpora"),
    "forecast": ("forecast", "forecast statsmodels series: baselines vs a recurrent net"),
    "classify": ("classify", "train a recurrent sequence classifier (sktime sets)"),
    "embed": ("embed", "static vs contextual word vectors (claim C18)"),
    "bench": ("bench", "measure the machine and each architecture's speed (table + JSON)"),
    "reproduce": ("reproduce", "run the claims' experiments and print their verdicts (--list: the claims list)"),
    "report": ("report", "render a run folder into one self-contained HTML report"),
    "drill": ("drill", "the chapter's drills on the NumPy reference (hand-written BPTT)"),
    "generate": ("generate", "sample text from a trained language model"),
    "translate": ("translate", "translate sentences with a trained model (beam search, attention PNG)"),
    "evaluate": ("evaluate", "held-out scores of a run: BLEU/chrF/AER, or loss/perplexity/bits per char"),
}


class Parser(argparse.ArgumentParser):
    """argparse with the CLI's one rule for mistakes: one line on stderr, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def at_least_one(args: argparse.Namespace, *names: str) -> None:
    """Each named integer option must be >= 1: else one line naming it."""
    from seqlab.errors import SeqlabError

    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "-" + name if len(name) == 1 else "--" + name.replace("_", "-")
            raise SeqlabError(f"{flag} must be at least 1, got {value}")


def positive_ints(text: str, flag: str, sep: str = ",") -> tuple[int, ...]:
    """A list of integers >= 1 as typed (``128,1024``), or one line naming ``flag``."""
    from seqlab.errors import SeqlabError

    try:
        values = tuple(int(part) for part in text.split(sep))
    except ValueError:
        raise SeqlabError(f"{flag} {text!r}: give integers separated by {sep!r}") from None
    if not values or min(values) < 1:
        raise SeqlabError(f"{flag} {text!r}: every number must be at least 1")
    return values


def seed_value(text: str) -> int:
    """argparse type of a --seed: an integer 0 .. 2**32 - 1 (``seqlab.config.MAX_SEED``)."""
    from seqlab.config import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: give an integer") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {value} is out of range: give 0 to {MAX_SEED:,}")
    return value


def one_line(text: str) -> str:
    """A message as one line: its lines joined, whitespace runs collapsed."""
    return " ".join(str(text).split())


EPILOG = ("Start with `seqlab reproduce --list` (the chapter's claims and their experiments), "
          "`seqlab models` and `seqlab tasks`; `seqlab COMMAND --help` shows each command's options "
          "with their defaults.")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default (options without a default say nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default == []
        if unset or action.default == argparse.SUPPRESS or "(default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from seqlab import __version__

    parser = Parser(
        prog="seqlab",
        description="seqlab: the classic sequence models, trained, measured and reported.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"seqlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        mod = importlib.import_module(f"seqlab.cli.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        mod.add_arguments(p, name)
        for action in p._actions:  # `seqlab data info --help` shows its defaults too
            if isinstance(action, argparse._SubParsersAction):
                for nested in action.choices.values():
                    nested.formatter_class = HelpFormatter
        p.set_defaults(_module=mod, _name=name)
    return parser


# commands that create nothing random: no need to import torch to seed it
UNSEEDED = {"models", "tasks", "data", "report"}


def seed_command(args: argparse.Namespace) -> None:
    """Seed Python, NumPy and torch before the command creates anything random.

    The seed is the command's ``--seed`` where it has one, else 0; ``seqlab train``
    seeds again from its recipe's ``train.seed`` before it builds the model.
    """
    if args._name in UNSEEDED or getattr(args, "list", False):  # reproduce --list runs nothing
        return
    from seqlab.train.device import seed_everything

    seed_everything(getattr(args, "seed", None) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run one command under the rule for errors (``guarded``)."""
    args = build_parser().parse_args(argv)

    def body() -> int:
        keep_freed_host_memory()
        seed_command(args)
        return int(args._module.run(args) or 0)

    return guarded(f"seqlab {args._name}", body)


def guarded(name: str, body: Callable[[], int]) -> int:
    """Run ``body()`` (a command, or a benchmark script's main) under the rule for errors.

    Whatever the user's files, arguments, text or environment cause (``SeqlabError``;
    ``OSError`` and ``UnicodeError`` from the file system and the text codecs; memory the
    allocator cannot give: ``MemoryError``, torch's out-of-memory errors) is one line on
    stderr, ``NAME: error: ...``, and exit status 2; anything else is a bug in seqlab and
    keeps its traceback. Ctrl-C outside training is exit status 130.
    """
    try:
        return body()
    except SeqlabError as err:
        return _fail(name, str(err))
    except BrokenPipeError:  # `seqlab translate ... | head -1`: the reader left; say nothing
        _silence_stdout()
        return 1
    except OSError as err:
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        return _fail(name, f"{where}{err.strerror or err}")
    except UnicodeError as err:
        return _fail(name, f"not valid text: {err}")
    except MemoryError:
        return _fail(name, "out of memory; lower the sizes (batch, model, sequence length)")
    except RuntimeError as err:
        if not _out_of_memory(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return _fail(name, f"out of memory ({first}); lower the sizes (batch, model, sequence length)")
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


def one_line_errors(name: str):
    """Decorator for a script's ``main(argv)`` (``benchmarks/``): the same rule for errors as
    the commands (``guarded``), naming the script, and the same host allocator settings
    (``seqlab.host_memory``)."""
    def wrap(main_function: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main_function)
        def guarded_main(*args, **kwargs) -> int:
            keep_freed_host_memory()
            return guarded(name, lambda: main_function(*args, **kwargs))
        return guarded_main
    return wrap


def _out_of_memory(err: RuntimeError) -> bool:
    """Whether torch's allocator refused memory (CPU, CUDA or MPS)."""
    text = str(err)
    return type(err).__name__ == "OutOfMemoryError" or "can't allocate memory" in text or "out of memory" in text


def _fail(name: str, message: str) -> int:
    print(f"{name}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return 2


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
