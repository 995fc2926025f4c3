"""`seqlab data list | info NAME | show NAME -n 3 | check RECIPE`: the corpora at a glance,
and what a recipe's data (a built-in corpus or the user's files) will be before training."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="list the corpora")
    info = sub.add_parser("info", help="source, license, sizes, splits and content hash")
    info.add_argument("corpus", metavar="NAME")
    show = sub.add_parser("show", help="print the first examples of a split")
    show.add_argument("corpus", metavar="NAME")
    show.add_argument("-n", type=int, default=3, help="how many examples, at least 1 (default 3)")
    show.add_argument("--split", default="train", help="train, dev or test (default train)")
    check = sub.add_parser("check", help="read and check a recipe's data (built-in or your files) and show "
                                         "split sizes, length percentiles, vocabulary coverage and examples")
    check.add_argument("config", metavar="RECIPE", help="a TOML or YAML recipe")
    check.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value, e.g. --set task.corpus=my.txt (repeatable)")
    check.add_argument("-n", type=int, default=3, help="how many examples, at least 1 (default 3)")


def run(args: argparse.Namespace) -> int:
    from seqlab.data.corpora import CORPORA, load_corpus
    from seqlab.errors import SeqlabError

    if args.action == "list":
        width = max(len(n) for n in CORPORA)
        for name, (kind, description, _) in CORPORA.items():
            print(f"{name:<{width}}  {kind:<14}  {description}")
        print("(or your own files wherever a recipe names a corpus: see `seqlab train --help`)")
        return 0
    if args.action in ("show", "check") and args.n < 1:
        raise SeqlabError(f"-n must be at least 1, got {args.n}")
    if args.action == "check":
        from seqlab.cli.data_check import check_lines
        from seqlab.recipe import load_recipe

        print("\n".join(check_lines(load_recipe(args.config, args.overrides), args.n)))
        return 0
    corpus = load_corpus(args.corpus)
    if args.action == "info":
        print("\n".join(info_lines(corpus)))
        return 0
    if args.split not in corpus.split_sizes():
        raise SeqlabError(f"corpus '{args.corpus}' has no split '{args.split}'; choose one "
                          f"of: {', '.join(corpus.split_sizes())}")
    print("\n".join(corpus.examples(args.split, args.n)))
    return 0


def info_lines(corpus) -> list[str]:
    """The lines `seqlab data info` prints for one corpus."""
    src = corpus.source
    rows: list[tuple[str, object]] = [
        ("name", corpus.name), ("source", src.origin), ("package", src.package),
        ("license", src.license), ("attribution", src.attribution),
        ("split rule", src.split_rule),
        ("splits", ", ".join(f"{s} {n:,}" for s, n in corpus.split_sizes().items())),
    ]
    rows += list(corpus.summary().items())
    rows.append(("content hash", corpus.content_hash()))
    width = max(len(k) for k, _ in rows) + 2
    lines = [f"{k + ':':<{width}}{v:,}" if isinstance(v, int) else f"{k + ':':<{width}}{v}"
             for k, v in rows]
    return lines
