"""The truth table per stack and main plugin: NAD shapes (rows) x request routes (columns).

The question a Kube-OVN user asks is "which way of asking for a MAC works with my NAD". Rows
are NAD shapes (chain x the main plugin's capabilities x tuning), columns the request routes,
and each cell the outcome of the case whose other axes are at their defaults (cases.DEFAULTS),
so every cell answers the same question. Each main plugin in the results (the `plugin` axis:
macvlan, bridge, ...) gets its own table, since one NAD shape means a different config per
plugin. With several stacks, each gets its own tables and a cell whose outcome differs from
the first stack's (same plugin) is marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from macmatrix.spec.cases import AXES, DEFAULTS

ROW_AXES = ("chain", "macvlan_capmac", "tuning")
COL_AXIS = "request"
PLUGIN_AXIS = "plugin"  # one table per value present
FIXED = tuple(a for a in AXES if a not in (*ROW_AXES, COL_AXIS, PLUGIN_AXIS))
DEFAULT_PLUGIN = DEFAULTS[PLUGIN_AXIS]
CHANGED_MARK = "Δ"


@dataclass
class Pivot:
    rows: list[tuple[str, ...]]  # NAD shapes, in axis-value order
    cols: list[str]  # request routes present
    cells: dict[tuple[tuple[str, ...], str], dict[str, Any]]  # (row, col) -> results entry
    plugin: str = DEFAULT_PLUGIN  # the main plugin of every case in it

    def outcome(self, row: tuple[str, ...], col: str) -> str | None:
        e = self.cells.get((row, col))
        return None if e is None else str(e.get("outcome"))


def row_label(row: tuple[str, ...], plugin: str = DEFAULT_PLUGIN) -> str:
    chain, capmac, tuning = row
    text = f"{chain}, {plugin} capabilities.mac {capmac}"
    return text + (f", tuning {tuning}" if chain == "conflist" else "")


def _plugin_of(axes: dict[str, Any]) -> str:
    # an axis a file lacks was recorded before it existed (`plugin`): it had the default
    return str(axes.get(PLUGIN_AXIS, DEFAULT_PLUGIN))


def plugins(docs: Sequence[dict[str, Any]]) -> list[str]:
    """The main plugins the documents' cases ran, in `plugin` axis order (unknown ones after)."""
    seen = {
        _plugin_of(e["axes"])
        for d in docs
        for e in d.get("cases", [])
        if isinstance(e, dict) and isinstance(e.get("axes"), dict)
    }
    known = [p for p in AXES[PLUGIN_AXIS] if p in seen]
    return known + sorted(seen - set(known))


def build(doc: dict[str, Any], plugin: str = DEFAULT_PLUGIN) -> Pivot:
    """The pivot of one results document for one main plugin (its cases whose other axes are
    all at their defaults)."""
    cells: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for e in doc.get("cases", []):
        axes = e.get("axes")
        if not isinstance(axes, dict) or _plugin_of(axes) != plugin:
            continue
        if any(axes.get(a, DEFAULTS[a]) != DEFAULTS[a] for a in FIXED):
            continue
        if not all(a in axes for a in (*ROW_AXES, COL_AXIS)):
            continue
        row = tuple(str(axes[a]) for a in ROW_AXES)
        cells[(row, str(axes[COL_AXIS]))] = e

    def order(row: tuple[str, ...]) -> tuple[int, ...]:
        pairs = zip(ROW_AXES, row, strict=True)
        return tuple(AXES[a].index(v) if v in AXES[a] else 99 for a, v in pairs)

    rows = sorted({r for r, _ in cells}, key=order)
    cols = [c for c in AXES[COL_AXIS] if any(col == c for _, col in cells)]
    return Pivot(rows, cols, cells, plugin)


def changed(pivots: Sequence[Pivot]) -> list[set[tuple[tuple[str, ...], str]]]:
    """Per pivot, the cells whose outcome differs from the first pivot's (first: none)."""
    if not pivots:
        return []
    first = pivots[0]
    out: list[set[tuple[tuple[str, ...], str]]] = [set()]
    for p in pivots[1:]:
        out.append(
            {
                key
                for key in p.cells
                if first.outcome(*key) is not None and first.outcome(*key) != p.outcome(*key)
            }
        )
    return out
