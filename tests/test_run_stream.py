"""An interrupted run keeps every case that finished (issue 12, section 5).

Runs real cases on the netns backend and interrupts the run from its own progress line, the way
Ctrl-C lands between two cases; results.json must then hold the finished cases, not "unfinished".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macmatrix.backends.netns.backend import NetnsBackend, unavailable
from macmatrix.observe import CaseObservation
from macmatrix.run.results import UNFINISHED
from macmatrix.run.retry import Attempt, settle
from macmatrix.run.runner import execute
from macmatrix.spec import cases
from macmatrix.types import Status

WHY_NOT = unavailable()
needs_netns = pytest.mark.skipif(bool(WHY_NOT), reason=f"netns backend unavailable: {WHY_NOT}")


@needs_netns
@pytest.mark.netns
def test_interrupted_run_keeps_the_cases_that_finished(tmp_path: Path) -> None:
    selected = cases.select(cases.load(cases.default_matrix_path()), "x1 and ipam-static")[:4]
    assert len(selected) == 4

    def progress(done: int, total: int, message: str) -> None:
        if done == 3:  # the third case is done but not yet handed on: Ctrl-C lands here
            raise KeyboardInterrupt

    with NetnsBackend(workers=1) as nb, pytest.raises(KeyboardInterrupt):
        execute(nb, selected, tmp_path, "m.yaml", None, 0, progress)
    doc = json.loads((tmp_path / "results.json").read_text())
    finished = [c for c in doc["cases"] if c["finished"]]
    # The first two finished before the interrupt; the third was interrupted. (A fourth may have
    # started on the worker before the cancel reached it; if it finished, it is kept too.)
    assert [c["id"] for c in finished][:2] == [c.id for c in selected[:2]]
    assert all(c["outcome"] != Status.INFRA_ERROR and c["pods"] for c in finished)
    assert doc["cases"][2]["reason"] == UNFINISHED
    assert doc["complete"] is False


def test_settle_streams_only_final_observations() -> None:
    a, b = cases.select(cases.load(cases.default_matrix_path()), "x1 and ipam-static")[:2]
    plan = {a.id: [Status.INFRA_ERROR, Status.RAN], b.id: [Status.RAN]}
    streamed: list[tuple[str, str, list[Attempt]]] = []

    def run_once(cs: list[cases.Case], sink) -> dict[str, CaseObservation]:  # type: ignore[no-untyped-def]
        out = {}
        for c in cs:
            obs = CaseObservation(c.id, plan[c.id].pop(0), "boom")
            sink(obs)
            out[c.id] = obs
        return out

    got = settle(run_once, [a, b], 2, lambda o, h: streamed.append((o.case_id, o.status, h)))
    assert [(cid, st, len(h)) for cid, st, h in streamed] == [
        (b.id, Status.RAN, 1),
        (a.id, Status.RAN, 2),
    ]
    assert streamed[1][1] == got.observations[a.id].status
    assert got.observations[a.id].flaky


def test_settle_never_retries_what_a_retry_cannot_fix() -> None:
    (a,) = cases.select(cases.load(cases.default_matrix_path()), "x1 and ipam-static")[:1]
    calls: list[int] = []

    def run_once(cs: list[cases.Case]) -> dict[str, CaseObservation]:
        calls.append(len(cs))
        return {
            c.id: CaseObservation(c.id, Status.INFRA_ERROR, "hung", retryable=False) for c in cs
        }

    got = settle(run_once, [a], 2)
    assert calls == [1]
    assert got.observations[a.id].reason == "hung"
