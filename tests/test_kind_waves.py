"""Bounded waves and transient sandbox errors in the matrix phase (issue 9, item 6), against the
stand-in API of test_kind_matrix.py (create_autospec of the pinned client's classes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from test_kind_matrix import BROKEN, KUBEOVN, PLAIN, TWO, FakeCluster, case, run

from macmatrix.backends.kind.backend import wave_pods
from macmatrix.backends.kind.kube import podstate
from macmatrix.backends.kind.kube.matrix import WAVE_PODS, plan_waves
from macmatrix.errors import BadInput
from macmatrix.types import Status

OTHER = case(request="annotation")
# the stand-in daemon never gets its address (a kube-ovn-IPAM shape; the case's own IPAM does not
# matter to the stand-in, and a non-kube-ovn case needs no Subnet)
RACING = case(request="none")
# kubeovn/kube-ovn pkg/daemon/handler.go (v1.13.15..v1.16.2) via cmd/cni/cni.go's "RPC failed"
NO_ADDRESS = (
    'failed to setup network for sandbox "x": RPC failed; request ip return 500 no address '
    "allocated to pod mm-test/{pod} provider mm.mm-test, please see kube-ovn-controller logs to "
    "find errors"
)


def test_plan_waves_keeps_order_and_never_splits_a_case() -> None:
    cases = [PLAIN, TWO, KUBEOVN, OTHER]
    assert plan_waves(cases, 2) == [[PLAIN], [TWO], [KUBEOVN, OTHER]]
    assert plan_waves(cases, 3) == [[PLAIN, TWO], [KUBEOVN, OTHER]]
    assert plan_waves(cases, 1) == [[PLAIN], [TWO], [KUBEOVN], [OTHER]]  # TWO alone, unsplit
    assert plan_waves(cases, None) == [cases]
    assert plan_waves([], 5) == []


def test_the_matrix_starts_pods_in_bounded_waves() -> None:
    cluster = FakeCluster()
    cases = [PLAIN, TWO, KUBEOVN, OTHER]
    m, obs = run(cluster, cases, wave_pods=2)
    assert cluster.creates_per_wave == [1, 2, 2]
    assert m.waves == 3
    assert all(o.status == Status.RAN and o.attempts == 1 for o in obs.values())


def test_a_finding_is_still_a_finding_in_a_later_wave() -> None:
    cluster = FakeCluster()
    _, obs = run(cluster, [PLAIN, BROKEN], wave_pods=1)
    assert cluster.creates_per_wave == [1, 1]
    assert obs[BROKEN.id].status == Status.RAN and obs[BROKEN.id].pods[0].error


class RacingCluster(FakeCluster):
    """The RACING case's pods keep failing with Kube-OVN's "no address allocated" since
    `seconds_ago` (kubelet retrying); everything else behaves as in FakeCluster."""

    def __init__(self, seconds_ago: float) -> None:
        super().__init__()
        self.seconds_ago = seconds_ago

    def _events(self, namespace: str, **kwargs: Any) -> client.CoreV1EventList:
        listing = super()._events(namespace, **kwargs)
        t = datetime.now(UTC) - timedelta(seconds=self.seconds_ago)
        for name, c in self.created.items():
            if c == RACING:
                listing.items.append(
                    client.CoreV1Event(
                        metadata=client.V1ObjectMeta(name=f"{name}.2"),
                        involved_object=client.V1ObjectReference(kind="Pod", name=name),
                        reason="FailedCreatePodSandBox",
                        message=NO_ADDRESS.format(pod=name),
                        count=4,
                        first_timestamp=t,
                        last_timestamp=t,
                    )
                )
        return listing

    def pod_stream(self, namespace: str, seconds: int) -> list[dict[str, Any]]:
        out = super().pod_stream(namespace, seconds)
        for pod in out:
            if self.created[pod["metadata"]["name"]] == RACING:
                pod["status"] = {"phase": "Pending"}
        return out


def test_a_persisting_transient_error_is_retried_then_infra_error_never_broken() -> None:
    cluster = RacingCluster(seconds_ago=podstate.TRANSIENT_GRACE_S + 5)
    cluster.by_name[RACING.id] = RACING
    m, obs = run(cluster, [PLAIN, RACING])
    o = obs[RACING.id]
    assert o.status == Status.INFRA_ERROR and o.attempts == 2  # retried once, then given up
    assert "transient reason (kube-ovn: no address allocated yet)" in o.reason
    assert not any(p.error for p in o.pods)  # never recorded as the plugin's answer
    assert obs[PLAIN.id].status == Status.RAN and obs[PLAIN.id].attempts == 1


def test_a_young_transient_error_is_waited_for_until_the_deadline() -> None:
    cluster = RacingCluster(seconds_ago=5)
    _, obs = run(cluster, [RACING], deadline_s=0.3)
    o = obs[RACING.id]
    assert o.status == Status.INFRA_ERROR
    assert "timed out waiting for pod" in o.reason and "transient sandbox error" in o.reason


def test_wave_size_setting() -> None:
    assert wave_pods({}) == WAVE_PODS
    assert wave_pods({"MACMATRIX_WAVE_PODS": " 12 "}) == 12
    for bad in ("0", "-3", "many", "1.5", "\u00b2"):  # "²".isdigit() is True, int() refuses it
        with pytest.raises(BadInput, match="MACMATRIX_WAVE_PODS") as e:
            wave_pods({"MACMATRIX_WAVE_PODS": bad})
        assert "\n" not in str(e.value)


def test_the_plan_shows_the_waves(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from machine_guard import forbid_machine

    from macmatrix.backends.kind.backend import dry_run
    from macmatrix.spec import cases as cases_mod

    forbid_machine(monkeypatch, tmp_path, "dry run")
    selected = cases_mod.load(cases_mod.default_matrix_path())
    monkeypatch.setenv("MACMATRIX_WAVE_PODS", "25")
    text = dry_run(selected, "kube-ovn-v1.16")
    waves = plan_waves(selected, 25)
    assert len(waves) > 1
    assert f"{len(waves)} wave(s) of at most 25 pods" in text
    for i, wave in enumerate(waves, 1):
        pods = sum(c.n_replicas for c in wave)
        assert f"wave {i}/{len(waves)}: {len(wave)} case(s), {pods} pod(s): {wave[0].id}" in text
    assert "only a plugin's own refusal is a finding" in text
