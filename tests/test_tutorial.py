"""The tutorial notebook (notebooks/first_hour.py, a jupytext percent script) runs top to bottom
in a Jupyter kernel at tiny sizes, with its plots inline."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "first_hour.py"


def test_tutorial_notebook_executes_with_inline_plots(tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext", reason="the notebook tools are in the dev extra")
    nbclient = pytest.importorskip("nbclient", reason="the notebook tools are in the dev extra")
    pytest.importorskip("ipykernel", reason="the notebook tools are in the dev extra")
    monkeypatch.setenv("SEQLAB_TUTORIAL", "tiny")  # every cell, at the ledger's TINY sizes
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the plots
    notebook = jupytext.read(NOTEBOOK)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails
    code = [c for c in notebook.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs)
    assert len(images) >= 6  # the gradient-flow plot and each claim's figures, inline
    for claim_id in ("C1", "C2", "C4", "D2", "C12", "D3"):
        assert f"{claim_id}: " in text
    assert not (tmp_path / "runs").exists()  # inside a notebook nothing is written to disk
