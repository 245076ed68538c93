"""The kind backend's Kubernetes layer against a real kube-apiserver + etcd on 127.0.0.1.

The control plane is k8s.io/kubernetes built at the newest stack's Kubernetes version
(gobuild/control_plane.py; `python -m macmatrix.backends.gobuild.control_plane` builds it into the
cache), with the NetworkAttachmentDefinition CRD at the version that stack's Multus pins and
Kube-OVN's CRDs from that stack's install.sh (gobuild/crds.py). What is real here: object
validation (built-in and CRD schemas), namespaces, NADs, Subnets, pods, their annotations,
watches and deletion. There is no scheduler, kubelet or controller: pods stay Pending, a Subnet
never turns Ready, a deleted namespace stays Terminating, and exec / sandbox events remain the
autospec stand-ins' job (tests/test_kind_*.py).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from macmatrix.backends.gobuild import control_plane, crds, toolchain
from macmatrix.build import manifests
from macmatrix.spec import cases, stacks

pytestmark = pytest.mark.apiserver

STACK = stacks.get(stacks.newest())
VERSION = STACK.kubernetes


def _needed() -> None:
    if not control_plane.cached(VERSION):
        why = "no Go toolchain" if not toolchain.find_go() else "not built yet"
        text = (
            f"kube-apiserver {VERSION} not in the cache ({why}): "
            f"python -m macmatrix.backends.gobuild.control_plane {VERSION}"
        )
        if os.environ.get("MACMATRIX_REQUIRE_APISERVER"):  # CI: it must run, not skip
            pytest.fail(text, pytrace=False)
        pytest.skip(text)


@pytest.fixture(scope="module")
def api() -> Iterator[Any]:
    """A started control plane with the stack's CRDs established: (core, custom, ext, cp)."""
    _needed()
    from kubernetes import client

    from macmatrix.backends.controlplane import LocalControlPlane
    from macmatrix.backends.kind.kube.client import new_api_client
    from macmatrix.backends.kind.kube.wait import wait_for

    with LocalControlPlane(control_plane.bin_dir(VERSION)) as cp:
        api_client = new_api_client(str(cp.kubeconfig))
        ext = client.ApiextensionsV1Api(api_client)
        crd_docs = crds.nad_crd(STACK.multus) + crds.kube_ovn_crds(STACK.kube_ovn)
        for doc in crd_docs:
            ext.create_custom_resource_definition(doc)
        names = {d["metadata"]["name"] for d in crd_docs}

        def established() -> set[str]:
            items = ext.list_custom_resource_definition().items
            return {
                i.metadata.name
                for i in items
                if any(
                    c.type == "Established" and c.status == "True"
                    for c in i.status.conditions or []
                )
            }

        wait_for(established, lambda got: names <= got, 120, "CRDs to be Established")
        yield client.CoreV1Api(api_client), client.CustomObjectsApi(api_client), ext, cp
        api_client.close()


def _cases(selection: str) -> list[cases.Case]:
    picked = cases.select(cases.load(cases.default_matrix_path()), selection)
    assert picked, selection
    return picked


def _no_exec(namespace: str, pod: str, argv: list[str]) -> Any:
    raise AssertionError("no pod runs without a kubelet: nothing may exec")


def _run(api: Any, namespace: str, deadline_s: float | None = None) -> Any:
    from macmatrix.backends.kind.kube.matrix import MatrixRun

    core, custom, _ext, _cp = api
    return MatrixRun(
        core, custom, namespace, STACK.pod_image, _no_exec, deadline_s=deadline_s, log=io.StringIO()
    )


def _ns(tag: str) -> str:
    return f"mm-api-{tag}-{int(time.time() * 1000) % 10**8}"


def test_the_server_is_the_stacks_kubernetes(api: Any) -> None:
    from kubernetes import client

    core, _custom, _ext, cp = api
    info = client.VersionApi(core.api_client).get_code()
    assert info.git_version == VERSION, (info.git_version, cp.url)


def test_setup_creates_the_namespace_and_nads_the_real_schema_accepts(api: Any) -> None:
    from macmatrix.backends.kind.kube.matrix import NADS

    core, custom, _ext, _cp = api
    ns = _ns("setup")
    picked = _cases("tuning-capmac and ipam-static and cni-1.0.0 and x1 and not eth0-mac")
    run = _run(api, ns)
    run.setup(picked)
    try:
        labels = core.read_namespace(ns).metadata.labels
        assert labels == {**manifests.MANAGED_BY, "kubernetes.io/metadata.name": ns}  # server adds
        for case in picked:
            got = custom.get_namespaced_custom_object(
                *NADS[:2], ns, NADS[2], manifests.nad_name(case)
            )
            assert got["spec"] == manifests.nad(case, ns)["spec"]  # config string byte for byte
        assert run.stats.calls == 1 + len(picked) and run.stats.retries == 0
    finally:
        run.teardown()


def test_subnets_go_in_but_never_turn_ready_without_kube_ovn(api: Any) -> None:
    from macmatrix.backends.kind.kube.client import CallStats
    from macmatrix.backends.kind.kube.matrix import SUBNETS, wait_subnets_ready
    from macmatrix.errors import InfraError

    _core, custom, _ext, _cp = api
    ns = _ns("subnet")
    case = _cases("ipam-kube-ovn and req-networks and x1")[0]
    body = manifests.subnet(case, ns)
    assert body is not None
    custom.create_cluster_custom_object(*SUBNETS, body)
    name = body["metadata"]["name"]
    try:
        got = custom.get_cluster_custom_object(*SUBNETS, name)
        assert got["spec"]["provider"] == manifests.provider(case, ns)
        assert got["spec"]["cidrBlock"] == manifests.cidr(case)
        with pytest.raises(InfraError, match=rf"Kube-OVN Subnets to be Ready.*{name}"):
            wait_subnets_ready(
                custom, [name], "app.kubernetes.io/managed-by=macmatrix", CallStats(), timeout_s=3
            )
    finally:
        custom.delete_cluster_custom_object(*SUBNETS, name)


def test_a_wave_creates_pods_the_watch_sees_pending_until_the_deadline(api: Any) -> None:
    from macmatrix.types import Status

    core, _custom, _ext, _cp = api
    ns = _ns("wave")
    picked = _cases("macvlan+capmac/single/ipam-static/req-networks/cni-1.0.0/x2")
    run = _run(api, ns, deadline_s=6)
    run.setup(picked)
    try:
        observed = run.wave(picked)
        for case in picked:
            obs = observed[case.id]
            assert obs.status == Status.INFRA_ERROR, obs
            assert "timed out waiting for pod" in obs.reason, obs.reason
        pods = core.list_namespaced_pod(ns, label_selector=run.selector).items
        want = {manifests.pod_name(c, r): (c, r) for c in picked for r in range(c.n_replicas)}
        assert {p.metadata.name for p in pods} == set(want)
        for p in pods:
            assert p.status.phase == "Pending" and not p.spec.node_name
            case, replica = want[p.metadata.name]
            assert p.metadata.annotations == manifests.pod_annotations(case, ns, replica)
        run._delete_pods(picked, timeout_s=30)  # unscheduled pods go at once
        assert not core.list_namespaced_pod(ns, label_selector=run.selector).items
    finally:
        run.teardown()


def test_the_api_refuses_bad_manifests_at_once_without_retries(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    from macmatrix.backends.kind.kube.client import CallStats, call
    from macmatrix.backends.kind.kube.matrix import NADS, SUBNETS

    core, custom, _ext, _cp = api
    ns = _ns("refuse")
    run = _run(api, ns)
    case = _cases("single and ipam-static and req-networks and x1 and cni-1.0.0")[0]
    run.setup([case])
    try:
        bad_nad = manifests.nad(case, ns)
        bad_nad["metadata"]["name"] = "nad-with-object-config"
        bad_nad["spec"]["config"] = {"type": "macvlan"}  # the CRD says: a JSON *string*
        stats = CallStats()
        with pytest.raises(ApiException) as nad_err:
            call(
                custom.create_namespaced_custom_object, *NADS[:2], ns, NADS[2], bad_nad, stats=stats
            )
        assert nad_err.value.status == 422 and "spec.config" in str(nad_err.value.body)
        bad_pod = manifests.pods(case, ns, STACK.pod_image)[0]
        bad_pod["metadata"]["name"] = "Upper_Case"
        with pytest.raises(ApiException) as pod_err:
            call(core.create_namespaced_pod, ns, bad_pod, stats=stats)
        assert pod_err.value.status == 422
        subnet_case = _cases("ipam-kube-ovn and req-networks and x1")[0]
        bad_subnet = manifests.subnet(subnet_case, ns)
        assert bad_subnet is not None
        bad_subnet["spec"]["cidrBlock"] = 42  # a string in Kube-OVN's schema
        with pytest.raises(ApiException) as sub_err:
            call(custom.create_cluster_custom_object, *SUBNETS, bad_subnet, stats=stats)
        assert sub_err.value.status == 422
        assert stats.calls == 3 and stats.retries == 0  # 4xx is not transient
    finally:
        run.teardown()


def test_teardown_deletes_the_namespace_and_subnets(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    from macmatrix.backends.kind.kube.matrix import IPS, SUBNETS, delete_run

    core, custom, _ext, _cp = api
    ns = _ns("teardown")
    case = _cases("ipam-kube-ovn and req-networks and x1")[0]
    body = manifests.subnet(case, ns)
    assert body is not None
    core.create_namespace({"metadata": {"name": ns, "labels": dict(manifests.MANAGED_BY)}})
    custom.create_cluster_custom_object(*SUBNETS, body)
    assert custom.list_cluster_custom_object(*IPS)["items"] == []  # the IP CRD answers too
    log = io.StringIO()
    delete_run(core, custom, ns, [body["metadata"]["name"]], log)
    assert log.getvalue() == ""
    with pytest.raises(ApiException) as gone:
        custom.get_cluster_custom_object(*SUBNETS, body["metadata"]["name"])
    assert gone.value.status == 404
    # no namespace controller here: the namespace is marked for deletion and stays Terminating
    namespace = core.read_namespace(ns)
    assert namespace.metadata.deletion_timestamp is not None
    assert namespace.status.phase == "Terminating"
    delete_run(core, custom, ns, [body["metadata"]["name"]], log)  # again: 404s are fine
    assert "could not delete" not in log.getvalue()


def test_the_binaries_carry_the_dependencies_kubernetes_pins() -> None:
    """Go's build info in the binaries: the etcd client inside kube-apiserver and the etcd server
    are the versions k8s.io/kubernetes' go.mod requires (no @latest crept in)."""
    import re
    from pathlib import Path

    _needed()
    if not toolchain.find_go():
        pytest.skip("reading k8s.io/kubernetes' go.mod (go mod download) needs the Go toolchain")
    gomod = Path(str(crds.module(f"{control_plane.KUBERNETES}@{VERSION}")["GoMod"])).read_text()
    bins = control_plane.bin_dir(VERSION)
    for binary, module in (
        ("kube-apiserver", "go.etcd.io/etcd/client/v3"),
        ("etcd", control_plane.ETCD_MODULE),
    ):
        info = (bins / binary).read_bytes()
        m = re.search(rb"\n(?:dep|mod)\t" + re.escape(module.encode()) + rb"\t(v[^\t\n]+)", info)
        assert m, f"{binary}: no build info for {module}"
        assert m.group(1).decode() == control_plane.required_version(gomod, module), binary


@pytest.mark.parametrize(
    ("held", "loser"), [(0, "etcd"), (2, "kube-apiserver")], ids=["etcd-port", "apiserver-port"]
)
def test_a_port_taken_before_the_bind_is_retried_on_fresh_ports(
    monkeypatch: pytest.MonkeyPatch, held: int, loser: str
) -> None:
    """The free-port race for real: another process listens on the first try's etcd client port
    (or apiserver port); that binary exits with "address already in use", the start begins again
    on fresh ports and the control plane comes up."""
    _needed()
    import socket

    from macmatrix.backends import controlplane

    real = controlplane.free_ports
    picked: list[list[int]] = []
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]

        def first_one_taken(n: int) -> list[int]:
            ports = real(n)
            if not picked:
                ports[held] = taken
            picked.append(ports)
            return ports

        monkeypatch.setattr(controlplane, "free_ports", first_one_taken)
        with controlplane.LocalControlPlane(control_plane.bin_dir(VERSION)) as cp:
            assert cp.readyz() == "ok"
            assert len(picked) == 2 and taken not in picked[1]
            (conflict,) = cp.port_conflicts
            assert conflict.startswith(f"{loser} exited with ")
            assert f"127.0.0.1:{taken}" in conflict and "address already in use" in conflict
