"""Real Multus (thin, the newest stack's pin) against the local apiserver, case by case beside
the emulated-Multus netns tier.

The harness plays the container runtime: it creates the pod object in the real apiserver and the
pod's network namespace, then calls the `multus` binary as containerd would (CNI_ARGS with the
pod's namespace, name and UID; a default-network delegate, here `bridge`). Multus reads the pod's
networks annotation and the NAD from the API server, delegates to the stack's real plugins and
writes network-status back to the pod. The control plane runs inside the run's node namespace, so
Multus reaches it on 127.0.0.1 without a host interface. Each case's verdict must equal the one the
netns tier (Multus emulated) gives with the same plugins; a difference is a bug in the emulation
or a finding, listed by case.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from macmatrix import macs
from macmatrix.backends.gobuild import cni_plugins, control_plane, crds, multus
from macmatrix.backends.netns.backend import NetnsBackend, create_netns, in_netns, unavailable
from macmatrix.build import manifests
from macmatrix.judge.verdict import judge
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec import cases, stacks

pytestmark = [pytest.mark.apiserver, pytest.mark.netns]

STACK = stacks.get(stacks.newest())
SELECT = "x1 and ipam-static and cni-1.0.0 and not eth0-in-pod and not eth0-mac"
NS = "macmatrix"


def _needed() -> None:
    why = unavailable([cni_plugins.DEBIAN_DIR])
    if why:
        pytest.skip(f"netns backend unavailable: {why}")
    missing = [
        what
        for what, ok in (
            (f"kube-apiserver {STACK.kubernetes}", control_plane.cached(STACK.kubernetes)),
            (f"multus {STACK.multus}", multus.cached(STACK.multus)),
            (f"CNI plugins {STACK.cni_plugins}", cni_plugins.cached(STACK.cni_plugins)),
        )
        if not ok
    ]
    if missing:
        text = f"not built yet: {', '.join(missing)} (.ci/run builds them)"
        if os.environ.get("MACMATRIX_REQUIRE_APISERVER"):
            pytest.fail(text, pytrace=False)
        pytest.skip(text)


@pytest.fixture(scope="module")
def node() -> Iterator[dict[str, Any]]:
    """The node namespace (eth1 master, control plane inside), API clients, the multus config."""
    _needed()
    from kubernetes import client
    from pyroute2 import IPRoute, netns

    from macmatrix.backends.controlplane import LocalControlPlane
    from macmatrix.backends.kind.kube.client import new_api_client
    from macmatrix.backends.kind.kube.wait import wait_for

    tag = uuid.uuid4().hex[:6]
    names = {k: f"mm-mu{tag}-{k}" for k in ("node", "lan")}
    tmp = Path(tempfile.mkdtemp(prefix="macmatrix-multus-"))
    made: list[str] = []
    cp = None
    try:
        for n in names.values():
            create_netns(n)
            made.append(n)
        with in_netns(names["node"]), IPRoute() as ip:
            ip.link("set", index=ip.link_lookup(ifname="lo")[0], state="up")
            ip.link(
                "add", ifname="eth1", kind="veth", peer={"ifname": "up0", "net_ns_fd": names["lan"]}
            )
            ip.link("set", index=ip.link_lookup(ifname="eth1")[0], state="up")
        with in_netns(names["node"]):
            cp = LocalControlPlane(control_plane.bin_dir(STACK.kubernetes))
            cp.start()
            api = new_api_client(str(cp.kubeconfig))
            ext = client.ApiextensionsV1Api(api)
            for doc in crds.nad_crd(STACK.multus):
                ext.create_custom_resource_definition(doc)

            def established() -> bool:
                return any(
                    c.type == "Established" and c.status == "True"
                    for i in ext.list_custom_resource_definition().items
                    for c in i.status.conditions or []
                )

            wait_for(established, bool, 120, "the NAD CRD to be Established")
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            core.create_namespace({"metadata": {"name": NS}})
        plugins = str(cni_plugins.bin_dir(STACK.cni_plugins))
        conf = {
            "cniVersion": "1.0.0",
            "name": "multus-cni-network",
            "type": "multus",
            "kubeconfig": str(cp.kubeconfig),
            "cniDir": str(tmp / "multus"),
            "binDir": plugins,
            "delegates": [
                {
                    "cniVersion": "1.0.0",
                    "name": "default",
                    "type": "bridge",
                    "bridge": "mmbr0",
                    "ipam": {
                        "type": "host-local",
                        "subnet": "10.244.0.0/16",
                        "dataDir": str(tmp / "hl"),
                    },
                }
            ],
        }
        yield {
            "ns": names,
            "core": core,
            "custom": custom,
            "conf": conf,
            "plugins": plugins,
            "tmp": tmp,
        }
    finally:
        if cp is not None:
            cp.stop()
        for n in reversed(made):
            with suppress(OSError):
                netns.remove(n)
        shutil.rmtree(tmp, ignore_errors=True)


def _multus(node: dict[str, Any], command: str, pod_ns: str, cid: str, name: str, uid: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": f"/run/netns/{pod_ns}",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": node["plugins"],
        "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE={NS};K8S_POD_NAME={name};"
        f"K8S_POD_INFRA_CONTAINER_ID={cid};K8S_POD_UID={uid}",
    }
    proc = subprocess.run(
        ["nsenter", f"--net=/run/netns/{node['ns']['node']}", str(multus.binary(STACK.multus))],
        input=json.dumps(node["conf"]).encode(),
        env=env,
        capture_output=True,
        timeout=120,
    )
    if proc.returncode == 0:
        return ""
    try:
        return str(json.loads(proc.stdout).get("msg"))
    except ValueError:
        return (proc.stdout or proc.stderr).decode(errors="replace")[-300:]


def _through_multus(node: dict[str, Any], case: cases.Case) -> CaseObservation:
    from pyroute2 import IPRoute, netns

    with in_netns(node["ns"]["node"]):
        node["custom"].create_namespaced_custom_object(
            "k8s.cni.cncf.io", "v1", NS, "network-attachment-definitions", manifests.nad(case, NS)
        )
        body = manifests.pods(case, NS, STACK.pod_image)[0]
        pod = node["core"].create_namespaced_pod(NS, body)
    name, uid, cid = pod.metadata.name, pod.metadata.uid, uuid.uuid4().hex
    pod_ns = f"{node['ns']['node'][:-5]}-p{uuid.uuid4().hex[:4]}"
    create_netns(pod_ns)
    try:
        error = _multus(node, "ADD", pod_ns, cid, name, uid)
        with in_netns(pod_ns), IPRoute() as ip:
            interfaces = {
                str(link.get("ifname")): macs.normalise(link.get("address"))
                for link in ip.get_links()
                if link.get("ifname") != "lo"
            }
        with in_netns(node["ns"]["node"]):
            annotations = node["core"].read_namespaced_pod(name, NS).metadata.annotations or {}
        status = json.loads(annotations.get("k8s.v1.cni.cncf.io/network-status", "[]"))
        secondary = [s for s in status if not s.get("default")]
        _multus(node, "DEL", pod_ns, cid, name, uid)
    finally:
        netns.remove(pod_ns)
        with in_netns(node["ns"]["node"]):
            node["core"].delete_namespaced_pod(name, NS, grace_period_seconds=0)
    obs = PodObservation(
        name=name,
        interfaces={k: v for k, v in interfaces.items() if k != "eth0"},
        network_status=secondary,
        annotations={},
        error=error or None,
    )
    return CaseObservation(case.id, pods=[obs])


def test_real_multus_agrees_with_the_emulation_case_by_case(node: dict[str, Any]) -> None:
    picked = cases.select(cases.load(cases.default_matrix_path()), SELECT)
    assert picked
    with NetnsBackend([node["plugins"]], label="emulated") as nb:
        emulated = nb.run(picked)
    rows, differ = [], []
    for case in picked:
        real = judge(case, _through_multus(node, case))
        emu = judge(case, emulated[case.id])
        rows.append(f"{case.id}: real {real.outcome}, emulated {emu.outcome}")
        checks_real = {k: c.ok for k, c in real.checks.items()}
        checks_emu = {k: c.ok for k, c in emu.checks.items()}
        if real.outcome != emu.outcome or checks_real != checks_emu:
            differ.append(
                f"{case.id}: real {real.outcome} {real.reason} / "
                f"emulated {emu.outcome} {emu.reason}"
            )
    print("\n".join(rows))
    assert len(rows) == len(picked)
    assert not differ, "\n".join(differ)
    assert any("real works" in r for r in rows) and any("real broken" in r for r in rows)
