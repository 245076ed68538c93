"""Committed baselines and the model must tell the same story.

A baseline records what the plugins really did; the model predicts it from upstream source. When
they part, one of them is wrong: re-check upstream, then fix the model or re-record the baseline
(`macmatrix baseline update RESULTS.json`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix.judge.verdict import model
from macmatrix.spec import cases
from macmatrix.views import baseline

BASELINES = sorted((Path(__file__).resolve().parents[1] / "e2e" / "baselines").glob("*.json"))


def test_a_netns_baseline_is_committed() -> None:
    assert any(p.name == "netns-netns.json" for p in BASELINES)


@pytest.mark.parametrize("path", BASELINES, ids=[p.stem for p in BASELINES])
def test_baseline_agrees_with_the_model(path: Path) -> None:
    doc = baseline.load(path)
    stack = doc.get("stack") or {}
    known = {c.id: c for c in cases.load(cases.default_matrix_path())}
    disagree = []
    for case_id, entry in doc["cases"].items():
        case = known.get(case_id)
        if case is None:
            continue  # a case the default matrix no longer has
        want = model(case, stack)
        if want.outcome != entry["outcome"] or want.checks != entry.get("checks", {}):
            disagree.append(f"{case_id}: model {want.outcome} {want.checks} vs {entry}")
    assert not disagree, "\n".join(disagree)
    assert set(known) <= set(doc["cases"]) | {c for c in known if known[c].needs_kubeovn()}
