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


def test_report_shows_margins_per_claim_and_the_nearest_in_the_summary(report):
    summary = report[report.index("<h2>Summary</h2>"): report.index('id="C1"')]
    assert "nearest margin" in summary and "rnn ratio: 1.200e-07 vs 0.001 gradient ratio" in summary  # 100% < 210%
    assert "none recorded" in summary  # C4 recorded none
    claim = report[report.index('id="C1"'): report.index('id="C4"')]
    assert "<h4>margins</h4>" in claim and "lstm ratio" in claim and "210.0%" in claim


def test_report_lists_the_chapter_errata_with_the_entries_that_show_them(report):
    from seqlab.errata import ERRATA

    section = report[report.index('id="errata"'): report.index('id="C1"')]
    assert "Errata and corrections" in section and len(ERRATA) >= 5
    assert "[0.778, 0.116, 0.105]" in section and "grows logarithmically with depth" in section
    assert '<a href="#C9">' not in section and "C17" in section  # linked only when the entry ran


def test_errata_quote_the_chapter_verbatim():
    from pathlib import Path

    from seqlab.errata import ERRATA

    root = Path(__file__).resolve().parents[1]
    folders = [root / "shared" / "seed", root.parent / "shared" / "seed"]  # in the checkout, or beside it
    texts = [p.read_text() for folder in folders if folder.is_dir() for p in folder.glob("*.txt")]
    if not texts:
        pytest.skip("the chapter text is not in this checkout")
    assert all(any(e.says in t for t in texts) for e in ERRATA)


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
