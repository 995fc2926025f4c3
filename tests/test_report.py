"""The HTML report: structure, escaping of corpus/user text, no torch import."""

import subprocess
import sys

import pytest

from report_fixtures import make_run
from seqlab.errors import SeqlabError
from seqlab.report import load_results, write_report
from seqlab.report.html import fmt


@pytest.fixture()
def report(tmp_path):
    make_run(tmp_path)
    return write_report(tmp_path).read_text()


def test_report_has_summary_then_claims_in_registry_order(report):
    summary = report.index("<h2>Summary</h2>")
    assert summary < report.index('id="C1"') < report.index('id="C4"') < report.index('id="C9"')
    assert report.count('<img src="data:image/png;base64,') == 1
    assert "1 confirmed, 1 refuted, 1 error" in report
    assert "ratio &lt; 1e-3" in report  # the criterion, escaped


def test_report_escapes_every_piece_of_result_text(report):
    assert "<script>" not in report and "<b>bold</b>" not in report
    assert report.count("&lt;script&gt;") >= 7  # claim, setup, table title/cell, note, headline, error, config


def test_report_is_self_contained(report):
    assert "http://" not in report and "https://" not in report
    assert "<link rel=\"stylesheet\"" not in report


def test_missing_figure_and_empty_folder(tmp_path):
    make_run(tmp_path)
    (tmp_path / "C1" / "flow.png").unlink()
    assert "figure flow.png is missing" in write_report(tmp_path).read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeqlabError, match="no results"):
        load_results(tmp_path / "empty")
    with pytest.raises(SeqlabError, match="run folder not found"):
        write_report(tmp_path / "absent")


def test_fmt_numbers():
    assert fmt(1.23456e-7) == "1.235e-07" and fmt(0.5) == "0.5" and fmt(3) == "3" and fmt(True) == "yes"
    assert fmt(None) == "" and fmt(float("nan")) == "nan"


def test_report_module_does_not_import_torch(tmp_path):
    code = ("import sys, seqlab.report, seqlab.cli.report, seqlab.experiments; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
