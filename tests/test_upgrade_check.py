"""The upgrade check start to end (stack/upgrade_check.py) against a stand-in backend: the order
of the steps, the files it writes, and its exit code for kept pods that change, regressions,
fixes and infra errors. The stand-in is a plain class (it stands in for KindBackend, not for the
Kubernetes API); KindBackend's own side is in tests/test_kind_upgrade.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from macmatrix.backends.kind.kube.snapshot import PodSnapshot
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.views import compare
from macmatrix.workflows.upgrade_check import run_check

A = Case(**DEFAULTS)  # networks element mac
B = Case(**{**DEFAULTS, "request": "cni-args"})
CASES = [A, B]
RANDOM = "02:11:22:33:44:55"


def works(case: Case) -> CaseObservation:
    mac = case.requested_mac(0)
    pod = PodObservation(
        "p", interfaces={"net1": mac}, network_status=[{"interface": "net1", "mac": mac}]
    )
    return CaseObservation(case.id, pods=[pod])


def broken(case: Case) -> CaseObservation:
    pod = PodObservation(
        "p", interfaces={"net1": RANDOM}, network_status=[{"interface": "net1", "mac": RANDOM}]
    )
    return CaseObservation(case.id, pods=[pod])


def infra(case: Case) -> CaseObservation:
    return CaseObservation(case.id, status="infra-error", reason="image pull failed")


def snap(net1: str, running: bool = True) -> PodSnapshot:
    return PodSnapshot(
        "mm-1", "p-0", "uid-1", A.id, "Running", running, 0, "w", {"eth0": "e", "net1": net1}
    )


class StandInKindBackend:
    """Stands in for KindBackend: scripted observations before/after, records every call."""

    name = "kind"

    def __init__(self, before: dict[str, Any], after: dict[str, Any], net1_after: str = "m"):
        self.before, self.after, self.net1_after = before, after, net1_after
        self.keep_pods = False
        self.upgraded = False
        self.calls: list[str] = []

    def stack(self) -> dict[str, Any]:
        name = "kube-ovn-v1.14" if self.upgraded else "kube-ovn-v1.13"
        return {"backend": "kind", "name": name}

    def run(
        self, cases: Any, progress: Any = None, on_case: Any = None
    ) -> dict[str, CaseObservation]:
        self.calls.append(f"run keep={self.keep_pods} upgraded={self.upgraded} n={len(cases)}")
        script = self.after if self.upgraded else self.before
        return {c.id: script[c.id](c) for c in cases}

    def kept_snapshot(self) -> dict[str, PodSnapshot]:
        self.calls.append("snapshot")
        s = snap(self.net1_after if self.upgraded else "m")
        return {s.key: s}

    def upgrade(self) -> None:
        self.calls.append("upgrade")
        self.upgraded = True

    def release_kept(self) -> None:
        self.calls.append("release")

    def close(self) -> None:
        self.calls.append("close")


def check(backend: StandInKindBackend, tmp_path: Path) -> Any:
    return run_check(backend, CASES, tmp_path / "out", "matrix.yaml", retries=1)


def test_unchanged_behaviour_passes_in_the_right_order(tmp_path: Path) -> None:
    b = StandInKindBackend({A.id: works, B.id: broken}, {A.id: works, B.id: broken})
    outcome = check(b, tmp_path)
    assert b.calls == [
        "run keep=True upgraded=False n=2",
        "snapshot",
        "upgrade",
        "snapshot",
        "release",
        "run keep=False upgraded=True n=2",
    ]
    assert outcome.exit_code() == 0 and outcome.checked_pods == 1 and not outcome.drifts
    out = tmp_path / "out"
    before = json.loads((out / "before" / "results.json").read_text())
    after = json.loads((out / "after" / "results.json").read_text())
    assert (
        before["stack"]["name"] == "kube-ovn-v1.13" and after["stack"]["name"] == "kube-ovn-v1.14"
    )
    assert [c["outcome"] for c in after["cases"]] == ["works", "broken"]
    pods = json.loads((out / "pods.json").read_text())
    assert list(pods["before"]) == ["mm-1/p-0"] and pods["drift"] == []
    text = (out / "upgrade.txt").read_text()
    assert "1 kept pod(s) checked" in text and "result: ok" in text


def test_a_regression_fails(tmp_path: Path) -> None:
    b = StandInKindBackend({A.id: works, B.id: broken}, {A.id: broken, B.id: broken})
    outcome = check(b, tmp_path)
    assert outcome.exit_code() == 1
    assert [c.id for c in outcome.comparison.of(compare.REGRESSION)] == [A.id]
    assert "Regressions (works -> broken): 1" in outcome.render()


def test_a_fix_is_listed_not_failed(tmp_path: Path) -> None:
    b = StandInKindBackend({A.id: works, B.id: broken}, {A.id: works, B.id: works})
    outcome = check(b, tmp_path)
    assert outcome.exit_code() == 0 and outcome.comparison.of(compare.FIX)


def test_a_kept_pod_whose_mac_changed_fails_even_when_the_matrix_is_fine(tmp_path: Path) -> None:
    b = StandInKindBackend({A.id: works, B.id: works}, {A.id: works, B.id: works}, net1_after="x")
    outcome = check(b, tmp_path)
    assert outcome.exit_code() == 1
    assert [str(d) for d in outcome.pod_failures] == ["mm-1/p-0: net1 kernel MAC: m -> x"]
    assert (
        "FAIL mm-1/p-0: net1 kernel MAC: m -> x" in (tmp_path / "out" / "upgrade.txt").read_text()
    )


def test_infra_errors_after_the_upgrade_are_exit_3_and_retried_there_only(tmp_path: Path) -> None:
    b = StandInKindBackend({A.id: infra, B.id: works}, {A.id: works, B.id: infra})
    outcome = check(b, tmp_path)
    assert outcome.exit_code() == 3
    # before: one run only (its pods are kept); after: the infra case is re-run once
    assert [c for c in b.calls if c.startswith("run")] == [
        "run keep=True upgraded=False n=2",
        "run keep=False upgraded=True n=2",
        "run keep=False upgraded=True n=1",
    ]


def test_the_pods_are_not_kept_for_later_runs_when_the_upgrade_fails(tmp_path: Path) -> None:
    b = StandInKindBackend({A.id: works, B.id: works}, {A.id: works, B.id: works})

    def fail() -> None:
        raise RuntimeError("install.sh failed")

    b.upgrade = fail  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        check(b, tmp_path)
    assert b.keep_pods is False
