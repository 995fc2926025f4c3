"""Count what the property-based fuzzing finds: cases run and uncaught ones, per surface.

The same properties as tests/test_fuzz_surfaces.py and tests/test_fuzz_cli.py (whose
strategies this reuses), at larger budgets, derandomized (the same cases on every run).
A case is "uncaught" when it breaks its surface's rule (a traceback, a second stderr line, a
wrong round trip, an exception that is not seqlab's); the census counts them instead of
stopping at the first.

    PYTHONPATH=src python scripts/fuzz_census.py                  # every surface, default budgets
    PYTHONPATH=src python scripts/fuzz_census.py --scale 0.2       # a fifth of the cases
    PYTHONPATH=src python scripts/fuzz_census.py --only training   # one surface
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the properties; seqlab itself from PYTHONPATH (this checkout's src/)

import torch  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzz_surfaces as fs  # noqa: E402

BUDGETS = {"training": 250, "tokenizers": 2000, "surrogates": 200, "report": 1000, "decoding": 500,
           "set overrides": 1000, "recipe files": 1000}


def census(name: str, strategy, check, cases: int) -> collections.Counter:
    """Run ``check(drawn)`` on ``cases`` drawn examples; count outcomes ("uncaught" for a broken rule)."""
    counts: collections.Counter = collections.Counter()

    @settings(max_examples=cases, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(drawn=strategy)
    def one(drawn):
        try:
            counts[check(drawn)] += 1
        except Exception as err:  # noqa: BLE001 - counting is the point
            counts["uncaught"] += 1
            if counts["uncaught"] <= 3:
                print(f"  uncaught in {name}: {type(err).__name__}: "
                      f"{''.join(traceback.format_exception_only(err)).strip()[:300]}", flush=True)

    one()
    return counts


def surfaces(root: Path):
    """(name, strategy, check) of every surface."""
    import test_fuzz_cli as cli_fuzz

    tokenizers, models = fs.tokenizers(root), fs.decode_models()
    kinds = st.sampled_from(sorted(tokenizers))
    task = root / "task.toml"
    task.write_text(cli_fuzz.TASK)
    overrides = st.lists(st.one_of(st.text(max_size=30), st.tuples(cli_fuzz.KEYS, st.text(max_size=12)).map("=".join),
                                   st.tuples(cli_fuzz.KEYS, st.sampled_from(["nan", "inf", "-1", "1e400", "[1]", "0",
                                                                            "off", "10**9", ""])).map("=".join)),
                         max_size=4)

    def set_overrides(items):
        args = ["train", str(task), "--out", str(root / "set-run")]
        for item in items:
            args += ["--set", item]
        return _until_built(args)

    def recipe_file(data):
        path = root / f"fuzz{data[1]}"
        path.write_bytes(data[0])
        return _until_built(["train", str(path), "--out", str(root / "file-run")])

    return [
        ("training", fs.training_cases(), lambda case: fs.check_training(root, *case)),
        ("tokenizers", st.tuples(kinds, fs.TEXT), lambda d: fs.check_round_trip(tokenizers[d[0]], d[1])),
        ("surrogates", st.tuples(kinds, st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
         lambda d: fs.check_surrogate(tokenizers[d[0]], "a" + d[1])),
        ("report", st.tuples(st.sampled_from(fs.FIELDS), fs.JSON), lambda d: fs.check_report(root, *d)),
        ("decoding", fs.DECODE, lambda case: fs.check_decode(models, **case)),
        ("set overrides", overrides, set_overrides),
        ("recipe files", st.tuples(st.binary(max_size=300), st.sampled_from([".toml", ".yaml"])), recipe_file),
    ]


class _Built(Exception):
    pass


def _until_built(args: list[str]) -> str:
    """The CLI's rule up to building the model (a valid recipe is not trained: that is the training surface)."""
    import seqlab.build
    import seqlab.translation.loop

    def built(*a, **k):
        raise _Built

    saved = seqlab.build.build_model, seqlab.translation.loop.train_translator
    seqlab.build.build_model = seqlab.translation.loop.train_translator = built
    try:
        return fs.rule(*fs.run_cli(args))
    except _Built:
        return "valid"
    finally:
        seqlab.build.build_model, seqlab.translation.loop.train_translator = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every budget (default 1)")
    parser.add_argument("--only", default=None, help="comma-separated surfaces: " + ", ".join(BUDGETS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    only = set(args.only.split(",")) if args.only else set(BUDGETS)
    rows = []
    with tempfile.TemporaryDirectory(prefix="seqlab-census-") as tmp, fs.small_corpora(Path(tmp)):
        for name, strategy, check in surfaces(Path(tmp)):
            if name not in only:
                continue
            cases = max(1, int(BUDGETS[name] * args.scale))
            counts = census(name, strategy, check, cases)
            rows.append((name, sum(counts.values()), counts["uncaught"], dict(counts)))
            print(f"{name:14} cases {rows[-1][1]:>5}  uncaught {rows[-1][2]:>3}  {dict(sorted(counts.items()))}",
                  flush=True)
    print(f"\n| surface | cases | uncaught |\n|---|---:|---:|")
    for name, total, uncaught, _ in rows:
        print(f"| {name} | {total} | {uncaught} |")
    return int(any(uncaught for _, _, uncaught, _ in rows))


if __name__ == "__main__":
    sys.exit(main())
