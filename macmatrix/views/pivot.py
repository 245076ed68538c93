"""The truth table per stack: NAD shapes (rows) x request routes (columns), outcome per cell.

The question a Kube-OVN user asks is "which way of asking for a MAC works with my NAD". Rows
are NAD shapes (chain x macvlan capabilities x tuning), columns the request routes, and each
cell the outcome of the case whose other axes are at their defaults (cases.DEFAULTS), so every
cell answers the same question. With several stacks, each gets its own table and a cell whose
outcome differs from the first stack's is marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from macmatrix.spec.cases import AXES, DEFAULTS

ROW_AXES = ("chain", "macvlan_capmac", "tuning")
COL_AXIS = "request"
FIXED = tuple(a for a in AXES if a not in (*ROW_AXES, COL_AXIS))
CHANGED_MARK = "Δ"


@dataclass
class Pivot:
    rows: list[tuple[str, ...]]  # NAD shapes, in axis-value order
    cols: list[str]  # request routes present
    cells: dict[tuple[tuple[str, ...], str], dict[str, Any]]  # (row, col) -> results entry

    def outcome(self, row: tuple[str, ...], col: str) -> str | None:
        e = self.cells.get((row, col))
        return None if e is None else str(e.get("outcome"))


def row_label(row: tuple[str, ...]) -> str:
    chain, capmac, tuning = row
    text = f"{chain}, macvlan capabilities.mac {capmac}"
    return text + (f", tuning {tuning}" if chain == "conflist" else "")


def build(doc: dict[str, Any]) -> Pivot:
    """The pivot of one results document (cases whose other axes are all at their defaults)."""
    cells: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for e in doc.get("cases", []):
        axes = e.get("axes")
        # an axis a file lacks was recorded before it existed (`plugin`): it had the default
        if not isinstance(axes, dict) or any(
            axes.get(a, DEFAULTS[a]) != DEFAULTS[a] for a in FIXED
        ):
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
    return Pivot(rows, cols, cells)


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
