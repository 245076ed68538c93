"""KindBackend's contract with the rest of macmatrix: construction, stack(), phases(), close(),
the existing-cluster checks (against a stand-in AppsV1Api built with create_autospec), and the
install phase's readiness decision."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client

from macmatrix.backends import base
from macmatrix.backends.kind.backend import KindBackend
from macmatrix.backends.kind.session import KindCluster
from macmatrix.backends.kind.stack import install
from macmatrix.backends.kind.stack.cluster import Tools
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import BadInput, InfraError
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run.runner import needs_diagnostics
from macmatrix.spec import stacks
from macmatrix.spec.cases import DEFAULTS, Case


def test_from_options_and_stack(tmp_path: Path) -> None:
    b = KindBackend(KindCluster.from_options("kube-ovn-v1.13", None, True, tmp_path))
    assert b.name == "kind"
    s = b.stack()
    assert {
        k: s[k]
        for k in ("backend", "name", "kube_ovn", "multus", "cni_plugins", "kubernetes", "kind")
    } == {
        "backend": "kind",
        "name": "kube-ovn-v1.13",
        "kube_ovn": "v1.13.15",
        "multus": "v4.1.3",
        "cni_plugins": "v1.6.2",
        "kubernetes": "v1.33.2",  # what Kube-OVN v1.13.15 tests on kind
        "kind": "v0.32.0",
    }
    assert b.phases() == {}
    b.close()  # nothing was created: nothing to do, no error
    for method in ("stack", "run", "close"):  # the Protocol in backends/base.py
        assert callable(getattr(b, method)) and hasattr(base.Backend, method)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", None, False), "--stack: unknown stack 'nope'"),
        (
            ("kube-ovn-v1.14", "/does/not/exist", False),
            "--kubeconfig: /does/not/exist is not a file",
        ),
    ],
)
def test_from_options_bad_input(tmp_path: Path, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(BadInput, match=message) as e:
        KindBackend(KindCluster.from_options(*args, out_dir=tmp_path))
    assert "\n" not in str(e.value)


def test_keep_cluster_with_an_existing_cluster_is_bad_input(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\n")
    with pytest.raises(BadInput, match="--keep-cluster"):
        KindBackend(KindCluster.from_options("kube-ovn-v1.14", str(kc), True, tmp_path))


def _installer(tmp_path: Path, workloads: dict[tuple[str, str], Any]) -> install.Installer:
    inst = install.Installer(
        stacks.get("kube-ovn-v1.14"),
        None,
        Lock(tmp_path / "l"),
        tmp_path / "kc",
        client.ApiClient(),
        tmp_path,
        log=io.StringIO(),
    )
    apps = create_autospec(client.AppsV1Api, instance=True)  # stand-in for the API

    def read(kind: str) -> Any:
        def reader(name: str, namespace: str, **_: Any) -> Any:
            assert namespace == "kube-system"
            if (kind, name) not in workloads:
                raise client.exceptions.ApiException(status=404, reason="NotFound")
            return workloads[(kind, name)]

        return reader

    apps.read_namespaced_deployment.side_effect = read("deployment")
    apps.read_namespaced_daemon_set.side_effect = read("daemonset")
    inst.apps = apps
    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
    core.list_namespaced_pod.return_value = client.V1PodList(items=[])
    inst.core = core
    return inst


def _ds(name: str, image: str, ready: bool = True) -> client.V1DaemonSet:
    return client.V1DaemonSet(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DaemonSetSpec(
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image=image)])
            ),
        ),
        status=client.V1DaemonSetStatus(
            desired_number_scheduled=2,
            number_ready=2 if ready else 1,
            updated_number_scheduled=2,
            current_number_scheduled=2,
            number_misscheduled=0,
        ),
    )


def _dep(name: str) -> client.V1Deployment:
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(containers=[client.V1Container(name="c")])
            ),
        ),
        status=client.V1DeploymentStatus(ready_replicas=1, updated_replicas=1),
    )


def ready_kube_ovn(tag: str = "v1.14.41") -> dict[tuple[str, str], Any]:
    img = f"docker.io/kubeovn/kube-ovn:{tag}"
    return {
        ("deployment", "ovn-central"): _dep("ovn-central"),
        ("deployment", "kube-ovn-controller"): _dep("kube-ovn-controller"),
        ("daemonset", "ovs-ovn"): _ds("ovs-ovn", img),
        ("daemonset", "kube-ovn-cni"): _ds("kube-ovn-cni", img),
        ("daemonset", "kube-multus-ds"): _ds("kube-multus-ds", "ghcr.io/x/multus-cni:v4.2.1-thick"),
    }


def test_readiness_states(tmp_path: Path) -> None:
    assert _installer(tmp_path, ready_kube_ovn()).kube_ovn_state() == ""
    assert _installer(tmp_path, ready_kube_ovn()).multus_state() == ""
    other = _installer(tmp_path, ready_kube_ovn("v1.14.40")).kube_ovn_state()
    assert other == "kube-ovn-cni runs v1.14.40, the stack wants v1.14.41"
    missing = ready_kube_ovn()
    del missing[("deployment", "ovn-central")]
    assert _installer(tmp_path, missing).kube_ovn_state() == "deployment/ovn-central not ready"
    slow = ready_kube_ovn()
    slow[("daemonset", "kube-multus-ds")] = _ds("kube-multus-ds", "m:v4.2.1-thick", ready=False)
    assert _installer(tmp_path, slow).multus_state() == "daemonset/kube-multus-ds not ready"


def _install_sh_fails(
    inst: install.Installer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, last_line: str
) -> None:
    """install.sh "runs" and exits 1 with `last_line` (no download, no untainting), so only
    the readiness wait after it decides."""
    monkeypatch.setattr(inst, "untaint_control_plane", lambda: None)
    monkeypatch.setattr(inst, "install_script", lambda: tmp_path / "install.sh")
    monkeypatch.setattr(inst, "_stream", lambda argv, env: (1, last_line))
    inst.tools = Tools(tmp_path / "kind", tmp_path / "kubectl")


def test_install_script_failure_is_judged_by_readiness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """install.sh's last step may fail after Kube-OVN is up: a ready Kube-OVN is success."""
    state = {"calls": 0}
    inst = _installer(tmp_path, ready_kube_ovn())
    real = inst.kube_ovn_state

    def first_missing() -> str:
        state["calls"] += 1
        return "deployment/ovn-central not ready" if state["calls"] == 1 else real()

    monkeypatch.setattr(inst, "kube_ovn_state", first_missing)
    monkeypatch.setattr(install, "READY_POLL_S", 0.05)
    denied = "cp: /usr/local/bin/kubectl-ko: Permission denied"
    _install_sh_fails(inst, monkeypatch, tmp_path, denied)
    inst.kube_ovn(None)  # no exception: the pods are ready
    assert "deciding from the pods' readiness" in inst.log.getvalue()  # type: ignore[attr-defined]


def test_a_cluster_that_never_becomes_ready_is_one_infra_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = _installer(tmp_path, {})
    monkeypatch.setattr(install, "READY_TIMEOUT_S", 0.2)
    monkeypatch.setattr(install, "READY_POLL_S", 0.05)
    _install_sh_fails(inst, monkeypatch, tmp_path, "error: timed out")
    with pytest.raises(
        InfraError, match="Kube-OVN never became ready: .*deployment/ovn-central not ready"
    ) as e:
        inst.kube_ovn(None)
    assert "\n" not in str(e.value) and "install.sh exit 1" in str(e.value)


def test_untaint_patches_only_control_plane_nodes(tmp_path: Path) -> None:
    inst = _installer(tmp_path, {})
    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
    taint = client.V1Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")
    core.list_node.return_value = client.V1NodeList(
        items=[
            client.V1Node(
                metadata=client.V1ObjectMeta(name="cp"), spec=client.V1NodeSpec(taints=[taint])
            ),
            client.V1Node(metadata=client.V1ObjectMeta(name="w"), spec=client.V1NodeSpec()),
        ]
    )
    inst.core = core
    inst.untaint_control_plane()
    core.patch_node.assert_called_once_with("cp", {"spec": {"taints": []}})


def test_needs_diagnostics_for_anything_not_fully_fine() -> None:
    case = Case(**DEFAULTS)  # asks for a MAC on net1 via the networks element
    mac = case.requested_mac(0)
    ok = CaseObservation(
        case.id,
        pods=[
            PodObservation(
                "p",
                interfaces={"eth0": "00:00:00:00:00:01", "net1": mac},
                network_status=[{"interface": "net1", "mac": mac}],
            )
        ],
    )
    assert not needs_diagnostics(case, ok)
    wrong = CaseObservation(
        case.id, pods=[PodObservation("p", interfaces={"net1": "02:00:00:00:00:99"})]
    )
    assert needs_diagnostics(case, wrong)
    assert needs_diagnostics(
        case, CaseObservation(case.id, pods=[PodObservation("p", error="CNI")])
    )
    assert needs_diagnostics(case, CaseObservation(case.id, status="infra-error", reason="x"))


def test_run_and_close_glue(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """run() brings the stack up once (lazily), records phases, runs the matrix, collects
    diagnostics for what is not fine; close() deletes the cluster, then the network."""
    from macmatrix.backends.kind import backend as kind_mod
    from macmatrix.backends.kind import session as session_mod

    calls: list[str] = []
    monkeypatch.setenv("MACMATRIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(session_mod, "lock_path", lambda: tmp_path / "stacks.lock")
    monkeypatch.setattr(
        session_mod, "ensure_tools", lambda s, lock: Tools(tmp_path / "k", tmp_path / "c")
    )

    class Lifecycle:
        def __init__(self, stack: Any, tools: Any, workdir: Path, keep: bool, log: Any) -> None:
            self.keep, self.kubeconfig = keep, workdir / "kubeconfig"

        def up(self) -> bool:
            calls.append("up")
            return False

        def nodes(self) -> list[str]:
            return ["n-control-plane", "n-worker"]

        def down(self) -> None:
            calls.append("down")

    class Net:
        def remove(self, nodes: list[str]) -> None:
            calls.append(f"network-rm {len(nodes)}")

    class Inst:
        def __init__(self, *args: Any, **kw: Any) -> None:
            pass

        def kube_ovn(self, cluster: Any) -> None:
            calls.append("kube-ovn")

        def multus(self, cluster: Any) -> None:
            calls.append("multus")

        def plugins(self, nodes: list[str], extra: Any = ()) -> list[str]:
            calls.append(f"plugins {len(nodes)}")
            return []

        def master_network(self, nodes: list[str]) -> Net:
            return Net()

    good, bad = Case(**{**DEFAULTS, "request": "none"}), Case(**DEFAULTS)

    class Matrix:
        def __init__(
            self, core: Any, custom: Any, namespace: str, image: str, exec_fn: Any, **kw: Any
        ):
            assert namespace.startswith("mm-") and image.endswith(":v1.14.41")
            self.core, self.stats, self.waves = core, type("S", (), {"calls": 7})(), 1

        def setup(self, cases: Any) -> None:
            calls.append(f"setup {len(cases)}")

        def run(self, cases: Any) -> dict[str, CaseObservation]:
            ok = PodObservation(
                "p",
                interfaces={"net1": "02:00:00:00:00:01"},
                network_status=[{"interface": "net1", "mac": "02:00:00:00:00:01"}],
            )
            return {
                good.id: CaseObservation(good.id, pods=[ok]),
                bad.id: CaseObservation(bad.id, pods=[PodObservation("q", error="CNI")]),
            }

        def teardown(self) -> None:
            calls.append("teardown")

    class Diag:
        def __init__(self, *a: Any) -> None:
            pass

        def collect(self, case: Case, obs: CaseObservation) -> str:
            calls.append(f"diag {case.id == bad.id}")
            return str(tmp_path / "d")

    monkeypatch.setattr(session_mod, "KindLifecycle", Lifecycle)
    monkeypatch.setattr(session_mod, "Installer", Inst)
    monkeypatch.setattr(kind_mod, "MatrixRun", Matrix)
    monkeypatch.setattr(kind_mod, "Diagnostics", Diag)
    monkeypatch.setattr(session_mod, "new_api_client", lambda path: client.ApiClient())

    out, log = tmp_path / "out", io.StringIO()
    b = KindBackend(KindCluster(stacks.get("kube-ovn-v1.14"), None, False, out, log=log))
    obs = b.run([good, bad])
    assert obs[bad.id].diagnostics == str(tmp_path / "d") and obs[good.id].diagnostics is None
    b.run([good])  # prepared once only
    assert calls.count("up") == 1 and calls.count("kube-ovn") == 1 and "plugins 2" in calls
    assert calls.count("teardown") == 2 and calls.count("diag True") == 1
    assert {
        "tools",
        "cluster_create",
        "kube_ovn_ready",
        "multus_ready",
        "nodes_ready",
        "to_matrix",
        "matrix",
    } <= set(b.phases())
    assert b.api_calls == 14 and b.waves == 2
    b.close()
    assert calls[-2:] == ["down", "network-rm 2"]
    b.close()  # idempotent
    assert calls.count("down") == 1


def test_an_image_that_never_pulls_ends_the_wait_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = _installer(tmp_path, {})
    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
    core.list_namespaced_pod.return_value = client.V1PodList(
        items=[
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="ovs-ovn-1", namespace="kube-system"),
                status=client.V1PodStatus(
                    container_statuses=[
                        client.V1ContainerStatus(
                            name="openvswitch",
                            image="docker.io/kubeovn/kube-ovn:v1.14.41",
                            image_id="",
                            ready=False,
                            restart_count=0,
                            state=client.V1ContainerState(
                                waiting=client.V1ContainerStateWaiting(reason="ErrImagePull")
                            ),
                        )
                    ]
                ),
            )
        ]
    )
    inst.core = core
    monkeypatch.setattr(install, "READY_POLL_S", 0.01)
    monkeypatch.setattr(install, "PULL_FAIL_POLLS", 3)
    _install_sh_fails(inst, monkeypatch, tmp_path, "error")
    want = "image pull failed: kube-system/ovs-ovn-1: docker.io/kubeovn/kube-ovn:v1.14.41"
    with pytest.raises(InfraError, match=want + ": ErrImagePull") as e:
        inst.kube_ovn(None)
    assert "\n" not in str(e.value)
    assert core.list_namespaced_pod.call_count == 3


def test_the_run_layer_names_the_cases_that_need_diagnostics(tmp_path: Path) -> None:
    """Backends observe, the run judges: execute() hands a backend that collects diagnostics
    (diagnose_when) the judge's 'not works'; the kind backend alone keeps to what it observed."""
    from macmatrix.backends.kind.backend import failed_outright
    from macmatrix.run import runner

    case = Case(**DEFAULTS)
    mac = case.requested_mac(0)
    wrong = CaseObservation(
        case.id, pods=[PodObservation("p", interfaces={"net1": "02:00:00:00:00:99"})]
    )
    assert not failed_outright(case, wrong)  # the MAC is the judge's business...
    assert runner.needs_diagnostics(case, wrong)  # ...and the judge says: look closer
    assert failed_outright(case, CaseObservation(case.id, pods=[PodObservation("p", error="CNI")]))

    class Recorder:
        name = "recorder"
        predicate: Any = None

        def diagnose_when(self, predicate: Any) -> None:
            Recorder.predicate = predicate

        def stack(self) -> dict[str, Any]:
            return {"backend": "recorder", "name": "recorder"}

        def run(self, cases: Any, progress: Any = None, on_case: Any = None) -> Any:
            assert Recorder.predicate is runner.needs_diagnostics  # set before the run
            pod = PodObservation("p", interfaces={"net1": mac})
            return {c.id: CaseObservation(c.id, pods=[pod]) for c in cases}

        def close(self) -> None:
            pass

    runner.execute(Recorder(), [case], tmp_path, "m.yaml")
    assert Recorder.predicate is runner.needs_diagnostics
