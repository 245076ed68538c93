"""The nearest working neighbour of a broken case: working cases one axis away, from the data.

A user whose combination is broken wants the smallest change that works. Within one results
file, every working case whose axes differ from a broken case's in exactly one axis is such a
change ("works with tuning=capmac"). No extra run: only what the matrix already measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from macmatrix.spec.cases import AXES
from macmatrix.types import Outcome


def nearest(entries: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Case id of each broken case -> 'axis=value' of its working neighbours, in axis order."""
    working = [
        e for e in entries if e.get("outcome") == Outcome.WORKS and isinstance(e.get("axes"), dict)
    ]
    out: dict[str, list[str]] = {}
    for e in entries:
        axes = e.get("axes")
        if e.get("outcome") != Outcome.BROKEN or not isinstance(axes, dict):
            continue
        hints = []
        for w in working:
            other = w["axes"]
            if set(other) != set(axes):
                continue
            diff = [a for a in axes if axes[a] != other[a]]
            if len(diff) == 1:
                hints.append((diff[0], str(other[diff[0]])))
        order = {a: i for i, a in enumerate(AXES)}
        hints.sort(key=lambda h: (order.get(h[0], len(order)), h[1]))
        if hints:
            out[str(e["id"])] = [f"{a}={v}" for a, v in dict.fromkeys(hints)]
    return out


def hint(names: Sequence[str], limit: int = 3) -> str:
    """'works with tuning=capmac, request=networks' (at most `limit`, then '+N more')."""
    if not names:
        return ""
    shown = ", ".join(names[:limit])
    more = f" +{len(names) - limit} more" if len(names) > limit else ""
    return f"works with {shown}{more}"
