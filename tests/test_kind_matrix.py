"""The matrix phase against a stand-in Kubernetes API.

The stand-ins for CoreV1Api and CustomObjectsApi are `create_autospec` of the pinned client's
real classes, so a wrong method name or argument fails here. The pod watch and exec are
injected functions (the real ones need a server). Checked: one wave for all cases, API calls
linear in cases, sandbox failures become PodObservation.error, infra problems become
infra-error after a retry wave, and the reporters' claims land in the observation.
"""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client

from macmatrix.backends.kind.kube.client import ExecResult
from macmatrix.backends.kind.kube.matrix import IPS, NADS, SUBNETS, MatrixRun
from macmatrix.build import manifests
from macmatrix.errors import InfraError
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.types import Status

NS = "mm-test"
IMAGE = "docker.io/kubeovn/kube-ovn:v1.14.41"


def case(**axes: str) -> Case:
    return Case(**{**DEFAULTS, **axes})


PLAIN = case()
KUBEOVN = case(ipam="kube-ovn", request="networks")
TWO = case(replicas="2", request="none")
BROKEN = case(chain="conflist", tuning="capmac")  # the stand-in cluster refuses its sandbox
PULL = case(request="cni-args")  # its image pull fails in the first wave only


class FakeCluster:
    """What the stand-in API answers: pod states per wave, events, IP CRs, kernel MACs."""

    def __init__(self) -> None:
        self.core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
        self.custom = create_autospec(client.CustomObjectsApi, instance=True)  # stand-in
        self.created: dict[str, Case] = {}
        self.creates_per_wave: list[int] = []
        self.pull_fails_until_wave = 1
        self.never_runs: set[str] = set()
        self.core.create_namespaced_pod.side_effect = self._create_pod
        self.core.list_namespaced_event.side_effect = self._events
        self.core.list_namespaced_pod.return_value = client.V1PodList(items=[])
        self.custom.list_cluster_custom_object.side_effect = self._list_cluster
        self.wave = 0
        self.by_name = {}

    def _create_pod(self, namespace: str, body: client.V1Pod, **_: Any) -> client.V1Pod:
        assert isinstance(body, client.V1Pod) and namespace == NS
        name = body.metadata.name
        cid = body.metadata.annotations[manifests.CASE_ID_ANNOTATION]
        self.created[name] = self.by_name[cid]
        return body

    def _events(self, namespace: str, **kwargs: Any) -> client.CoreV1EventList:
        assert kwargs["field_selector"] == "reason=FailedCreatePodSandBox"
        t = datetime.now(UTC) - timedelta(seconds=60)
        items = [
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(name=f"{name}.1"),
                involved_object=client.V1ObjectReference(kind="Pod", name=name),
                reason="FailedCreatePodSandBox",
                message='failed to setup network for sandbox "x": tuning failed: boom',
                count=3,
                first_timestamp=t,
                last_timestamp=t,
            )
            for name, c in self.created.items()
            if c == BROKEN
        ]
        return client.CoreV1EventList(items=items)

    def _list_cluster(self, group: str, version: str, plural: str, **_: Any) -> dict[str, Any]:
        if (group, version, plural) == SUBNETS:
            sub = manifests.subnet(KUBEOVN, NS)
            assert sub
            return {
                "items": [
                    {
                        "metadata": sub["metadata"],
                        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    }
                ]
            }
        assert (group, version, plural) == IPS
        items = []
        for name in self.created:
            items.append(
                {"metadata": {"name": f"{name}.{NS}"}, "spec": {"macAddress": "00:00:00:00:00:0e"}}
            )
        return {"items": items}

    def pod_stream(self, namespace: str, seconds: int) -> list[dict[str, Any]]:
        out = []
        for name, c in self.created.items():
            ann = manifests.pod_annotations(c, NS, int(name.rsplit("-", 1)[1]))
            if c == PULL and self.wave <= self.pull_fails_until_wave:
                status = {
                    "phase": "Pending",
                    "containerStatuses": [
                        {
                            "image": IMAGE,
                            "state": {
                                "waiting": {"reason": "ErrImagePull", "message": "no registry"}
                            },
                        }
                    ],
                }
            elif c == BROKEN or name in self.never_runs:
                status = {
                    "phase": "Pending",
                    "containerStatuses": [
                        {"image": IMAGE, "state": {"waiting": {"reason": "ContainerCreating"}}}
                    ],
                }
            else:
                mac = c.requested_mac(int(name.rsplit("-", 1)[1])) or "02:00:00:00:00:99"
                ann = {
                    **ann,
                    manifests.NETWORK_STATUS_ANNOTATION: json.dumps(
                        [{"name": f"{NS}/{manifests.nad_name(c)}", "interface": "net1", "mac": mac}]
                    ),
                }
                status = {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "image": IMAGE,
                            "state": {"running": {"startedAt": "2026-11-27T00:00:00Z"}},
                        }
                    ],
                }
            out.append({"metadata": {"name": name, "annotations": ann}, "status": status})
        return out

    def exec_fn(self, namespace: str, pod: str, argv: list[str]) -> ExecResult:
        assert argv[0] == "cat"
        c = self.created[pod]
        if argv[1].endswith("/eth0/address"):
            return ExecResult(0, "00:00:00:00:00:0e\n", "")
        mac = c.requested_mac(int(pod.rsplit("-", 1)[1])) or "02:00:00:00:00:99"
        return ExecResult(0, mac + "\n", "")


def matrix(cluster: FakeCluster, **kw: Any) -> MatrixRun:
    """A MatrixRun on the stand-in cluster (its pod watch and exec), logging to a buffer."""
    return MatrixRun(
        cluster.core,
        cluster.custom,
        NS,
        IMAGE,
        cluster.exec_fn,
        pod_stream=cluster.pod_stream,
        log=io.StringIO(),
        **kw,
    )


def run(cluster: FakeCluster, cases: list[Case], **kw: Any) -> tuple[MatrixRun, dict]:
    for c in cases:
        cluster.by_name[c.id] = c
    m = matrix(cluster, **kw)
    original = m.wave

    def counting_wave(cs: Any, **k: Any) -> Any:
        cluster.wave += 1
        before = cluster.core.create_namespaced_pod.call_count
        out = original(cs, **k)
        cluster.creates_per_wave.append(cluster.core.create_namespaced_pod.call_count - before)
        return out

    m.wave = counting_wave  # type: ignore[method-assign]
    m.setup(cases)
    return m, m.run(cases)


def test_one_wave_and_linear_api_calls() -> None:
    cluster = FakeCluster()
    cases = [PLAIN, KUBEOVN, TWO]
    m, obs = run(cluster, cases)
    pods = sum(c.n_replicas for c in cases)
    assert m.waves == 1 and cluster.creates_per_wave == [pods]
    assert cluster.core.create_namespace.call_count == 1
    assert cluster.custom.create_namespaced_custom_object.call_count == len(cases)  # NADs
    assert cluster.custom.create_cluster_custom_object.call_count == 1  # one kube-ovn Subnet
    for call in cluster.custom.create_namespaced_custom_object.call_args_list:
        group, version, namespace, plural, body = call.args
        assert (group, version, plural) == (NADS[0], NADS[1], NADS[2]) and namespace == NS
        assert body["kind"] == "NetworkAttachmentDefinition"
    assert all(o.status == Status.RAN and o.attempts == 1 for o in obs.values())
    assert m.stats.calls < 10 + 4 * pods  # linear: creates + execs + a few shared calls


def test_observation_carries_kernel_macs_and_reporters() -> None:
    cluster = FakeCluster()
    _, obs = run(cluster, [KUBEOVN])
    o = obs[KUBEOVN.id]
    (p,) = o.pods
    assert p.name == manifests.pod_name(KUBEOVN, 0)
    assert p.interfaces == {"eth0": "00:00:00:00:00:0e", "net1": KUBEOVN.requested_mac(0)}
    assert p.network_status[0]["mac"] == KUBEOVN.requested_mac(0)
    provider = manifests.provider(KUBEOVN, NS)
    assert p.ip_cr_mac == {"ovn": "00:00:00:00:00:0e", provider: None}
    assert p.error is None


def test_sandbox_failure_is_a_finding_not_infra() -> None:
    cluster = FakeCluster()
    _, obs = run(cluster, [PLAIN, BROKEN])
    o = obs[BROKEN.id]
    assert o.status == Status.RAN and o.attempts == 1
    assert o.pods[0].error == 'failed to setup network for sandbox "x": tuning failed: boom'
    assert o.pods[0].interfaces == {}
    assert obs[PLAIN.id].pods[0].error is None


def test_image_pull_failure_is_retried_in_a_second_wave() -> None:
    cluster = FakeCluster()
    m, obs = run(cluster, [PLAIN, PULL])
    assert m.waves == 2 and cluster.creates_per_wave == [2, 1]  # only the failed case again
    assert cluster.core.delete_namespaced_pod.call_count == 1
    assert obs[PULL.id].status == Status.RAN and obs[PULL.id].attempts == 2
    assert obs[PLAIN.id].attempts == 1


def test_image_pull_failure_that_persists_is_infra_error() -> None:
    cluster = FakeCluster()
    cluster.pull_fails_until_wave = 99
    _, obs = run(cluster, [PULL])
    o = obs[PULL.id]
    assert o.status == Status.INFRA_ERROR and o.attempts == 2
    assert o.reason.startswith("image pull failed for " + IMAGE)


def test_a_pod_that_never_runs_times_out_as_infra() -> None:
    cluster = FakeCluster()
    cluster.never_runs = {manifests.pod_name(PLAIN, 0)}
    t0 = time.monotonic()
    _, obs = run(cluster, [PLAIN], deadline_s=0.2)
    assert time.monotonic() - t0 < 5
    assert obs[PLAIN.id].status == Status.INFRA_ERROR
    assert "timed out waiting for pod" in obs[PLAIN.id].reason
    assert "ContainerCreating" in obs[PLAIN.id].reason


def test_exec_trouble_is_infra_and_a_missing_interface_is_none() -> None:
    cluster = FakeCluster()

    def exec_fn(namespace: str, pod: str, argv: list[str]) -> ExecResult:
        if argv[1].endswith("/net1/address"):
            return ExecResult(1, "", "cat: can't open: No such file")
        return ExecResult(0, "00:00:00:00:00:0e\n", "")

    cluster.exec_fn = exec_fn  # type: ignore[method-assign]
    _, obs = run(cluster, [PLAIN])
    assert obs[PLAIN.id].pods[0].interfaces == {"eth0": "00:00:00:00:00:0e", "net1": None}

    cluster2 = FakeCluster()
    cluster2.exec_fn = lambda ns, pod, argv: ExecResult(None, "", "")  # type: ignore[method-assign]
    _, obs2 = run(cluster2, [PLAIN])
    assert obs2[PLAIN.id].status == Status.INFRA_ERROR and "exec in" in obs2[PLAIN.id].reason


def test_transient_api_errors_are_retried() -> None:
    cluster = FakeCluster()
    cluster.core.create_namespace.side_effect = [client.exceptions.ApiException(status=503), None]
    m, obs = run(cluster, [PLAIN])
    assert cluster.core.create_namespace.call_count == 2 and m.stats.retries == 1
    assert obs[PLAIN.id].status == Status.RAN


def test_a_pod_the_api_refuses_is_infra_without_waiting() -> None:
    cluster = FakeCluster()
    created = cluster.core.create_namespaced_pod.side_effect

    def refuse(namespace: str, body: client.V1Pod, **kw: Any) -> client.V1Pod:
        if body.metadata.annotations[manifests.CASE_ID_ANNOTATION] == PULL.id:
            raise client.exceptions.ApiException(status=422, reason="Invalid")
        return created(namespace, body, **kw)

    cluster.core.create_namespaced_pod.side_effect = refuse
    t0 = time.monotonic()
    m, obs = run(cluster, [PLAIN, PULL], deadline_s=30)
    assert time.monotonic() - t0 < 5  # did not wait for a pod that does not exist
    assert obs[PULL.id].status == Status.INFRA_ERROR and obs[PULL.id].attempts == 2
    assert obs[PULL.id].reason == f"creating pod {manifests.pod_name(PULL, 0)}: 422 Invalid"
    assert obs[PLAIN.id].status == Status.RAN


def test_client_errors_are_not_retried() -> None:
    cluster = FakeCluster()
    cluster.core.create_namespace.side_effect = client.exceptions.ApiException(status=403)
    with pytest.raises(client.exceptions.ApiException):
        run(cluster, [PLAIN])
    assert cluster.core.create_namespace.call_count == 1


def test_subnets_that_never_become_ready_are_one_infra_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster = FakeCluster()
    cluster.custom.list_cluster_custom_object.side_effect = lambda *a, **k: {"items": []}
    m = matrix(cluster)
    monkeypatch.setattr(m, "_wait_subnets_ready", lambda: MatrixRun._wait_subnets_ready(m, 0.1))
    with pytest.raises(InfraError, match="Kube-OVN Subnets to be Ready") as e:
        m.setup([KUBEOVN])
    assert "\n" not in str(e.value)


def test_teardown_deletes_namespace_and_subnets() -> None:
    cluster = FakeCluster()
    m, _ = run(cluster, [KUBEOVN])
    m.teardown()
    cluster.core.delete_namespace.assert_called_once_with(NS)
    assert cluster.custom.delete_cluster_custom_object.call_count == 1


class FakeWatchResponse:
    """What urllib3 hands the watch: newline-delimited JSON events (a stand-in HTTP response)."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.status = 200
        self.lines = [json.dumps(e).encode() + b"\n" for e in events]
        self.closed = False

    def stream(self, amt: Any = None, decode_content: Any = None) -> Any:
        yield from self.lines

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


def test_watch_pods_uses_the_pinned_clients_watch() -> None:
    from macmatrix.backends.kind.kube.matrix import watch_pods

    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
    pod = {"metadata": {"name": "mm-1-0"}, "status": {"phase": "Running"}}
    response = FakeWatchResponse(
        [
            {"type": "ADDED", "object": pod},
            {"type": "DELETED", "object": {"metadata": {"name": "gone"}}},
            {"type": "MODIFIED", "object": {**pod, "status": {"phase": "Failed"}}},
        ]
    )
    core.list_namespaced_pod.return_value = response
    got = list(watch_pods(core, "app.kubernetes.io/managed-by=macmatrix")(NS, 5))
    assert [p["status"]["phase"] for p in got] == ["Running", "Failed"]
    kwargs = core.list_namespaced_pod.call_args.kwargs
    assert core.list_namespaced_pod.call_args.args == (NS,)
    assert kwargs["watch"] is True and kwargs["timeout_seconds"] == 5
    assert kwargs["label_selector"] == "app.kubernetes.io/managed-by=macmatrix"
    assert response.closed
