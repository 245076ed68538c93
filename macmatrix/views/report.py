"""Render results.json documents for people: terminal table, Markdown, one self-contained HTML page.

results.json stays the source of truth; everything here is a pure view of it. Several documents
(one per stack) become a cases x stacks grid. Every cell carries a symbol *and* a word so the
outcome never depends on colour, and flaky / infra cells are marked apart from real findings so
nobody gates on a flake or a broken runner.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macmatrix import data as package_data
from macmatrix.files import atomic_write
from macmatrix.types import Outcome
from macmatrix.views import mdtext, neighbours, pivot

OUTCOME_ORDER = tuple(Outcome)  # works, broken, infra-error, unsupported: the enum's order

# Unicode for Markdown/HTML, ASCII for terminals that may not render anything else.
SYMBOL: dict[str, str] = {
    Outcome.WORKS: "✓",
    Outcome.BROKEN: "✗",
    Outcome.INFRA_ERROR: "⚠",
    Outcome.UNSUPPORTED: "–",
}
ASCII: dict[str, str] = {
    Outcome.WORKS: "+",
    Outcome.BROKEN: "X",
    Outcome.INFRA_ERROR: "!",
    Outcome.UNSUPPORTED: "-",
}
WORD: dict[str, str] = {
    Outcome.WORKS: Outcome.WORKS.value,
    Outcome.BROKEN: Outcome.BROKEN.value,
    Outcome.INFRA_ERROR: "infra",
    Outcome.UNSUPPORTED: "n/a",
}
NOT_RUN = "·"
FLAKY_MARK = "↻"  # passed only after a retry
UNEXPECTED_MARK = "≠"  # differs from its expectation (model or baseline)
SUBSTITUTED_MARK = "⇄"  # netns ran static IPAM instead of the case's (ipam_substitute)

# GitHub rejects a step summary over 1 MiB; leave room for the job's other lines.
SUMMARY_BUDGET = 900_000
SHORT_REASON = 70


# --------------------------------------------------------------------------- shared helpers


def stack_label(doc: dict[str, Any]) -> str:
    """The column name of a document: stack.name, else its backend, else 'results'."""
    stack = doc.get("stack") or {}
    return str(stack.get("name") or stack.get("backend") or "results")


def column_labels(docs: Sequence[dict[str, Any]]) -> list[str]:
    """One unique label per document; a repeated stack gets ' #2', ' #3' ... suffixes."""
    seen: Counter[str] = Counter()
    out = []
    for doc in docs:
        base = stack_label(doc)
        seen[base] += 1
        out.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return out


def case_ids(docs: Iterable[dict[str, Any]]) -> list[str]:
    """Every case id over all documents, in first-seen order (the matrix order)."""
    ids: dict[str, None] = {}
    for doc in docs:
        for entry in doc.get("cases", []):
            ids.setdefault(str(entry["id"]), None)
    return list(ids)


def short(text: str | None, limit: int = SHORT_REASON) -> str:
    """First line of a reason, cut to `limit` characters with an ellipsis."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: max(limit - 1, 0)].rstrip() + "…"


def is_unexpected(entry: dict[str, Any]) -> bool:
    """Differs from its expectation. Infra errors never count: they are re-run, not findings."""
    return entry.get("as_expected") is False and entry.get("outcome") != Outcome.INFRA_ERROR


def marks(entry: dict[str, Any]) -> str:
    """Flag characters appended to a cell: unexpected and/or flaky."""
    out = ""
    if is_unexpected(entry):
        out += UNEXPECTED_MARK
    if entry.get("flaky"):
        out += FLAKY_MARK
    if entry.get("ipam_substituted"):
        out += SUBSTITUTED_MARK
    return out


def substituted_note(entry: dict[str, Any]) -> str:
    """'ipam substituted (kube-ovn -> static)' for a case whose IPAM ran as static, else ''."""
    subs = entry.get("ipam_substituted") or []
    kinds = sorted({str((s.get("replaced") or {}).get("type")) for s in subs})
    return f"ipam substituted ({', '.join(kinds)} -> static)" if subs else ""


def cell_reason(entry: dict[str, Any]) -> str:
    """The one line a cell shows: the departure from expectation first, then the reason."""
    reason = str(entry.get("reason") or "")
    diffs = entry.get("differences") or []
    if not reason and is_unexpected(entry) and diffs:
        reason = str(diffs[0])
    elif not reason and entry.get("flaky"):
        reason = f"flaky: passed after {entry.get('attempts', '?')} attempts"
    note = substituted_note(entry)
    return f"{note}; {reason}" if note and reason else (note or reason)


def count_line(entries: Sequence[dict[str, Any]]) -> str:
    counts = Counter(e.get("outcome") for e in entries)
    parts = [f"{counts.get(o, 0)} {o}" for o in OUTCOME_ORDER]
    unexpected = sum(1 for e in entries if is_unexpected(e))
    flaky = sum(1 for e in entries if e.get("flaky"))
    return (
        f"{len(entries)} cases: " + ", ".join(parts) + f"; {unexpected} unexpected, {flaky} flaky"
    )


# --------------------------------------------------------------------------- terminal


def render_terminal(doc: dict[str, Any], width: int = 100) -> str:
    """End-of-run table for one results doc: plain ASCII, no colour, fits `width` columns.

    Line layout: `<mark> <sym> <word>  <case id>  <reason>`; the reason wraps onto its own
    indented line when the id leaves no room. Mark `*` = not as expected, `~` = flaky.
    """
    width = max(width, 40)
    entries = list(doc.get("cases", []))
    near = neighbours.nearest(entries)
    lines = [_ascii_cut(f"macmatrix results: {_stack_title(doc)}", width)]
    substituted = _substituted_apiserver(doc)
    if substituted:
        lines.append(_ascii_cut(substituted, width))
    for e in entries:
        outcome = e.get("outcome", "")
        mark = ("*" if is_unexpected(e) else " ") + ("~" if e.get("flaky") else " ")
        # The id is never cut: it is what people copy into `-k`.
        head = f"{mark}{ASCII.get(outcome, '?')} {outcome:<11} {e['id']}"
        reason = cell_reason(e)
        if reason:
            room = width - len(head) - 2
            if room >= 20:
                head += "  " + _ascii_cut(reason, room)
            else:
                lines.append(head)
                head = "      " + _ascii_cut(reason, width - 6)
        lines.append(head)
        if e["id"] in near:  # the nearest working neighbours, from this run's own data
            lines.append("      -> " + _ascii_cut(neighbours.hint(near[e["id"]]), width - 9))
    lines.append("-" * min(width, 60))
    counts = count_line(entries)
    lines += [counts] if len(counts) <= width else counts.split("; ")
    unexpected = [e for e in entries if is_unexpected(e)]
    if unexpected:
        lines.append(f"* {len(unexpected)} case(s) not as expected:")
        for e in unexpected:
            lines.append(f"  {e['id']}")
            for diff in e.get("differences") or ["differs from its expectation"]:
                lines.append("      " + _ascii_cut(str(diff), width - 6))
    if any(e.get("flaky") for e in entries):
        lines.append("~ flaky: passed only after a retry")
    n_subs = sum(1 for e in entries if e.get("ipam_substituted"))
    if n_subs:
        lines.append(
            f"{n_subs} case(s) ran with ipam substituted (static instead of the case's IPAM, "
            "netns); what only the real IPAM decides is not judged"
        )
    if doc.get("complete") is False:
        lines.append("run incomplete: unfinished cases are counted as infra-error")
    return "\n".join(lines) + "\n"


def _ascii_cut(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(limit - 3, 0)] + "..."


def _substituted_apiserver(doc: dict[str, Any]) -> str | None:
    """The real-Multus tier ran another kube-apiserver than the stack pins: one line saying so
    (backends/multus stack(): kubernetes, kubernetes_in_stack, apiserver_substituted)."""
    stack = doc.get("stack") or {}
    if not stack.get("apiserver_substituted"):
        return None
    ran = str(stack.get("kubernetes") or "?").split(" ", 1)[0]
    return (
        f"! kube-apiserver {ran}, not the stack's {stack.get('kubernetes_in_stack')}: "
        "that one cannot be built here (stack.apiserver_substituted)"
    )


def _stack_title(doc: dict[str, Any]) -> str:
    stack = doc.get("stack") or {}
    bits = [stack_label(doc)]
    if stack.get("name") and stack.get("backend"):
        bits.append(f"backend {stack['backend']}")
    for key in ("kube_ovn", "multus", "cni_plugins", "kubernetes", "kind"):
        if stack.get(key):
            bits.append(f"{key} {stack[key]}")
    return ", ".join(bits)


# --------------------------------------------------------------------------- Markdown


def _md(text: Any) -> str:
    """Escape a value for a Markdown table cell (pipes, newlines, HTML, Markdown syntax)."""
    return mdtext.text(text)


def md_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return f"{NOT_RUN} not run"
    outcome = entry.get("outcome", "")
    flags = marks(entry)
    return f"{SYMBOL.get(outcome, '?')} {WORD.get(outcome, outcome)}" + (
        f" {flags}" if flags else ""
    )


LEGEND = (
    f"{SYMBOL[Outcome.WORKS]} works · {SYMBOL[Outcome.BROKEN]} broken (a finding) · "
    f"{SYMBOL[Outcome.INFRA_ERROR]} infra-error (harness/cluster failed: re-run, never gate "
    f"on it) · {SYMBOL[Outcome.UNSUPPORTED]} unsupported "
    f"on this backend/stack · {NOT_RUN} not run · {UNEXPECTED_MARK} differs from its expectation "
    f"· {FLAKY_MARK} flaky (passed after a retry) · {SUBSTITUTED_MARK} ipam substituted (netns ran "
    "static IPAM; the Kube-OVN annotation and IP CR are not judged)"
)


def render_markdown(docs: Sequence[dict[str, Any]], max_bytes: int = SUMMARY_BUDGET) -> str:
    """Markdown for results.md and GitHub step summaries, kept under `max_bytes` (UTF-8).

    One document: a per-case table. Several: a cases x stacks grid, then per-stack details
    folded in <details>. When over budget, the details go first, then grid rows, with a note.
    """
    docs = list(docs)
    if not docs:
        return "No results.\n"
    head, table, details = _markdown_parts(docs)
    return _fit(head, table, details, max_bytes)


def _markdown_parts(docs: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    labels = column_labels(docs)
    head = ["## macmatrix: MAC matrix results", ""]
    head += ["| stack | backend | Kube-OVN | Multus | CNI plugins | Kubernetes | result |"]
    head += ["|---|---|---|---|---|---|---|"]
    for label, doc in zip(labels, docs, strict=True):
        s = doc.get("stack") or {}
        cols = [s.get(k) or "" for k in ("backend", "kube_ovn", "multus", "cni_plugins")]
        cols.append(s.get("kubernetes") or "")
        head.append(
            f"| {_md(label)} | "
            + " | ".join(_md(c) for c in cols)
            + f" | {_md(_doc_counts(doc))} |"
        )
    head += ["", LEGEND, ""]
    head += _markdown_pivots(docs, labels)
    nears = [neighbours.nearest(d.get("cases", [])) for d in docs]
    table: list[str]
    if len(docs) == 1:
        doc = docs[0]
        table = ["| outcome | case | reason | expected |", "|---|---|---|---|"]
        for e in doc.get("cases", []):
            exp = (e.get("expected") or {}).get("outcome", "")
            why = _md(short(cell_reason(e)))
            if e["id"] in nears[0]:
                why += f" → {_md(neighbours.hint(nears[0][e['id']]))}"
            table.append(f"| {md_cell(e)} | `{mdtext.code(e['id'])}` | {why} | {_md(exp)} |")
    else:
        index = [{str(e["id"]): e for e in d.get("cases", [])} for d in docs]
        table = ["| case | " + " | ".join(_md(lbl) for lbl in labels) + " |"]
        table.append("|---" * (len(labels) + 1) + "|")
        for cid in case_ids(docs):
            cells = [md_cell(ix.get(cid)) for ix in index]
            table.append(f"| `{mdtext.code(cid)}` | " + " | ".join(cells) + " |")
    details: list[str] = []
    for label, doc, near in zip(labels, docs, nears, strict=True):
        notable = [
            e
            for e in doc.get("cases", [])
            if e.get("outcome") != Outcome.WORKS or is_unexpected(e) or e.get("flaky")
        ]
        if not notable:
            continue
        details += ["", f"<details><summary>{_md(label)}: {len(notable)} case(s) to read</summary>"]
        details += ["", "| case | outcome | reason / difference |", "|---|---|---|"]
        for e in notable:
            why = cell_reason(e)
            if is_unexpected(e):
                diffs = "; ".join(str(d) for d in e.get("differences") or []) or "differs"
                why = f"{why} — {UNEXPECTED_MARK} {diffs}" if why else f"{UNEXPECTED_MARK} {diffs}"
            if e["id"] in near:
                why = f"{short(why, 200)} → {neighbours.hint(near[e['id']])}"
            details.append(f"| `{mdtext.code(e['id'])}` | {md_cell(e)} | {_md(short(why, 300))} |")
        details += ["", "</details>"]
    return head, table, details


def _markdown_pivots(docs: list[dict[str, Any]], labels: list[str]) -> list[str]:
    """One truth table per main plugin and stack: NAD shape x request route (pivot.py); Δ marks
    a change from the first stack's table of the same plugin."""
    out: list[str] = []
    marked = False
    for plugin in pivot.plugins(docs):
        pivots = [pivot.build(d, plugin) for d in docs]
        marks_per = pivot.changed(pivots)
        marked = marked or any(marks_per)
        for label, p, moved in zip(labels, pivots, marks_per, strict=True):
            if not p.cells:
                continue
            out += [
                f"### Truth table: {_md(_pivot_title(label, plugin))} (which way of asking for a "
                "MAC works with which NAD)",
                "",
                "| NAD shape | " + " | ".join(f"req {_md(c)}" for c in p.cols) + " |",
                "|---" * (len(p.cols) + 1) + "|",
            ]
            for row in p.rows:
                cells = []
                for col in p.cols:
                    e = p.cells.get((row, col))
                    text = md_cell(e) if e is not None else f"{NOT_RUN} not run"
                    if (row, col) in moved:
                        text += f" {pivot.CHANGED_MARK}"
                    cells.append(text)
                out.append(f"| {_md(pivot.row_label(row, plugin))} | " + " | ".join(cells) + " |")
            out.append("")
    if marked:
        out += [f"{pivot.CHANGED_MARK} differs from the first stack ({_md(labels[0])})", ""]
    if out:
        out += [f"Cells are the cases with {_pivot_fixed(docs)}.", ""]
    return out


def _pivot_title(label: str, plugin: str) -> str:
    """A table's stack label; the plugin is named for any but the default one (macvlan)."""
    return label if plugin == pivot.DEFAULT_PLUGIN else f"{label} · {plugin}"


def _pivot_fixed(docs: Sequence[dict[str, Any]]) -> str:
    """The axes every pivot cell has at its default; `plugin` too when it is the only one."""
    fixed = [f"{a}={pivot.DEFAULTS[a]}" for a in pivot.FIXED]
    if pivot.plugins(docs) in ([], [pivot.DEFAULT_PLUGIN]):
        fixed.append(f"{pivot.PLUGIN_AXIS}={pivot.DEFAULT_PLUGIN}")
    else:
        fixed.append(f"one table per {pivot.PLUGIN_AXIS}")
    return ", ".join(fixed)


def _doc_counts(doc: dict[str, Any]) -> str:
    entries = doc.get("cases", [])
    counts = Counter(e.get("outcome") for e in entries)
    out = " ".join(f"{SYMBOL[o]}{counts[o]}" for o in OUTCOME_ORDER if counts.get(o))
    unexpected = sum(1 for e in entries if is_unexpected(e))
    if unexpected:
        out += f" {UNEXPECTED_MARK}{unexpected}"
    if doc.get("complete") is False:
        out += " (incomplete)"
    return out


def _fit(head: list[str], table: list[str], details: list[str], max_bytes: int) -> str:
    def size(lines: list[str]) -> int:
        return sum(len(x.encode()) + 1 for x in lines)

    note: list[str] = []
    if size(head) + size(table) + size(details) > max_bytes:
        details = []
        note = ["", "_Details left out to stay under the step-summary size limit; see the HTML._"]
    budget = max_bytes - size(head) - size(note) - 200
    if size(table) > budget:
        kept: list[str] = []
        used = 0
        for line in table:
            if used + len(line.encode()) + 1 > budget:
                break
            kept.append(line)
            used += len(line.encode()) + 1
        note = [
            "",
            f"_Table cut after {max(len(kept) - 2, 0)} of {len(table) - 2} cases to stay under "
            "the step-summary size limit; the HTML report has all of them._",
        ]
        table = kept
    return "\n".join(head + table + details + note) + "\n"


# --------------------------------------------------------------------------- HTML


@dataclass
class _Column:
    label: str
    doc: dict[str, Any]
    index: dict[str, dict[str, Any]]


def render_html(docs: Sequence[dict[str, Any]]) -> str:
    """One self-contained page (inline CSS/JS, no network): grid, filters, per-check drill-down."""
    docs = list(docs)
    cols = [
        _Column(lbl, d, {str(e["id"]): e for e in d.get("cases", [])})
        for lbl, d in zip(column_labels(docs), docs, strict=True)
    ]
    ids = case_ids(docs)
    nears = [neighbours.nearest(c.doc.get("cases", [])) for c in cols]
    data = {
        "columns": [{"label": c.label, "stack": c.doc.get("stack") or {}} for c in cols],
        "cells": {
            f"{ci}:{ri}": {**_cell_data(c.index[cid]), "nearest": nears[ci].get(cid, [])}
            for ri, cid in enumerate(ids)
            for ci, c in enumerate(cols)
            if cid in c.index
        },
        "ids": ids,
    }
    rows = []
    for ri, cid in enumerate(ids):
        cells = "".join(
            _html_cell(ci, ri, c.index.get(cid), nears[ci].get(cid, []))
            for ci, c in enumerate(cols)
        )
        rows.append(
            f'<tr data-id="{html.escape(cid)}"><th scope="row" class="cid">'
            f"{_breakable(cid)}</th>{cells}</tr>"
        )
    heads = "".join(
        f'<th scope="col" title="{html.escape(_stack_title(c.doc))}">{html.escape(c.label)}'
        f'<div class="sub">{html.escape(_doc_counts(c.doc))}</div></th>'
        for c in cols
    )
    stacks = "".join(
        "<tr><th>{}</th>{}</tr>".format(
            html.escape(c.label),
            "".join(
                f"<td>{html.escape(str((c.doc.get('stack') or {}).get(k) or ''))}</td>"
                for k in _STACK_KEYS
            ),
        )
        for c in cols
    )
    filters = "".join(
        f'<label class="f {_cls(o)}"><input type="checkbox" name="outcome" value="{o}" checked> '
        f"<span class=sym>{SYMBOL[o]}</span> {o}</label>"
        for o in OUTCOME_ORDER
    )
    total = Counter(e.get("outcome") for c in cols for e in c.index.values())
    payload = json.dumps(data, sort_keys=True).replace("<", "\\u003c").replace("&", "\\u0026")
    return _PAGE.format(
        title=html.escape("macmatrix report: " + ", ".join(c.label for c in cols)),
        heads=heads,
        rows="\n".join(rows),
        stack_heads="".join(f"<th>{html.escape(k)}</th>" for k in _STACK_KEYS),
        stacks=stacks,
        pivots=_html_pivots(cols),
        filters=filters,
        n_cases=len(ids),
        n_stacks=len(cols),
        totals=html.escape(", ".join(f"{total.get(o, 0)} {o}" for o in OUTCOME_ORDER)),
        legend=html.escape(LEGEND),
        unexpected_mark=UNEXPECTED_MARK,
        flaky_mark=FLAKY_MARK,
        css=package_data.text("report/report.css"),
        js=package_data.text("report/report.js"),
        payload=payload,
    )


_STACK_KEYS = ("backend", "kube_ovn", "multus", "cni_plugins", "kubernetes", "kind")


def _cls(outcome: str) -> str:
    return "o-" + (outcome if outcome in SYMBOL else "none")


def _breakable(case_id: str) -> str:
    """Let long ids wrap after each '/' on narrow screens."""
    return "/<wbr>".join(html.escape(p) for p in case_id.split("/"))


def _html_pivots(cols: Sequence[_Column]) -> str:
    """The truth table per main plugin and stack (pivot.py), symbol and word per cell; Δ marks a
    change from the first stack's table of the same plugin."""
    docs = [c.doc for c in cols]
    parts = []
    marked = False
    for plugin in pivot.plugins(docs):
        pivots = [pivot.build(d, plugin) for d in docs]
        moved = pivot.changed(pivots)
        marked = marked or any(moved)
        for c, p, changed in zip(cols, pivots, moved, strict=True):
            if p.cells:
                parts.append(_html_pivot(c.label, p, changed))
    if not parts:
        return ""
    note = f"Cells are the cases with {_pivot_fixed(docs)}."
    if marked:
        note += f" {pivot.CHANGED_MARK} differs from the first stack ({cols[0].label})."
    return (
        '<section id="pivots"><h2>Truth table: which way of asking for a MAC works with which '
        f"NAD</h2><p>{html.escape(note)}</p>{''.join(parts)}</section>"
    )


def _html_pivot(label: str, p: pivot.Pivot, changed: set[tuple[tuple[str, ...], str]]) -> str:
    head = "".join(f'<th scope="col">req {html.escape(col)}</th>' for col in p.cols)
    body = []
    for row in p.rows:
        tds = []
        for col in p.cols:
            e = p.cells.get((row, col))
            outcome = str(e.get("outcome")) if e else "none"
            word = WORD.get(outcome, "not run")
            sym = SYMBOL.get(outcome, NOT_RUN)
            mark = (row, col) in changed
            title = html.escape(str(e["id"]) if e else "not run")
            tds.append(
                f'<td class="pv {_cls(outcome)}{" changed" if mark else ""}" '
                f'data-outcome="{html.escape(outcome)}" title="{title}">'
                f'<span class="sym" aria-hidden="true">{sym}</span> {html.escape(word)}'
                + (f' <span class="flags">{pivot.CHANGED_MARK}</span>' if mark else "")
                + "</td>"
            )
        name = html.escape(pivot.row_label(row, p.plugin))
        body.append(f'<tr><th scope="row">{name}</th>{"".join(tds)}</tr>')
    plugin = "" if p.plugin == pivot.DEFAULT_PLUGIN else f' data-plugin="{html.escape(p.plugin)}"'
    return (
        f'<table class="pivot" data-stack="{html.escape(label)}"{plugin}>'
        f"<caption>{html.escape(_pivot_title(label, p.plugin))}</caption>"
        f'<thead><tr><th scope="col">NAD shape</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _html_cell(ci: int, ri: int, entry: dict[str, Any] | None, near: Sequence[str] = ()) -> str:
    if entry is None:
        return f'<td class="cell o-none" data-outcome="none">{NOT_RUN} not run</td>'
    outcome = str(entry.get("outcome", ""))
    classes = ["cell", _cls(outcome)]
    if is_unexpected(entry):
        classes.append("unexpected")
    if entry.get("flaky"):
        classes.append("flaky")
    if entry.get("ipam_substituted"):
        classes.append("substituted")
    flags = marks(entry)
    reason = cell_reason(entry)
    return (
        f'<td class="{" ".join(classes)}" data-outcome="{html.escape(outcome)}" '
        f'data-key="{ci}:{ri}" tabindex="0" title="{html.escape(reason)}">'
        f'<span class="sym" aria-hidden="true">{SYMBOL.get(outcome, "?")}</span> '
        f'<span class="word">{html.escape(WORD.get(outcome, outcome))}</span>'
        + (f' <span class="flags">{flags}</span>' if flags else "")
        + (f'<div class="why">{html.escape(short(reason, 48))}</div>' if reason else "")
        + (f'<div class="near">{html.escape(neighbours.hint(near))}</div>' if near else "")
        + "</td>"
    )


def _cell_data(entry: dict[str, Any]) -> dict[str, Any]:
    keep: tuple[str, ...] = (
        "id",
        "outcome",
        "reason",
        "checks",
        "expected",
        "as_expected",
        "differences",
    )
    keep += ("attempts", "duration_s", "flaky", "requested", "diagnostics", "finished")
    keep += ("ipam_substituted", "not_judged")
    out = {k: entry[k] for k in keep if k in entry}
    out["pods"] = [
        {"name": p.get("name"), "interfaces": p.get("interfaces"), "error": p.get("error")}
        for p in entry.get("pods") or []
        if isinstance(p, dict)
    ]
    return out


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>macmatrix: which ways of asking for a MAC really work</h1>
<div class="meta">{n_cases} cases × {n_stacks} stack(s) · {totals}</div>
<div class="legend">{legend}</div>
</header>
<div class="controls" role="search">
<input type="search" id="search"
 placeholder="search case id, e.g. tuning-capmac req-networks"
 aria-label="search by case id">
{filters}
<label class="f"><input type="checkbox" id="unexpected"> only {unexpected_mark} unexpected</label>
<label class="f"><input type="checkbox" id="flaky"> only {flaky_mark} flaky</label>
<span id="count" aria-live="polite"></span>
</div>
<main>
<div class="gridwrap">
<table id="grid">
<thead><tr><th scope="col">case</th>{heads}</tr></thead>
<tbody>
{rows}
</tbody>
</table>
</div>
<aside id="detail" aria-live="polite"><p>Click a cell (or focus it and press Enter) to see its
checks: expected vs observed, the model's prediction and why.</p></aside>
</main>
{pivots}
<table id="stacks"><thead><tr><th>stack</th>{stack_heads}</tr></thead>
<tbody>{stacks}</tbody></table>
<script id="data" type="application/json">{payload}</script>
<script>{js}</script>
</body>
</html>
"""


def results_md(folder: Path) -> Callable[[dict[str, Any]], None]:
    """The `on_finish` of run.runner.execute that writes results.md beside results.json."""
    return lambda doc: atomic_write(folder / "results.md", render_markdown([doc]))
