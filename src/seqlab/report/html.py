"""Result JSON -> one self-contained HTML page (no torch, no network).

Figures are inlined as PNG data URIs and styles sit in the page, so the file can
be mailed or opened offline. Every piece of text that comes from a Result
(claims, setups, table cells, configs, errors: any of which may quote a corpus
or a user's input) passes through ``html.escape``.

A ``result.json`` is input the report does not trust: it is checked against its schema
(``seqlab.report.schema``) before it is read, and a figure it names is read only if the
file lies inside the claim's folder once links are resolved and holds a PNG, so no
result can pull another file of the machine (``/etc/passwd``, ``../../secret``, a link
out of the folder) into the page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
from pathlib import Path

from seqlab.errata import ERRATA
from seqlab.errors import SeqlabError
from seqlab.experiments.catalog import NOT_COVERED, by_section
from seqlab.experiments.core.base import RESULT_FILE, Result, Table
from seqlab.experiments.registry import REGISTRY
from seqlab.report.schema import check_result

REPORT_FILE = "report.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { padding: 0.1em 0.5em; border-radius: 0.3em; color: #fff; font-weight: 600; }
.confirmed { background: #2e7d32; } .refuted { background: #c62828; }
.inconclusive { background: #757575; } .error { background: #6a1b9a; }
section.claim { border-top: 2px solid #ddd; margin-top: 2em; padding-top: 0.5em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; max-width: 36em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
details summary { cursor: pointer; color: #444; }
"""


def esc(value) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape(str(value), quote=True)


def fmt(value) -> str:
    """A table cell: compact numbers, text as is (escaped by the caller)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return "" if value is None else str(value)


def load_claims(run_dir: str | Path) -> list[tuple[Path, Result]]:
    """(claim folder, its result) for every claim folder, in registry order (unknown ids last, sorted)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SeqlabError(f"run folder not found: {run_dir}")
    folders = [p.parent for p in run_dir.glob(f"*/{RESULT_FILE}")]
    if not folders:
        raise SeqlabError(f"no results in {run_dir}; run 'seqlab reproduce --out {run_dir}' first")
    order = {cid: i for i, cid in enumerate(REGISTRY)}
    folders.sort(key=lambda p: (order.get(p.name, len(order)), p.name))
    return [(p, read_result(p)) for p in folders]


def load_results(run_dir: str | Path) -> list[Result]:
    """Every claim folder's result, in registry order (see ``load_claims``)."""
    return [result for _, result in load_claims(run_dir)]


def read_result(folder: Path) -> Result:
    """The Result in ``folder/result.json``, checked against its schema first (one line naming
    the field that is wrong)."""
    path = folder / RESULT_FILE
    try:
        data = json.loads(path.read_bytes())
    except OSError as err:
        raise SeqlabError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:  # not JSON, or not UTF-8
        raise SeqlabError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise SeqlabError(f"{path} is not valid: its values nest too deeply") from None
    check_result(data, path)
    return Result.from_dict(data)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def figure_bytes(folder: Path, name: str) -> tuple[bytes | None, str]:
    """(the PNG bytes of figure ``name``, "") or (None, why not).

    Only a file inside ``folder`` once every link is resolved is read: an absolute name,
    ``..`` or a link that leads out of the claim's folder is refused, and so is a file
    that is not a PNG.
    """
    base = folder.resolve()
    try:
        path = (folder / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a loop of links, a NUL in the name
        return None, "cannot be resolved"
    if not path.is_relative_to(base):
        return None, f"lies outside its claim folder {folder}; not read"
    if not path.is_file():
        return None, f"is missing from {folder}"
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"
    if not data.startswith(PNG_SIGNATURE):
        return None, "is not a PNG file; not shown"
    return data, ""


def render_table(table: Table) -> str:
    """A table; timing columns are marked with a clock sign and a tooltip."""
    head = "".join(f'<th class="timing" title="a measured time: varies between runs">{esc(c)} &#9201;</th>'
                   if c in table.timing else f"<th>{esc(c)}</th>" for c in table.columns)
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{esc(fmt(v))}</td>' if isinstance(v, (int, float)) else f"<td>{esc(fmt(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<h4>{esc(table.title)}</h4><table><tr>{head}</tr>{''.join(body)}</table>"


def badge(verdict: str) -> str:
    cls = verdict if verdict in ("confirmed", "refuted", "inconclusive", "error") else "inconclusive"
    return f'<span class="badge {cls}">{esc(verdict)}</span>'


def device_line(results: list[Result]) -> str:
    """Where the claims ran: the GPU (named) or "CPU only", with the host's processor and CPU count;
    distinct machines of one run folder (a run resumed elsewhere) are all listed."""
    seen = []
    for r in results:
        m = r.machine or {}
        host = f"{m.get('processor') or 'unknown processor'}, {m.get('cpu_count', '?')} CPUs"
        text = f"{m['cuda']} (CUDA); host {host}" if m.get("cuda") else f"CPU only: {host}" if m else "unknown"
        if text not in seen:
            seen.append(text)
    return "; ".join(seen) or "unknown"


def nearest_margin(margins: list[dict]) -> dict | None:
    """The deciding number closest to its threshold (by fraction where there is one, else distance)."""
    if not margins:
        return None
    return min(margins, key=lambda m: (m.get("fraction") is None,
                                       m["fraction"] if m.get("fraction") is not None else m.get("distance", 0)))


def margin_text(m: dict | None) -> str:
    """One margin in words: value vs threshold, distance (and fraction), noise."""
    if m is None:
        return "none recorded"
    frac = m.get("fraction")
    text = (f"{m.get('name')}: {fmt(m.get('value'))} vs {fmt(m.get('threshold'))} {m.get('units')}; "
            f"distance {fmt(m.get('distance'))}" + (f" ({frac:.0%})" if frac is not None else ""))
    if m.get("timing"):
        return text + " (timing)"
    return text + f"; noise {fmt(m.get('noise'))}" + (" - within noise" if m.get("within_noise") else "")


def render_margins(margins: list[dict]) -> str:
    """How far each deciding number lies from its rule's threshold."""
    rows = []
    for m in margins:
        frac = "" if m.get("fraction") is None else f"{m['fraction']:.1%}"
        noise = "timing" if m.get("timing") else fmt(m.get("noise"))
        within = "<b>yes</b>" if m.get("within_noise") and not m.get("timing") else "no"
        cells = [esc(fmt(m.get(k))) for k in ("value", "threshold")]
        rows.append(f"<tr><td>{esc(m.get('name'))}</td><td class=\"num\">{cells[0]}</td>"
                    f"<td class=\"num\">{cells[1]}</td><td>{esc(m.get('units'))}</td>"
                    f"<td class=\"num\">{esc(fmt(m.get('distance')))}</td><td class=\"num\">{esc(frac)}</td>"
                    f"<td class=\"num\">{esc(noise)}</td><td>{within}</td></tr>")
    return ("<h4>margins</h4><table><tr><th>deciding number</th><th>value</th><th>threshold</th><th>units</th>"
            f"<th>distance</th><th>fraction</th><th>noise</th><th>within noise</th></tr>{''.join(rows)}</table>")


def render_summary(results: list[Result]) -> str:
    rows = "".join(
        f'<tr><td><a href="#{esc(r.claim_id)}">{esc(r.claim_id)}</a></td><td>{badge(r.verdict)}</td>'
        f'<td>{esc(r.headline)}</td><td>{esc(margin_text(nearest_margin(r.margins)))}</td>'
        f'<td class="num">{r.wall_time:.1f} s</td></tr>'
        for r in results
    )
    total = sum(r.wall_time for r in results)
    counts = {v: sum(r.verdict == v for r in results) for v in ("confirmed", "refuted", "inconclusive", "error")}
    line = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return (f"<h2>Summary</h2><p>{esc(line)}; experiment time {total:.0f} s.</p>"
            f"<table><tr><th>claim</th><th>verdict</th><th>headline</th><th>nearest margin</th><th>time</th></tr>{rows}</table>")


def render_claim(result: Result, folder: Path) -> str:
    parts = [f'<section class="claim" id="{esc(result.claim_id)}">',
             f"<h2>{esc(result.claim_id)} {badge(result.verdict)}</h2>",
             f"<p><b>Claim.</b> {esc(result.claim)}</p>"]
    if result.setup:
        parts.append(f"<p><b>Setup.</b> {esc(result.setup)}</p>")
    parts += [render_table(t) for t in result.tables]
    for fig in result.figures:
        data, problem = (fig.png, "") if fig.png is not None else figure_bytes(folder, fig.name)
        if data is None:
            parts.append(f"<p><i>figure {esc(fig.name)} {esc(problem)}</i></p>")
        else:
            uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            parts.append(f'<figure><img src="{uri}" alt="{esc(fig.caption)}">'
                         f"<figcaption>{esc(fig.caption)}</figcaption></figure>")
    parts.append(f"<p><b>Verdict: {esc(result.verdict)}.</b> {esc(result.decided_by)}</p>")
    if result.criterion:
        parts.append(f"<p><b>Rule (fixed before the run).</b> {esc(result.criterion)}</p>")
    if result.seeds:
        parts.append(f"<p><b>Seeds.</b> {esc(', '.join(str(s) for s in result.seeds))}</p>")
    if result.gates:
        parts.append(render_gates(result.gates))
    if result.margins:
        parts.append(render_margins(result.margins))
    parts += [f"<p><i>Note.</i> {esc(n)}</p>" for n in result.notes]
    if result.error:
        parts.append(f"<p><b>Error.</b></p><pre>{esc(result.error)}</pre>")
    parts.append(render_metadata(result))
    parts.append("</section>")
    return "\n".join(parts)


def render_gates(gates: list[dict]) -> str:
    """The preconditions of the verdict: each gate, passed or failed, with its numbers."""
    rows = "".join(f"<tr><td>{esc(g.get('name'))}</td><td>{'passed' if g.get('passed') else '<b>failed</b>'}</td>"
                   f"<td>{esc(g.get('detail'))}</td></tr>" for g in gates)
    return f"<h4>gates</h4><table><tr><th>gate</th><th>result</th><th>numbers</th></tr>{rows}</table>"


def render_metadata(result: Result) -> str:
    meta = {"profile": result.profile, "seed": result.seed, "started": result.started,
            "wall time (s)": round(result.wall_time, 2), "config": result.config,
            "versions": result.versions, "machine": result.machine}
    return f"<details><summary>run metadata</summary><pre>{esc(json.dumps(meta, indent=1, default=str))}</pre></details>"


def render_errata(shown: set[str]) -> str:
    """The chapter's errata (:mod:`seqlab.errata`): what it says, what is true, which entries show it
    (linked when they are in this run)."""
    rows = []
    for e in ERRATA:
        links = ", ".join(f'<a href="#{esc(c)}">{esc(c)}</a>' if c in shown else esc(c) for c in e.shown_by)
        rows.append(f"<tr><td>{esc(e.where)}</td><td>&ldquo;{esc(e.says)}&rdquo;</td><td>{esc(e.true)}</td>"
                    f"<td>{links}</td></tr>")
    return ('<h2 id="errata">Errata and corrections</h2><p>Where the chapter is wrong or inconsistent: its words, '
            "what is true, and the ledger entries that show it.</p><table><tr><th>where</th><th>the chapter says"
            f"</th><th>what is true</th><th>shown by</th></tr>{''.join(rows)}</table>")


def render_sections(results: list[Result], folders: dict[str, Path]) -> str:
    """The claims grouped by the chapter's sections, in the chapter's order, each section opening
    with what it argues; results whose id the registry does not know come last. ``folders``: claim
    id -> the folder its result was read from (its figures are read there and nowhere else)."""
    by_id = {r.claim_id: r for r in results}
    parts = []
    for title, argues, ids in by_section(by_id):
        parts.append(f'<section class="chapter"><h2 class="section">{esc(title)}</h2><p><i>{esc(argues)}</i></p>')
        parts += [render_claim(by_id.pop(cid), folders[cid]) for cid in ids]
        parts.append("</section>")
    if by_id:
        parts.append('<section class="chapter"><h2 class="section">Other results</h2>')
        parts += [render_claim(r, folders[r.claim_id]) for r in by_id.values()]
        parts.append("</section>")
    return "\n".join(parts)


def render_not_covered() -> str:
    """What the chapter names but the ledger does not test, with why."""
    items = "".join(f"<li><b>{esc(name)}</b>: {esc(why)}</li>" for name, why in NOT_COVERED)
    return f'<section class="not-covered"><h2>Not covered</h2><ul>{items}</ul></section>'


def render(results: list[Result], run_dir: Path, title: str = "seqlab: the claims ledger",
           folders: list[Path] | None = None) -> str:
    """The page. ``folders``: where each result was read (its figures are read there and
    nowhere else); default ``run_dir / claim_id``."""
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    folders = folders if folders is not None else [Path(run_dir) / r.claim_id for r in results]
    body = render_sections(results, {r.claim_id: f for r, f in zip(results, folders)}) + "\n" + render_not_covered()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>Run folder: <code>{esc(run_dir)}</code>; rendered {esc(when)}.</p>"
        f"<p>Device: {esc(device_line(results))}</p>"
        f"{render_summary(results)}\n{render_errata({r.claim_id for r in results})}\n{body}\n</body></html>\n"
    )


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Render ``run_dir``'s results to ``out`` (default: ``run_dir/report.html``)."""
    run_dir = Path(run_dir)
    claims = load_claims(run_dir)
    path = Path(out) if out is not None else run_dir / REPORT_FILE
    page = render([r for _, r in claims], run_dir, folders=[folder for folder, _ in claims])
    path.write_text(page, encoding="utf-8")
    return path
