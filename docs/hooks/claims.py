"""mkdocs hook: the claims catalogue page, generated from the ledger at every build.

The page lists every claim of ``seqlab.experiments.registry`` in registry order: its id,
its text (the chapter's words where the claim module quotes them), the chapter's section,
the data it runs on and, when ``SEQLAB_DOCS_RESULTS`` names a results folder of
``seqlab reproduce``, the verdict and headline stored there. Claim modules are read with
:mod:`ast`, never imported, so building the site does not load torch; a claim added to the
registry appears on the next build.
"""

from __future__ import annotations

import ast
import html
import os
from pathlib import Path

PAGE = "claims.md"
RESULTS_ENV = "SEQLAB_DOCS_RESULTS"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    return markdown.replace("<!-- claims -->", catalogue(os.environ.get(RESULTS_ENV)))


def catalogue(results: str | None = None) -> str:
    """The catalogue as a Markdown table (with a verdict column when ``results`` is given)."""
    verdicts = last_verdicts(Path(results)) if results else {}
    head = "| id | claim | section | data |" + (" last verdict |" if results else "")
    rule = "|---|---|---|---|" + ("---|" if results else "")
    rows = [head, rule]
    for claim_id, text, quoted, section, data in claim_rows():
        said = f"chapter: &ldquo;{cell(text)}&rdquo;" if quoted else cell(text)
        row = f"| {claim_id} | {said} | {cell(section)} | {cell(data)} |"
        if results:
            row += f" {cell(verdicts.get(claim_id, 'not run'))} |"
        rows.append(row)
    source = f"\n\nVerdicts from `{cell(results)}`." if results else ""
    return "\n".join(rows) + source


def claim_rows() -> list[tuple[str, str, bool, str, str]]:
    """(id, text, quoted, section, data) per claim: the ledger's own catalogue where it has one."""
    try:
        from seqlab.experiments.catalog import entries
    except ImportError:  # a ledger without a catalogue module: read the claim modules directly
        return [_from_source(cid) for cid in _registry()]
    return [(e.claim_id, e.text, e.quoted, e.section, e.data) for e in entries()]


def _registry() -> dict[str, str]:
    from seqlab.experiments.registry import REGISTRY

    return REGISTRY


def _from_source(claim_id: str) -> tuple[str, str, bool, str, str]:
    import seqlab.experiments

    module = _registry()[claim_id]
    path = Path(seqlab.experiments.__file__).parent.joinpath(*module.split(".")).with_suffix(".py")
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found[node.targets[0].id] = node.value.value
    text = found.get("QUOTE", found.get("CLAIM", ""))
    return claim_id, text, "QUOTE" in found, found.get("SECTION", ""), found.get("DATA", "")


def last_verdicts(folder: Path) -> dict[str, str]:
    """claim id -> "verdict: headline" of each claim folder's stored result."""
    from seqlab.report.html import load_results

    return {r.claim_id: f"{r.verdict}: {r.headline}" for r in load_results(folder)}


def cell(text: str) -> str:
    """Text safe in a Markdown table cell: escaped, one line, no column breaks."""
    text = " ".join(str(text).split())
    return html.escape(text, quote=False).replace("|", "&#124;") if text else "&mdash;"
