"""seqlab bench: measure the machine and every architecture's speed; one table, one JSON file."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlab.bench.plan import SECTIONS as SECTION_NAMES
from seqlab.errors import SeqlabError


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"),
                        help="folder for bench.json (default runs/bench); sections not measured this time "
                             "are kept from an earlier bench.json there")
    parser.add_argument("--quick", action="store_true", help="tiny grids: a smoke test in seconds, not a measurement")
    parser.add_argument(
        "--only", default=",".join(SECTION_NAMES), help=f"comma-separated sections among {','.join(SECTION_NAMES)}"
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")


def parse_only(text: str) -> tuple[str, ...]:
    """'scan,attention' -> ('scan', 'attention'); unknown names are an error naming the choices."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in SECTION_NAMES]
    if unknown or not names:
        raise SeqlabError(f"--only: unknown section {unknown or text!r}; choose from {','.join(SECTION_NAMES)}")
    return names


def run(args: argparse.Namespace) -> int:
    only = parse_only(args.only)
    if args.threads is not None and args.threads < 1:
        raise SeqlabError("--threads must be >= 1")
    import torch

    from seqlab.bench.plan import choose
    from seqlab.bench.suite import run_suite
    from seqlab.bench.table import merge_json, read_sections, render

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as err:
        raise SeqlabError(f"--device {args.device!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SeqlabError(f"--device {args.device}: CUDA is not available here")
    path = args.out / "bench.json"
    earlier = read_sections(path)  # an unreadable file stops us here, before any measuring
    plan = choose(device, args.quick)  # quick grids, else the GPU plan on CUDA, the CPU grid elsewhere
    meta, sections = run_suite(plan, device, only)
    meta["quick"] = args.quick
    info = meta["machine"]
    header = [
        f"seqlab bench{' --quick (smoke test, not a measurement)' if args.quick else ''}",
        f"device {info['device']}{' ' + info['gpu'] if 'gpu' in info else ''}; cpu {info['cpu']}",
        f"torch {info['torch']}, python {info['python']}; threads {info['threads']} (interop {info['interop_threads']})",
        f"warm-up {plan.warmup}, then median of {plan.repeats} repeats [min-max]",
    ]
    print(render(header, sections), end="")
    kept = merge_json(path, meta, sections, SECTION_NAMES, earlier)
    print(f"wrote {path}" + (f" (kept from the earlier run there: {', '.join(kept)})" if kept else ""))
    return 0
