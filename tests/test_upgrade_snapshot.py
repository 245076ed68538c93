"""Kept pods before/after an upgrade (kube/snapshot.py): what a snapshot holds, every kind of
drift, and the cluster read against a stand-in CoreV1Api built with create_autospec."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client

from macmatrix.backends.kind.kube import snapshot
from macmatrix.backends.kind.kube.client import ExecResult
from macmatrix.build.manifests import (
    CASE_ID_ANNOTATION,
    NETWORK_STATUS_ANNOTATION,
    NETWORKS_ANNOTATION,
)

NS = "mm-up"
STATUS = json.dumps([{"name": f"{NS}/n", "interface": "net1", "mac": "02:00:00:00:00:01"}])
ANNOTATIONS = {
    CASE_ID_ANNOTATION: "case/a",
    NETWORKS_ANNOTATION: '[{"name": "n", "mac": "02:00:00:00:00:01"}]',
    NETWORK_STATUS_ANNOTATION: STATUS,
    "ovn.kubernetes.io/mac_address": "00:00:00:aa:bb:cc",
    "n.mm-up.kubernetes.io/mac_address": "02:00:00:00:00:01",
    "kubectl.kubernetes.io/last-applied-configuration": "{}",
    "unrelated": "x",
}


def pod(
    name: str = "p-0",
    uid: str = "u1",
    phase: str = "Running",
    running: bool = True,
    restarts: int = 0,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    state = (
        {"running": {"startedAt": "2026-11-27T00:00:00Z"}}
        if running
        else {"waiting": {"reason": "ContainerCreating"}}
    )
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid,
            "annotations": dict(ANNOTATIONS if annotations is None else annotations),
        },
        "spec": {"nodeName": "worker", "containers": [{"name": "sleep", "image": "i"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "sleep",
                    "image": "i",
                    "imageID": "",
                    "ready": running,
                    "state": state,
                    "restartCount": restarts,
                }
            ],
        },
    }


MACS = {"eth0": "00:00:00:aa:bb:cc", "net1": "02:00:00:00:00:01"}


def test_from_pod_keeps_identity_state_macs_and_only_the_mac_reporters() -> None:
    s = snapshot.from_pod(pod(restarts=2), MACS)
    assert (s.key, s.uid, s.case_id, s.node) == (f"{NS}/p-0", "u1", "case/a", "worker")
    assert s.running and s.phase == "Running" and s.restarts == 2
    assert s.macs == MACS
    assert set(s.annotations) == {
        NETWORK_STATUS_ANNOTATION,
        "ovn.kubernetes.io/mac_address",
        "n.mm-up.kubernetes.io/mac_address",
    }
    assert not snapshot.from_pod(pod(running=False, phase="Pending")).running


def _pair(**after: Any) -> tuple[list[snapshot.Drift], list[str]]:
    b = snapshot.from_pod(pod(), MACS)
    macs = after.pop("macs", MACS)
    a = snapshot.from_pod(pod(**after), macs)
    return snapshot.drift({b.key: b}, {a.key: a})


def test_the_same_pod_has_no_drift() -> None:
    assert _pair() == ([], [])


@pytest.mark.parametrize(
    ("after", "what"),
    [
        ({"uid": "u2"}, "uid (pod recreated)"),
        ({"running": False, "phase": "Failed"}, "running"),
        ({"restarts": 1}, "container restarts"),
        ({"macs": {**MACS, "net1": "02:00:00:00:00:99"}}, "net1 kernel MAC"),
        ({"macs": {**MACS, "eth0": None}}, "eth0 kernel MAC"),
        (
            {"annotations": {**ANNOTATIONS, NETWORK_STATUS_ANNOTATION: STATUS.replace("01", "02")}},
            f"annotation {NETWORK_STATUS_ANNOTATION}",
        ),
        (
            {
                "annotations": {
                    k: v for k, v in ANNOTATIONS.items() if k != "ovn.kubernetes.io/mac_address"
                }
            },
            "annotation ovn.kubernetes.io/mac_address",
        ),
    ],
)
def test_each_kind_of_drift_fails(after: dict[str, Any], what: str) -> None:
    drifts, unchecked = _pair(**after)
    assert [d.what for d in snapshot.failing(drifts)] == [what] and not unchecked
    assert "FAIL" in snapshot.render(drifts, unchecked, 1)


def test_a_key_added_by_the_new_version_is_listed_not_failed() -> None:
    drifts, _ = _pair(annotations={**ANNOTATIONS, "ovn.kubernetes.io/new_field": "v"})
    assert len(drifts) == 1 and not drifts[0].fails
    text = snapshot.render(drifts, [], 1)
    assert "0 failing" in text and "note" in text and "new_field" in text


def test_a_gone_pod_fails_and_a_pod_not_running_before_is_only_listed() -> None:
    b = snapshot.from_pod(pod(), MACS)
    pending = snapshot.from_pod(pod(name="q-0", running=False, phase="Pending"))
    now_running = snapshot.from_pod(pod(name="q-0"), MACS)
    drifts, unchecked = snapshot.drift(
        {b.key: b, pending.key: pending}, {now_running.key: now_running}
    )
    assert [(d.pod, d.what, d.after) for d in drifts] == [(b.key, "pod", "gone")]
    assert unchecked == [f"{NS}/q-0: not Running before the upgrade (Pending); now Running"]


def test_take_reads_each_namespace_once_and_two_macs_per_running_pod() -> None:
    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
    items = [
        client.V1Pod.model_validate(pod()),
        client.V1Pod.model_validate(pod(name="q-0", running=False, phase="Pending")),
    ]
    core.list_namespaced_pod.return_value = client.V1PodList(items=items)
    calls: list[tuple[str, str, str]] = []

    def exec_fn(namespace: str, name: str, argv: list[str]) -> ExecResult:
        calls.append((namespace, name, argv[1]))
        if argv[1].endswith("/net1/address"):
            return ExecResult(None, "", "websocket closed")
        return ExecResult(0, MACS["eth0"] + "\n", "")

    snaps = snapshot.take(core, [NS], exec_fn)
    core.list_namespaced_pod.assert_called_once_with(NS, label_selector=snapshot.SELECTOR)
    assert sorted(calls) == [
        (NS, "p-0", "/sys/class/net/eth0/address"),
        (NS, "p-0", "/sys/class/net/net1/address"),
    ]
    assert snaps[f"{NS}/p-0"].macs == {
        "eth0": MACS["eth0"],
        "net1": "exec failed: websocket closed",
    }
    assert snaps[f"{NS}/q-0"].macs == {} and not snaps[f"{NS}/q-0"].running
