"""Diagnostics for a case that is not fully fine, against a stand-in API (create_autospec on
the pinned client's CoreV1Api): pod YAML, events, node agents' logs (fetched once per node),
/sys/class/net for running pods, all under OUT/diagnostics/<case>/."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import yaml
from kubernetes import client

from macmatrix.backends.kind.kube import sysnet
from macmatrix.backends.kind.kube.client import ExecResult
from macmatrix.backends.kind.kube.diagnostics import Diagnostics, case_dir_name
from macmatrix.build import manifests
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import DEFAULTS, Case

NS = "mm-test"
CASE = Case(**{**DEFAULTS, "replicas": "2", "chain": "conflist", "tuning": "static"})


def stand_in_core(phase: str) -> Any:
    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API

    def read_pod(name: str, namespace: str, **_: Any) -> client.V1Pod:
        return client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace),
            spec=client.V1PodSpec(
                node_name="kind-worker", containers=[client.V1Container(name="sleep")]
            ),
            status=client.V1PodStatus(phase=phase),
        )

    def list_pods(namespace: str, label_selector: str = "", **_: Any) -> client.V1PodList:
        assert namespace == "kube-system"
        name = "kube-multus-ds-abc" if label_selector == "app=multus" else "kube-ovn-cni-xyz"
        container = "kube-multus" if label_selector == "app=multus" else "cni-server"
        return client.V1PodList(
            items=[
                client.V1Pod(
                    metadata=client.V1ObjectMeta(name=name),
                    spec=client.V1PodSpec(
                        node_name="kind-worker", containers=[client.V1Container(name=container)]
                    ),
                )
            ]
        )

    core.read_namespaced_pod.side_effect = read_pod
    core.list_namespaced_pod.side_effect = list_pods
    core.list_namespaced_event.return_value = client.CoreV1EventList(
        items=[
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(name="e1"),
                involved_object=client.V1ObjectReference(name="p"),
                reason="FailedCreatePodSandBox",
                message="CNI said no",
                count=2,
                type="Warning",
            )
        ]
    )
    core.read_namespaced_pod_log.side_effect = lambda name, ns, **kw: (
        f"log of {name}/{kw['container']}\n"
    )
    return core


def test_case_dir_name_is_file_system_safe() -> None:
    name = case_dir_name("macvlan+capmac/single/ipam-static/req-networks/cni-1.0.0/x1/eth0-auto")
    assert "/" not in name and name.startswith("macvlan+capmac__single__")


def test_collect_writes_every_piece(tmp_path: Path) -> None:
    core = stand_in_core("Running")
    execs: list[list[str]] = []

    def exec_fn(ns: str, pod: str, argv: list[str]) -> ExecResult:
        execs.append(argv)
        # the shape sysnet.SCRIPT prints (checked on real sysfs in test_sysnet.py)
        out = "if=net1 address=02:00:00:aa:bb:01 addr_assign_type=3 mtu=1500 operstate=up\n"
        return ExecResult(0, out, "")

    diag = Diagnostics(core, NS, exec_fn, tmp_path)
    obs = CaseObservation(
        CASE.id, pods=[PodObservation(name=manifests.pod_name(CASE, i)) for i in range(2)]
    )
    folder = Path(diag.collect(CASE, obs))
    assert folder.parent == tmp_path / "diagnostics"
    pod0 = manifests.pod_name(CASE, 0)
    assert (
        yaml.safe_load((folder / f"{pod0}.yaml").read_text())["spec"]["nodeName"] == "kind-worker"
    )
    assert "FailedCreatePodSandBox x2: CNI said no" in (folder / f"{pod0}.events.txt").read_text()
    assert (
        folder / f"{pod0}.multus-kind-worker.log"
    ).read_text() == "log of kube-multus-ds-abc/kube-multus\n"
    assert (
        (folder / f"{pod0}.kube-ovn-cni-kind-worker.log")
        .read_text()
        .startswith("log of kube-ovn-cni-xyz")
    )
    text = (folder / f"{pod0}.sys-class-net.txt").read_text()
    assert "net1: mac 02:00:00:aa:bb:01 (set), mtu 1500, up" in text
    assert execs == [sysnet.command()] * 2
    assert all(argv[0] != "ip" for argv in execs)  # EPERM in the pods (kube/sysnet.py)
    assert CASE.id in (folder / "summary.txt").read_text()
    # node agents are looked up and their logs read once, not per pod
    assert core.list_namespaced_pod.call_count == 2
    assert core.read_namespaced_pod_log.call_count == 2


def test_pending_pods_get_no_exec_and_api_failures_are_written_down(tmp_path: Path) -> None:
    core = stand_in_core("Pending")
    core.list_namespaced_event.side_effect = client.exceptions.ApiException(
        status=403, reason="Forbidden"
    )

    def exec_fn(ns: str, pod: str, argv: list[str]) -> ExecResult:
        raise AssertionError("no exec into a pod that does not run")

    folder = Path(Diagnostics(core, NS, exec_fn, tmp_path).collect(CASE, CaseObservation(CASE.id)))
    pod0 = manifests.pod_name(CASE, 0)
    assert "could not list events" in (folder / f"{pod0}.events.txt").read_text()
    assert not (folder / f"{pod0}.sys-class-net.txt").exists()
