"""The command line: the only module that reads argv.

Each subcommand lives in its own module of this package and defines
``add_arguments(parser)`` and ``run(args) -> int``. Heavy imports (torch) happen
inside ``run`` so that ``seqlab --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from seqlab.errors import SeqlabError

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
    "reproduce": ("reproduce", "run the claims' experiments and print their verdicts"),
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
    if args._name in UNSEEDED:
        return
    from seqlab.train.device import seed_everything

    seed_everything(getattr(args, "seed", None) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run one command. The rule for errors: whatever the user's files, arguments, text or
    environment cause (``SeqlabError``, and ``OSError`` and ``UnicodeError`` from the file
    system and the text codecs) is one line on stderr and exit status 2; anything else is a
    bug in seqlab and keeps its traceback."""
    args = build_parser().parse_args(argv)
    try:
        seed_command(args)
        return int(args._module.run(args) or 0)
    except SeqlabError as err:
        return _fail(args, str(err))
    except BrokenPipeError:  # `seqlab translate ... | head -1`: the reader left; say nothing
        _silence_stdout()
        return 1
    except OSError as err:
        where = f"{err.filename}: " if getattr(err, "filename", None) else ""
        return _fail(args, f"{where}{err.strerror or err}")
    except UnicodeError as err:
        return _fail(args, f"not valid text: {err}")
    except KeyboardInterrupt:
        print(f"seqlab {args._name}: interrupted", file=sys.stderr)
        return 130


def _fail(args: argparse.Namespace, message: str) -> int:
    print(f"seqlab {args._name}: error: {one_line(message)}", file=sys.stderr, flush=True)
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
