"""The claims list (``seqlab reproduce --list``), the report's grouping by the chapter's sections,
and the "not covered" list: all from ``seqlab.experiments.catalog``, torch-free."""

import subprocess
import sys

from report_fixtures import make_run
from seqlab.experiments import catalog
from seqlab.experiments.registry import REGISTRY, SECTIONS
from seqlab.report import write_report


def test_every_claim_has_a_section_a_text_and_a_data_kind():
    entries = catalog.entries()
    assert [e.claim_id for e in entries] == list(REGISTRY)
    for e in entries:
        assert e.section in SECTIONS.values() and len(e.text) > 20
        assert e.data.split(":")[0].split(" ")[0] in ("real", "controlled"), e
    assert set(catalog.ARGUES) == set(SECTIONS)


def test_constants_are_read_without_importing(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('import torch\nCLAIM = ("one " "two")\nQUOTE = "said"\nOTHER = 3\n')
    assert catalog.constants(src) == {"CLAIM": "one two", "QUOTE": "said"}


def test_by_section_keeps_the_chapters_order_and_drops_empty_sections():
    groups = catalog.by_section(["C4", "C1", "C18", "X9"])
    assert [g[0] for g in groups] == [SECTIONS["problem"], SECTIONS["gradients"], SECTIONS["gates"]]
    assert [g[2] for g in groups] == [["C18"], ["C1"], ["C4"]]


def test_shorten():
    assert catalog.shorten("a  b\nc") == "a b c"
    long = catalog.shorten("word " * 100, width=30)
    assert len(long) <= 30 and long.endswith("...")


def test_reproduce_list_prints_every_claim_without_torch():
    code = ("import sys; from seqlab.cli import main; rc = main(['reproduce', '--list']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for cid in REGISTRY:
        assert any(line.split()[:1] == [cid] for line in lines), cid
    for title in SECTIONS.values():
        assert title in lines
    assert lines.index(SECTIONS["problem"]) < lines.index(SECTIONS["attention"]) < lines.index(SECTIONS["drills"])


def test_report_groups_claims_by_section_and_lists_what_is_not_covered(tmp_path):
    make_run(tmp_path)  # C1 (gradients), C4 (gates), C9 (limitations)
    page = write_report(tmp_path).read_text()
    order = [page.index(f">{SECTIONS[s]}</h2>") for s in ("gradients", "gates", "limitations")]
    assert order == sorted(order)
    assert order[0] < page.index('id="C1"') < order[1] < page.index('id="C4"') < order[2] < page.index('id="C9"')
    assert SECTIONS["problem"] not in page  # no claim of that section in this run
    assert catalog.ARGUES["gates"].split(",")[0] in page
    notes = page.index("<h2>Not covered</h2>")
    for name, _ in catalog.NOT_COVERED:
        assert name in page[notes:]
    assert any("Turing" in name for name, _ in catalog.NOT_COVERED)
