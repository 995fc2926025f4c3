"""Metrics as JSON lines in the run folder, mirrored to TensorBoard when installed."""

from __future__ import annotations

import json
import math
from pathlib import Path

from seqlab.train.manifest import files_under, record_run_files


class MetricsLog:
    """Appends one JSON object per record to ``run_dir/metrics.jsonl``.

    Scalars also go to TensorBoard (``run_dir/tb``) if the tensorboard package is
    importable. With ``run_dir=None`` nothing is written (non-zero DDP ranks, tests).
    """

    def __init__(self, run_dir: Path | None, resumed_at: int | None = None) -> None:
        """``resumed_at``: the step a resumed run continues from; records logged after it by
        the interrupted run are dropped, so every step appears once."""
        self.file = None
        self.tb = None
        if run_dir is None:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / "metrics.jsonl"
        record_run_files(run_dir, [path.name])
        if resumed_at is not None and path.is_file():
            _keep_until(path, resumed_at)
        self.file = open(path, "a", encoding="utf-8")
        tb = run_dir / "tb"
        before = set(files_under(run_dir, tb)) if tb.is_dir() else set()
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(tb))
        except Exception:  # tensorboard is optional
            self.tb = None
        if tb.is_dir():  # the event file the writer just created (its name holds the time and host)
            record_run_files(run_dir, set(files_under(run_dir, tb)) - before)

    def write(self, record: dict) -> None:
        if self.file is None:
            return
        self.file.write(json.dumps(record, default=str) + "\n")
        self.file.flush()
        if self.tb is not None:
            split, step = record.get("split", "train"), record.get("step", 0)
            for key, value in record.items():
                if isinstance(value, (int, float)) and key != "step" and math.isfinite(value):
                    self.tb.add_scalar(f"{split}/{key}", value, step)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None



def _keep_until(path: Path, step: int) -> None:
    """Rewrite ``path`` (atomically) without the records of steps after ``step``."""
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(line + "\n")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    tmp.replace(path)
