"""The fix search on kind (workflows/fixsearch_kind.py): every candidate is a pod of one wave in one
namespace, made by kube/single.SinglePod.run_wave against stand-ins for CoreV1Api and
CustomObjectsApi (create_autospec of the pinned client's classes); the pod watch and exec are
injected functions. The stand-in decides each pod's net1 MAC from that pod's own manifests: the
networks element's `mac` when it has one, else a random one; so which candidate works follows
from what the candidate sent to the API, not from its name.

Checked: a wave's pods are all created before any is waited for, and candidates share one wave
unless they ask for the same MAC (macvlan_addr_busy, see fixsearch_kind); each candidate's NAD
and pod carry its edit; a candidate that works is the verified fix, "verified on kind with
<stack>"; the namespace is deleted on success, on failure and on Ctrl-C."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from macmatrix.backends.kind.kube import single
from macmatrix.backends.kind.kube.client import ExecResult
from macmatrix.backends.kind.kube.matrix import IPS, NADS
from macmatrix.build.manifests import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from macmatrix.observe import PodObservation
from macmatrix.spec.userinput import load_paths, resolve
from macmatrix.workflows import fixsearch, fixsearch_kind

DATA = Path(__file__).parent / "data"
IMAGE = "docker.io/kubeovn/kube-ovn:v1.16.2"
RANDOM = "5a:11:22:33:44:55"  # what macvlan picks when nobody hands it a MAC
STACK = {
    "backend": "kind",
    "name": "kube-ovn-v1.16",
    "kube_ovn": "v1.16.2",
    "multus": "v4.2.2",
    "cni_plugins": "v1.9.1",
}


def request_for(name: str) -> Any:
    return resolve(load_paths([str(DATA / "corpus" / name)]))


class Cluster:
    """Stand-in API answers and a log of the order calls came in."""

    def __init__(self, fail_watch: BaseException | None = None) -> None:
        self.core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
        self.custom = create_autospec(client.CustomObjectsApi, instance=True)  # stand-in
        self.order: list[str] = []
        self.pods: dict[str, dict[str, Any]] = {}  # this wave's
        self.history: list[dict[str, Any]] = []  # every pod made
        self.nads: dict[str, dict[str, Any]] = {}
        self.fail_watch = fail_watch if isinstance(fail_watch, KeyboardInterrupt) else None
        self.fail_create = fail_watch
        self.core.read_namespace.side_effect = ApiException(status=404, reason="Not Found")
        self.core.create_namespaced_pod.side_effect = self._create_pod
        self.core.list_namespaced_event.return_value = client.CoreV1EventList(items=[])
        self.core.list_namespaced_pod.return_value = client.V1PodList(items=[])
        self.custom.create_namespaced_custom_object.side_effect = self._create_nad
        self.custom.list_cluster_custom_object.side_effect = self._list_cluster

    def _create_pod(self, namespace: str, body: client.V1Pod, **_: Any) -> client.V1Pod:
        if isinstance(self.fail_create, Exception):
            raise self.fail_create  # the API fails on the wave's pod (its NAD was made)
        pod = client.ApiClient().sanitize_for_serialization(body)
        self.pods[pod["metadata"]["name"]] = pod
        self.history.append(pod)
        self.order.append("create " + pod["metadata"]["name"])
        return body

    def _create_nad(self, g: str, v: str, ns: str, plural: str, body: Any, **_: Any) -> Any:
        assert (g, v, plural) == (NADS[0], NADS[1], NADS[2])
        self.nads[f"{ns}/{body['metadata']['name']}"] = body
        return body

    def _list_cluster(self, group: str, version: str, plural: str, **_: Any) -> dict[str, Any]:
        assert (group, version, plural) == IPS
        return {"items": []}

    def kernel_mac(self, pod: dict[str, Any]) -> str:
        (el,) = json.loads(pod["metadata"]["annotations"][NETWORKS_ANNOTATION])
        assert f"{el['namespace']}/{el['name']}" in self.nads  # the pod's NAD was made first
        return str(el["mac"]) if el.get("mac") else RANDOM

    def pod_stream(self, namespace: str, seconds: int) -> list[dict[str, Any]]:
        self.order.append("watch")
        if self.fail_watch is not None:
            raise self.fail_watch
        out = []
        for pod in self.pods.values():
            meta = dict(pod["metadata"])
            (el,) = json.loads(meta["annotations"][NETWORKS_ANNOTATION])
            status = [
                {
                    "name": f"{el['namespace']}/{el['name']}",
                    "interface": "net1",
                    "mac": self.kernel_mac(pod),
                }
            ]
            meta["annotations"] = {
                **meta["annotations"],
                NETWORK_STATUS_ANNOTATION: json.dumps(status),
            }
            running = {"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]}
            out.append({"metadata": meta, "status": running})
        return out

    def exec_fn(self, namespace: str, pod: str, argv: list[str]) -> ExecResult:
        if argv[1].endswith("/net1/address"):
            return ExecResult(0, self.kernel_mac(self.pods[pod]) + "\n", "")
        return ExecResult(0, "0a:00:00:00:00:01\n", "")


class Backend:
    """Stand-in for KindPods.run_pods: the real SinglePod.run_wave on the stand-in API."""

    def __init__(self, cluster: Cluster, tmp_path: Path) -> None:
        self.cluster, self.tmp_path = cluster, tmp_path
        self.waves: list[list[str]] = []

    def run_pods(self, specs: list[single.PodSpec]) -> list[PodObservation | str]:
        self.waves.append([s.name for s in specs])
        self.cluster.order.append("wave")
        self.cluster.pods.clear()  # the previous wave's pods were deleted (asserted below)
        runner = single.SinglePod(
            self.cluster.core,
            self.cluster.custom,
            IMAGE,
            self.cluster.exec_fn,
            self.tmp_path / "out",
            pod_stream=self.cluster.pod_stream,
            log=io.StringIO(),
        )
        return runner.run_wave(specs)


def entry_for(request: Any) -> dict[str, Any]:
    return {"outcome": "broken", "stack": STACK, "interfaces": [], "input": {}}


def test_candidates_run_in_one_wave_and_the_working_one_is_the_verified_fix(
    tmp_path: Path,
) -> None:
    request = request_for("issue-4834-host-local.yaml")
    c = Cluster()
    backend = Backend(c, tmp_path)
    fix = fixsearch.search(request, entry_for(request), kind_backend=backend)
    singles = fixsearch.propose(request, "v1.9.1")
    assert len(singles) >= 2
    # a wave: every pod of it created before the first watch, in one namespace
    waves = " ".join(c.order).split("wave")[1:]
    assert len(waves) == len(backend.waves)
    for names, log in zip(backend.waves, waves, strict=True):
        before = log.split("watch")[0].split()
        assert before == [w for n in names for w in ("create", n)]
    # all of this input's candidates keep the pasted MAC, so no two share a wave
    placed = [
        fixsearch_kind.place(fixsearch.apply(request, s), i, "ns") for i, s in enumerate(singles)
    ]
    assert len({p.macs for p in placed}) == 1
    assert backend.waves[: len(singles)] == [[f"fix-{i}"] for i in range(len(singles))]
    made = {p["metadata"]["name"]: p for p in c.history}
    assert len(made) == len(c.history) == len(singles)  # the singles worked: no pairs ran
    (ns,) = {p["metadata"]["namespace"] for p in c.history}
    assert ns.startswith("mm-fix-")
    # each candidate's NAD and pod carry its edit
    for i, cand in enumerate(singles):
        changed = fixsearch.apply(request, cand)
        (b,) = changed.bindings
        nad = c.nads[f"{ns}/macvlan-c{i}"]
        assert json.loads(nad["spec"]["config"]) == b.nad.config
        (el,) = json.loads(made[f"fix-{i}"]["metadata"]["annotations"][NETWORKS_ANNOTATION])
        assert el == {**b.element, "name": f"macvlan-c{i}", "namespace": ns}
    # the verdicts follow the stand-in's rule; the best is one that works
    assert fix["searched"] is True
    assert fix["verified_on"].startswith("kind with kube-ovn-v1.16 (Kube-OVN v1.16.2")
    works = [t for t in fix["tried"] if t["works"]]
    assert works and fix["best"] is not None and fix["best"]["works"]
    assert fix["best"]["size"] == min(t["size"] for t in works)
    assert "00:00:00:53:6b:bb" in fix["best"]["yaml"]
    broken = [t for t in fix["tried"] if not t["works"]]
    assert all(t["outcome"] != "works" or not t["keeps_request"] for t in broken)
    # cleaned up: the wave's namespace is deleted
    c.core.delete_namespace.assert_any_call(ns)


def test_the_implicit_provider_follows_the_rename_and_is_read_back() -> None:
    request = request_for("issue-4834-host-local.yaml")
    placed = fixsearch_kind.place(request, 3, "mm-fix-ab")
    assert placed.spec is not None
    assert "macvlan-c3.mm-fix-ab.kubernetes.io/mac_address" in placed.spec.annotations
    assert not any(k.startswith("macvlan.default.") for k in placed.spec.annotations)
    obs = PodObservation(
        "fix-3", annotations={"macvlan-c3.mm-fix-ab.kubernetes.io/mac_address": "x"}
    )
    assert fixsearch_kind.map_back(obs, placed.back).annotations == {
        "macvlan.default.kubernetes.io/mac_address": "x"
    }


def test_candidates_asking_for_the_same_mac_never_share_a_wave() -> None:
    def p(*macs: str) -> fixsearch_kind.Placed:
        spec = single.PodSpec("x", "ns", [], {})
        return fixsearch_kind.Placed(spec, None, {}, frozenset(macs))

    assert fixsearch_kind.plan_waves([p("a"), p("b"), p()]) == [[0, 1, 2]]
    assert fixsearch_kind.plan_waves([p("a"), p("a"), p("b")]) == [[0, 2], [1]]


@pytest.mark.parametrize(
    "failure",
    [ApiException(status=500, reason="boom"), KeyboardInterrupt()],
    ids=["api-failure", "ctrl-c"],
)
def test_the_namespace_is_deleted_on_failure_and_ctrl_c(
    tmp_path: Path, failure: BaseException
) -> None:
    request = request_for("issue-4834-host-local.yaml")
    c = Cluster(fail_watch=failure)
    backend = Backend(c, tmp_path)
    expected: type[BaseException] = (
        KeyboardInterrupt if isinstance(failure, KeyboardInterrupt) else Exception
    )
    with pytest.raises(expected):
        fixsearch.search(request, entry_for(request), kind_backend=backend)
    (made,) = {call.args[0].metadata.name for call in c.core.create_namespace.call_args_list}
    assert made.startswith("mm-fix-") and c.nads
    c.core.delete_namespace.assert_called_once_with(made)
    assert c.custom.delete_namespaced_custom_object.call_count == 1
    assert c.core.delete_namespaced_pod.call_count == len(c.history)


def test_candidates_with_different_macs_are_one_wave_created_before_any_wait(
    tmp_path: Path,
) -> None:
    from macmatrix.workflows.remedies import Candidate, Edit

    request = request_for("issue-4834-host-local.yaml")
    macs = ["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"]
    cands = [
        Candidate(("t",), (Edit(("element", 0, "mac"), m, f"networks[0].mac: {m}"),), True)
        for m in macs
    ]
    c = Cluster()
    backend = Backend(c, tmp_path)
    tried = fixsearch_kind.run_candidates(backend, request, cands)
    assert backend.waves == [["fix-0", "fix-1", "fix-2"]]
    assert c.order[:5] == ["wave", "create fix-0", "create fix-1", "create fix-2", "watch"]
    assert [t.outcome for t in tried] == ["works"] * 3  # each pod's net1 has its own MAC
    assert [r["kernel"] for t in tried for r in t.rows if r["ifname"] == "net1"] == macs
