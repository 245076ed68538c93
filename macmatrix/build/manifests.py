"""Case -> NetworkAttachmentDefinition, Kube-OVN Subnet and Pod dicts.

Pure functions, identical for every backend: the NAD JSON a cluster gets is exactly what the netns
backend feeds to the plugins, so both backends test the same configuration.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from macmatrix.spec import plugins, requests
from macmatrix.spec.cases import Case
from macmatrix.spec.netconf import OVN_MAC, annotation_key, implicit_provider
from macmatrix.spec.plugins import tuning

NETWORKS_ANNOTATION = requests.NETWORKS_ANNOTATION
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
OVN_MAC_ANNOTATION = OVN_MAC
KUBEOVN_SOCKET = "/run/openvswitch/kube-ovn-daemon.sock"
CASE_ID_ANNOTATION = "macmatrix.io/case-id"
MANAGED_BY = {"app.kubernetes.io/managed-by": "macmatrix"}
CONTAINER = "sleep"  # the one container of every pod (exec goes there)


def _digest(case: Case) -> str:
    return hashlib.sha256(case.id.encode()).hexdigest()


def nad_name(case: Case) -> str:
    """A DNS-1123 name (the id has slashes); short so `<nad>.<ns>.kubernetes.io/...` stays valid."""
    return "mm-" + _digest(case)[:10]


def pod_name(case: Case, replica: int) -> str:
    return f"{nad_name(case)}-{replica}"


def provider(case: Case, namespace: str) -> str:
    """Kube-OVN's provider for an IPAM-only attachment: `<nad>.<ns>`, no `.ovn` (UPSTREAM.md)."""
    return implicit_provider(nad_name(case), namespace)


def attachment_mac_annotation(case: Case, namespace: str) -> str:
    return annotation_key(provider(case, namespace))


def subnet_octets(case: Case) -> tuple[int, int]:
    """A /24 per case in 10.128.0.0/10, clear of kind's pods (10.16/16) and services (10.96/12)."""
    h = int(_digest(case)[:8], 16)
    return 128 + (h >> 8) % 64, h % 256


def cidr(case: Case) -> str:
    a, b = subnet_octets(case)
    return f"10.{a}.{b}.0/24"


def replica_ip(case: Case, replica: int) -> str:
    a, b = subnet_octets(case)
    return f"10.{a}.{b}.{10 + replica}/24"


def static_mac(case: Case) -> str:
    """The MAC a `tuning: static` NAD carries: every pod on the NAD gets this one."""
    return tuning.static_mac(case)


def _ipam(case: Case, namespace: str) -> dict[str, Any]:
    if case.ipam == "static":
        # Addresses come per pod from the networks element `ips` (Multus passes IP= in CNI_ARGS).
        return {"type": "static"}
    if case.ipam == "host-local":
        return {"type": "host-local", "ranges": [[{"subnet": cidr(case)}]]}
    return {
        "type": "kube-ovn",
        "server_socket": KUBEOVN_SOCKET,
        "provider": provider(case, namespace),
    }


def nad_config(case: Case, namespace: str) -> dict[str, Any]:
    """The NAD's spec.config as a dict. `name` is left out on purpose: Multus fills it in.

    Each plugin entry comes from its module in spec/plugins (the main plugin gets the IPAM)."""
    entries = [conf for _plugin, conf in plugins.chain(case, _ipam(case, namespace))]
    head: dict[str, Any] = {}
    if case.cni_version != "missing":
        head["cniVersion"] = case.cni_version
    if case.chain == "single":
        return {**head, **entries[0]}
    return {**head, "plugins": entries}


def nad(case: Case, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {
            "name": nad_name(case),
            "namespace": namespace,
            "labels": dict(MANAGED_BY),
            "annotations": {CASE_ID_ANNOTATION: case.id},
        },
        "spec": {"config": json.dumps(nad_config(case, namespace), indent=2)},
    }


def subnet(case: Case, namespace: str) -> dict[str, Any] | None:
    """The Kube-OVN Subnet that kube-ovn IPAM allocates from, or None for other IPAMs."""
    if case.ipam != "kube-ovn":
        return None
    a, b = subnet_octets(case)
    return {
        "apiVersion": "kubeovn.io/v1",
        "kind": "Subnet",
        "metadata": {"name": f"{nad_name(case)}-{namespace}"[:63], "labels": dict(MANAGED_BY)},
        "spec": {
            "protocol": "IPv4",
            "provider": provider(case, namespace),
            "cidrBlock": cidr(case),
            "gateway": f"10.{a}.{b}.1",
            "excludeIps": [f"10.{a}.{b}.1"],
        },
    }


def networks_element(case: Case, namespace: str, replica: int) -> dict[str, Any]:
    """The pod's networks-annotation element; no `interface`, so Multus names it net1."""
    element: dict[str, Any] = {"name": nad_name(case), "namespace": namespace}
    mac = case.requested_mac(replica)
    for route in requests.routes(case.request):
        element.update(route.element_fields(mac))
    if case.ipam == "static":
        element["ips"] = [replica_ip(case, replica)]
    return element


def pod_annotations(case: Case, namespace: str, replica: int) -> dict[str, str]:
    ann = {
        CASE_ID_ANNOTATION: case.id,
        NETWORKS_ANNOTATION: json.dumps([networks_element(case, namespace, replica)]),
    }
    for route in requests.routes(case.request):
        key = route.annotation_key(provider(case, namespace))
        if key:
            ann[key] = case.requested_mac(replica) or ""
    primary = case.requested_primary_mac(replica)
    if primary:
        ann[OVN_MAC_ANNOTATION] = primary  # the primary route of spec/requests.py
    return ann


def pod(case: Case, namespace: str, replica: int, image: str) -> dict[str, Any]:
    """A case's replica: a sleeping pod on the case's NAD, pinned beside its other replicas."""
    return sleeping_pod(
        pod_name(case, replica),
        namespace,
        {**MANAGED_BY, "macmatrix.io/nad": nad_name(case)},
        pod_annotations(case, namespace, replica),
        image,
        _same_node(case),
    )


def sleeping_pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    image: str,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An unprivileged pod that only sleeps: the harness reads its interfaces through exec.

    `spec` (e.g. affinity) comes first in the pod's spec. Also the repro pod (kube/single.py).
    """
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            **(spec or {}),
            "terminationGracePeriodSeconds": 0,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": CONTAINER,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "infinity"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _same_node(case: Case) -> dict[str, Any]:
    """Replicas of a case share a node, so they share the macvlan lower device as on netns.

    Without this, a two-node kind cluster could place them apart and a duplicate MAC would be
    refused on one run (EADDRINUSE on one master) and accepted on the next.
    """
    if case.n_replicas < 2:
        return {}
    term = {
        "labelSelector": {"matchLabels": {"macmatrix.io/nad": nad_name(case)}},
        "topologyKey": "kubernetes.io/hostname",
    }
    return {"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}


def pods(case: Case, namespace: str, image: str) -> list[dict[str, Any]]:
    return [pod(case, namespace, r, image) for r in range(case.n_replicas)]
