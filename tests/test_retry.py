"""The infra-error retry policy, driven by a scripted stand-in for `backend.run`."""

from __future__ import annotations

import pytest

from macmatrix.errors import BadInput
from macmatrix.judge.verdict import judge
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run.results import case_entry
from macmatrix.run.retry import MISSING, retry_until_settled, settle
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.types import Outcome, Status


def mk(**axes: str) -> Case:
    return Case(**{**DEFAULTS, **axes})


A, B, C, D = (mk(request=r) for r in ("networks", "annotation", "cni-args", "none"))


class Script:
    """Stand-in for backend.run: per case id, the status of each successive try."""

    def __init__(self, plan: dict[Case, list[str]], attempts: int = 1):
        self.plan = {c.id: list(statuses) for c, statuses in plan.items()}
        self.cases = {c.id: c for c in plan}
        self.calls: list[list[str]] = []
        self.attempts = attempts

    def __call__(self, cases: list[Case]) -> dict[str, CaseObservation]:
        self.calls.append([c.id for c in cases])
        out = {}
        for c in cases:
            status = self.plan[c.id].pop(0)
            n = len([call for call in self.calls if c.id in call])
            if status == "missing":
                continue
            out[c.id] = self.observation(c, status, n)
        return out

    def observation(self, case: Case, status: str, n: int) -> CaseObservation:
        if status == Status.RAN:
            mac = case.requested_mac(0) or "02:00:00:00:00:aa"
            pod = PodObservation(
                "p",
                interfaces={"net1": mac},
                network_status=[{"name": "default/m", "interface": "net1", "mac": mac}],
            )
            return CaseObservation(case.id, pods=[pod], attempts=self.attempts, duration_s=1.5)
        reason = f"{status} #{n}"
        return CaseObservation(case.id, status, reason, attempts=self.attempts, duration_s=0.5)


def test_only_infra_errors_are_rerun_and_flaky_marked():
    script = Script(
        {
            A: [Status.INFRA_ERROR, Status.RAN],
            B: [Status.RAN],
            C: [Status.INFRA_ERROR, Status.INFRA_ERROR, Status.INFRA_ERROR],
            D: [Status.UNSUPPORTED],
        }
    )
    got = retry_until_settled(script, [A, B, C, D], retries=2)
    assert script.calls == [[A.id, B.id, C.id, D.id], [A.id, C.id], [C.id]]
    assert set(got) == {A.id, B.id, C.id, D.id}

    a = got[A.id]
    assert (a.status, a.flaky, a.attempts, a.duration_s) == (Status.RAN, True, 2, 2.0)
    assert (
        a.reason == f"try 1/2 {Status.INFRA_ERROR}: {Status.INFRA_ERROR} #1; try 2/2 {Status.RAN}"
    )

    b = got[B.id]
    assert (b.status, b.flaky, b.attempts, b.reason) == (Status.RAN, False, 1, "")

    c = got[C.id]
    assert (c.status, c.flaky, c.attempts) == (Status.INFRA_ERROR, False, 3)
    assert c.reason == "; ".join(f"try {i}/3 infra-error: infra-error #{i}" for i in (1, 2, 3))

    d = got[D.id]
    assert (d.status, d.flaky, d.reason) == (Status.UNSUPPORTED, False, "unsupported #1")


def test_flaky_cell_reaches_results_json_as_flaky_and_works():
    got = retry_until_settled(Script({A: [Status.INFRA_ERROR, Status.RAN]}), [A], retries=2)
    entry = case_entry(A, got[A.id], judge(A, got[A.id]), None)
    assert (entry["outcome"], entry["flaky"], entry["attempts"]) == (Outcome.WORKS, True, 2)


def test_retries_zero_runs_once():
    script = Script({A: [Status.INFRA_ERROR, Status.RAN]})
    got = retry_until_settled(script, [A], retries=0)
    assert script.calls == [[A.id]]
    assert (got[A.id].status, got[A.id].flaky, got[A.id].reason) == (
        Status.INFRA_ERROR,
        False,
        "infra-error #1",
    )


def test_stops_as_soon_as_everything_settled():
    script = Script({A: [Status.INFRA_ERROR, Status.RAN, Status.RAN, Status.RAN], B: [Status.RAN]})
    retry_until_settled(script, [A, B], retries=5)
    assert script.calls == [[A.id, B.id], [A.id]]


def test_backend_attempts_are_summed():
    got = retry_until_settled(
        Script({A: [Status.INFRA_ERROR, Status.RAN]}, attempts=3), [A], retries=2
    )
    assert got[A.id].attempts == 6


def test_unsupported_on_retry_is_flaky_and_keeps_both_reasons():
    got = retry_until_settled(Script({A: [Status.INFRA_ERROR, Status.UNSUPPORTED]}), [A], retries=1)
    assert got[A.id].status == Status.UNSUPPORTED and got[A.id].flaky
    assert "infra-error #1" in got[A.id].reason and "unsupported #2" in got[A.id].reason


def test_missing_observation_is_an_infra_error_and_retried():
    script = Script({A: ["missing", Status.RAN], B: ["missing", "missing"]})
    st = settle(script, [A, B], retries=1)
    assert script.calls == [[A.id, B.id], [A.id, B.id]]
    assert st.observations[A.id].status == Status.RAN and st.observations[A.id].flaky
    assert st.observations[B.id].status == Status.INFRA_ERROR
    assert (
        st.observations[B.id].reason
        == f"try 1/2 infra-error: {MISSING}; try 2/2 infra-error: {MISSING}"
    )


def test_history_keeps_every_try():
    st = settle(
        Script({A: [Status.INFRA_ERROR, Status.INFRA_ERROR, Status.RAN], B: [Status.RAN]}),
        [A, B],
        retries=2,
    )
    assert [t.to_json() for t in st.history[A.id]] == [
        {
            "number": 1,
            "status": Status.INFRA_ERROR,
            "reason": "infra-error #1",
            "attempts": 1,
            "duration_s": 0.5,
        },
        {
            "number": 2,
            "status": Status.INFRA_ERROR,
            "reason": "infra-error #2",
            "attempts": 1,
            "duration_s": 0.5,
        },
        {"number": 3, "status": Status.RAN, "reason": "", "attempts": 1, "duration_s": 1.5},
    ]
    assert len(st.history[B.id]) == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_bad_retries(bad):
    with pytest.raises(BadInput, match="--retries"):
        retry_until_settled(Script({A: [Status.RAN]}), [A], retries=bad)
