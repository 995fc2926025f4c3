"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a missing page
or a docstring the API reference cannot read fails it), and its claims catalogue is the
ledger's registry, generated at build time."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.experiments.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "docs" / "hooks" / "claims.py"


def _hook():
    spec = importlib.util.spec_from_file_location("docs_claims_hook", HOOK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_catalogue_lists_every_registered_claim_in_order():
    table = _hook().catalogue()
    ids = re.findall(r"^\| ([CD]\d+) \|", table, re.M)
    assert ids == list(REGISTRY)
    assert "last verdict" not in table  # no results folder given


def test_catalogue_shows_the_verdicts_of_a_results_folder_and_escapes_them(tmp_path):
    from report_fixtures import make_run

    from seqlab.report.html import load_results

    make_run(tmp_path)

    stored = {r.claim_id: r.verdict for r in load_results(tmp_path)}
    table = _hook().catalogue(str(tmp_path))
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| ([CD]\d+) \|.*$", table, re.M)}
    assert stored and all(verdict in rows[cid] for cid, verdict in stored.items())
    assert all("not run" in rows[cid] for cid in REGISTRY if cid not in stored)
    assert _hook().cell("a | b <i>") == "a &#124; b &lt;i&gt;"


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    claims = (tmp_path / "site" / "claims" / "index.html").read_text(encoding="utf-8")
    assert all(f"<td>{cid}</td>" in claims for cid in REGISTRY)
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "lstm_step" in api and "beam_search" in api  # the reference is read from the docstrings
