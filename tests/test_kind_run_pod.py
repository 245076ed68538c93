"""`macmatrix repro --backend kind`: one pod with the pasted NADs (kube/single.py and
KindPods.run_pod), against stand-ins for CoreV1Api and CustomObjectsApi built with
create_autospec on the pinned client's classes. The pod watch and exec are injected functions.

Checked: NAD configs go in exactly as given; the pod carries the user's annotations and the
networks elements; kube-ovn IPAM gets a Subnet only when none has its provider; a Running pod's
MACs and reporters are read; a sandbox failure is the pod's error and leaves diagnostics; an
infra failure is InfraError with diagnostics; everything created is deleted again."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from macmatrix.backends.kind.kube import single
from macmatrix.backends.kind.kube.client import ExecResult
from macmatrix.backends.kind.kube.matrix import IPS, NADS, SUBNETS
from macmatrix.build.manifests import NETWORK_STATUS_ANNOTATION, NETWORKS_ANNOTATION
from macmatrix.errors import InfraError
from macmatrix.observe import PodObservation

IMAGE = "docker.io/kubeovn/kube-ovn:v1.16.2"
MAC = "02:00:00:00:00:0a"


@dataclass
class Att:
    """Any object with .network/.config/.element will do (backends/base.AttachmentLike)."""

    network: str
    config: dict[str, Any]
    element: dict[str, Any]


# key order on purpose not sorted, no `name`, an odd spacing-free MAC: all must survive
MACVLAN = {"type": "macvlan", "cniVersion": "1.0.0", "master": "eth1", "mode": "bridge"}
KUBEOVN_IPAM = {
    "cniVersion": "0.3.1",
    "type": "macvlan",
    "master": "eth0",
    "ipam": {
        "type": "kube-ovn",
        "server_socket": "/run/openvswitch/kube-ovn-daemon.sock",
        "provider": "macvlan.default",
    },
}


class Cluster:
    """Stand-in API answers; `outcome` decides how the pod ends up."""

    def __init__(self, outcome: str = "running", subnets: list[dict[str, Any]] | None = None):
        self.core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
        self.custom = create_autospec(client.CustomObjectsApi, instance=True)  # stand-in
        self.outcome = outcome
        self.subnets = list(subnets or [])
        self.pod: dict[str, Any] | None = None
        self.core.read_namespace.side_effect = self._read_ns
        self.core.create_namespaced_pod.side_effect = self._create_pod
        self.core.list_namespaced_event.side_effect = self._events
        self.core.read_namespaced_pod.side_effect = lambda name, ns, **k: client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, namespace=ns), spec=None
        )
        self.core.list_namespaced_pod.return_value = client.V1PodList(items=[])
        self.core.read_namespaced_pod_log.return_value = "log"
        self.custom.list_cluster_custom_object.side_effect = self._list_cluster
        self.custom.create_cluster_custom_object.side_effect = self._create_subnet
        self.execs: list[tuple[str, str, list[str]]] = []

    def _read_ns(self, name: str, **_: Any) -> client.V1Namespace:
        if name == "default":
            return client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        raise ApiException(status=404, reason="Not Found")

    def _create_pod(self, namespace: str, body: client.V1Pod, **_: Any) -> client.V1Pod:
        assert isinstance(body, client.V1Pod)
        self.pod = client.ApiClient().sanitize_for_serialization(body)
        return body

    def _create_subnet(self, group: str, version: str, plural: str, body: Any, **_: Any) -> Any:
        assert (group, version, plural) == SUBNETS
        self.subnets.append(
            {**body, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        )
        return body

    def _list_cluster(self, group: str, version: str, plural: str, **_: Any) -> dict[str, Any]:
        if (group, version, plural) == SUBNETS:
            return {"items": self.subnets}
        assert (group, version, plural) == IPS
        return {"items": [{"metadata": {"name": "repro.default"}, "spec": {"macAddress": "ee"}}]}

    def _events(self, namespace: str, **kwargs: Any) -> client.CoreV1EventList:
        if self.outcome != "sandbox" or self.pod is None:
            return client.CoreV1EventList(items=[])
        t = datetime.now(UTC) - timedelta(seconds=60)
        return client.CoreV1EventList(
            items=[
                client.CoreV1Event(
                    metadata=client.V1ObjectMeta(name="e"),
                    involved_object=client.V1ObjectReference(kind="Pod", name="repro"),
                    reason="FailedCreatePodSandBox",
                    message='Failed to create pod sandbox: plugin type="macvlan" failed: boom',
                    count=3,
                    first_timestamp=t,
                    last_timestamp=t,
                )
            ]
        )

    def pod_stream(self, namespace: str, seconds: int) -> list[dict[str, Any]]:
        if self.pod is None:
            return []
        meta = dict(self.pod["metadata"])
        if self.outcome == "running":
            status = {
                "phase": "Running",
                "containerStatuses": [{"state": {"running": {"startedAt": "x"}}}],
            }
            net = json.loads(meta["annotations"][NETWORKS_ANNOTATION])
            meta["annotations"] = {
                **meta["annotations"],
                NETWORK_STATUS_ANNOTATION: json.dumps(
                    [
                        {
                            "name": f"{net[0]['namespace']}/{net[0]['name']}",
                            "interface": "net1",
                            "mac": MAC,
                        }
                    ]
                ),
                "ovn.kubernetes.io/mac_address": "00:00:00:11:22:33",
            }
        elif self.outcome == "pull":
            status = {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "image": IMAGE,
                        "state": {"waiting": {"reason": "ErrImagePull", "message": "no"}},
                    }
                ],
            }
        else:
            status = {"phase": "Pending"}
        return [{"metadata": meta, "status": status}]

    def exec_fn(self, namespace: str, pod: str, argv: list[str]) -> ExecResult:
        self.execs.append((namespace, pod, argv))
        if argv[0] != "cat":
            return ExecResult(0, "1: lo\n", "")
        if argv[1].endswith("/eth0/address"):
            return ExecResult(0, "00:00:00:11:22:33\n", "")
        return ExecResult(0, MAC + "\n", "")


def runner(c: Cluster, tmp_path: Path, **kw: Any) -> single.SinglePod:
    return single.SinglePod(
        c.core,
        c.custom,
        IMAGE,
        c.exec_fn,
        tmp_path / "out",
        pod_stream=c.pod_stream,
        log=io.StringIO(),
        **kw,
    )


def test_a_running_pod_with_nads_exactly_as_given(tmp_path: Path) -> None:
    c = Cluster()
    atts = [Att("team-a/mv", MACVLAN, {"name": "mv", "namespace": "team-a", "mac": MAC})]
    ann = {"ovn.kubernetes.io/mac_address": "00:00:00:11:22:33", NETWORKS_ANNOTATION: "team-a/mv"}
    obs = runner(c, tmp_path).run("repro", "default", atts, ann)
    # the NAD: spec.config is the config, same keys in the same order, no `name` filled in
    (group, version, ns, plural, body), _ = c.custom.create_namespaced_custom_object.call_args
    assert (group, version, plural, ns) == (NADS[0], NADS[1], NADS[2], "team-a")
    assert body["metadata"]["name"] == "mv" and body["metadata"]["namespace"] == "team-a"
    assert body["spec"]["config"] == json.dumps(MACVLAN)
    assert list(json.loads(body["spec"]["config"])) == list(MACVLAN)
    # the pod: the user's annotations, networks = the elements as Multus holds them
    assert c.pod is not None
    got = c.pod["metadata"]["annotations"]
    assert got["ovn.kubernetes.io/mac_address"] == "00:00:00:11:22:33"
    assert json.loads(got[NETWORKS_ANNOTATION]) == [atts[0].element]
    assert c.pod["spec"]["restartPolicy"] == "Never"
    # the observation
    assert isinstance(obs, PodObservation) and obs.error is None
    assert obs.interfaces == {"eth0": "00:00:00:11:22:33", "net1": MAC}
    assert obs.network_status[0]["mac"] == MAC
    assert obs.annotations == {"ovn.kubernetes.io/mac_address": "00:00:00:11:22:33"}
    assert obs.ip_cr_mac["ovn"] == "ee"
    # the namespace team-a did not exist: created and deleted; default existed: left alone
    c.core.create_namespace.assert_called_once()
    assert c.core.create_namespace.call_args.args[0].metadata.name == "team-a"
    c.core.delete_namespace.assert_called_once_with("team-a")
    c.core.delete_namespaced_pod.assert_called_once_with("repro", "default", grace_period_seconds=0)
    c.custom.delete_namespaced_custom_object.assert_called_once_with(
        *NADS[:2], "team-a", NADS[2], "mv"
    )
    c.custom.create_cluster_custom_object.assert_not_called()  # no kube-ovn IPAM: no Subnet


def test_kube_ovn_ipam_gets_a_subnet_only_when_its_provider_has_none(tmp_path: Path) -> None:
    atts = [Att("default/macvlan", KUBEOVN_IPAM, {"name": "macvlan", "namespace": "default"})]
    c = Cluster()
    obs = runner(c, tmp_path).run("repro", "default", atts, {})
    body = c.custom.create_cluster_custom_object.call_args.args[3]
    assert body["spec"]["provider"] == "macvlan.default"
    assert body["spec"]["cidrBlock"].startswith("10.") and body["spec"]["cidrBlock"].endswith("/24")
    c.custom.delete_cluster_custom_object.assert_called_once_with(
        *SUBNETS, body["metadata"]["name"]
    )
    assert "macvlan.default" in obs.ip_cr_mac  # the attachment's provider is read too
    existing = {"metadata": {"name": "mine"}, "spec": {"provider": "macvlan.default"}}
    c = Cluster(subnets=[existing])
    runner(c, tmp_path).run("repro", "default", atts, {})
    c.custom.create_cluster_custom_object.assert_not_called()
    c.custom.delete_cluster_custom_object.assert_not_called()


def test_a_sandbox_failure_is_the_pods_error_with_diagnostics(tmp_path: Path) -> None:
    c = Cluster("sandbox")
    atts = [Att("default/mv", MACVLAN, {"name": "mv", "namespace": "default"})]
    r = runner(c, tmp_path)
    obs = r.run("repro", "default", atts, {})
    assert obs.error == 'plugin type="macvlan" failed: boom'
    assert obs.interfaces == {}  # no exec into a pod that never ran
    assert r.diagnostics and (Path(r.diagnostics) / "summary.txt").exists()
    assert (Path(r.diagnostics) / "repro.events.txt").exists()
    c.core.delete_namespaced_pod.assert_called_once()


def test_an_image_pull_failure_is_infra_with_diagnostics_and_cleanup(tmp_path: Path) -> None:
    c = Cluster("pull")
    atts = [Att("default/mv", MACVLAN, {"name": "mv", "namespace": "default"})]
    r = runner(c, tmp_path)
    with pytest.raises(InfraError, match="image pull failed for .*ErrImagePull"):
        r.run("repro", "default", atts, {})
    assert r.diagnostics and Path(r.diagnostics).is_dir()
    c.core.delete_namespaced_pod.assert_called_once()
    c.custom.delete_namespaced_custom_object.assert_called_once()


def test_a_pod_that_never_runs_times_out_as_infra(tmp_path: Path) -> None:
    c = Cluster("pending")
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0
        return now[0]

    r = runner(c, tmp_path, timeout_s=30.0, clock=clock)
    with pytest.raises(InfraError, match="timed out waiting for pod repro to run"):
        r.run("repro", "default", [Att("default/mv", MACVLAN, {"name": "mv"})], {})


def test_a_leftover_nad_is_a_clear_infra_error_and_nothing_else_is_made(tmp_path: Path) -> None:
    c = Cluster()
    c.custom.create_namespaced_custom_object.side_effect = ApiException(status=409, reason="x")
    with pytest.raises(InfraError, match="NAD default/mv already exists on the kept cluster"):
        runner(c, tmp_path).run("repro", "default", [Att("default/mv", MACVLAN, {})], {})
    c.core.create_namespaced_pod.assert_not_called()
    c.core.delete_namespaced_pod.assert_not_called()
    c.custom.delete_namespaced_custom_object.assert_not_called()  # not ours: left alone


def test_interfaces_follow_multus_naming() -> None:
    atts = [
        Att("a/x", {}, {"name": "x"}),
        Att("a/y", {}, {"name": "y", "interface": "data0"}),
        Att("a/x", {}, {"name": "x"}),
    ]
    assert single.interfaces(atts) == ["eth0", "net1", "data0", "net3"]


# ----------------------------------------------------------------------------- the backend glue


def test_run_pod_prepares_once_and_runs_on_the_kept_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from macmatrix.backends.kind import pods as pods_mod
    from macmatrix.backends.kind import session as session_mod
    from macmatrix.backends.kind.pods import KindPods
    from macmatrix.backends.kind.session import KindCluster
    from macmatrix.spec import stacks

    seen: list[Any] = []

    class Runner:
        def __init__(self, core: Any, custom: Any, image: str, exec_fn: Any, out: Path, **k: Any):
            assert isinstance(core, client.CoreV1Api) and isinstance(
                custom, client.CustomObjectsApi
            )
            seen.append((image, out))
            self.stats = type("S", (), {"calls": 5})()

        def run_wave(self, specs: list[Any]) -> list[PodObservation]:
            seen.extend((s.name, s.namespace, s.attachments, s.annotations) for s in specs)
            return [PodObservation(s.name) for s in specs]

    prepared: list[int] = []
    b = KindPods(KindCluster(stacks.get("kube-ovn-v1.16"), None, True, tmp_path, log=io.StringIO()))
    monkeypatch.setattr(b.cluster, "prepare", lambda: prepared.append(1))
    b.cluster.kubeconfig = tmp_path / "kubeconfig"
    monkeypatch.setattr(pods_mod, "SinglePod", Runner)
    monkeypatch.setattr(session_mod, "new_api_client", lambda path: client.ApiClient())
    atts = [Att("default/mv", MACVLAN, {"name": "mv"})]
    obs = b.run_pod("repro", "default", atts, {"k": "v"})
    assert obs.name == "repro" and prepared == [1] and b.api_calls == 5
    assert seen == [(IMAGE, tmp_path), ("repro", "default", atts, {"k": "v"})]


def test_repro_picks_kind_and_runs_the_pod_through_run_pod(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """repro.run on kind with a stand-in KindBackend: the newest stack by default, the
    attachments as given, the fix search's tuning asked for up front, the cluster kept,
    close() always."""
    from macmatrix.spec import stacks
    from macmatrix.spec.userinput import parse_text, resolve
    from macmatrix.workflows import repro

    made: list[Any] = []

    class StandIn:  # stand-in for KindPods: takes the KindCluster the kind entry configured
        def __init__(self, cluster: Any) -> None:
            made.append(cluster)

        def stack(self) -> dict[str, Any]:
            return {"backend": "kind", "name": made[0].stack.name, "cni_plugins": "v1.9.1"}

        def need_plugins(self, needed: dict[str, str]) -> str | None:
            made.append(needed)
            return None  # all on the nodes or in the stack's plugins release

        def run_pod(self, name: str, ns: str, atts: list[Any], ann: dict[str, str]) -> Any:
            made.append((name, ns, [(a.network, a.config, a.element) for a in atts]))
            return PodObservation(name, interfaces={"net1": MAC, "eth0": None})

        def close(self) -> None:
            made.append("close")

    from macmatrix.backends.kind import pods as pods_mod

    monkeypatch.setattr(pods_mod, "KindPods", StandIn)  # what the registry's kind `pods` makes
    text = (
        "kind: NetworkAttachmentDefinition\nmetadata: {name: mv}\nspec:\n  config: '"
        + json.dumps(MACVLAN)
        + "'\n---\n"
        + json.dumps([{"name": "mv", "mac": MAC}])
        + "\n"
    )
    request = resolve(parse_text(text, "t"))
    entry = repro.run(request, "kind", fix=False)  # the search: test_kind_fixsearch.py
    newest = stacks.stack_names()[-1]
    assert made[0].stack.name == newest and made[0].keep_cluster is True
    assert made[0].external_kubeconfig is None
    assert made[1] == {"macvlan": "default/mv", "tuning": "the fix search"}
    name, ns, atts = made[2]
    assert atts[0][1] == MACVLAN and atts[0][2]["mac"] == MAC
    assert made[-1] == "close" and entry["fix"] == {"searched": False, "why": "--no-fix"}
    assert f"using the newest, {newest}" in capsys.readouterr().err
