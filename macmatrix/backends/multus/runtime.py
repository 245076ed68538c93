"""The container runtime's side of a real Multus call, as pure functions (no I/O).

The harness plays containerd: it hands the thin `multus` plugin a pod's sandbox the way the CRI
plugin does, and reads back what Multus wrote. Sources:
- CNI_ARGS: containerd's CRI plugin `toCNILabels` (internal/cri/server/sandbox_run.go) passes
  K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID and IgnoreUnknown=1;
  Multus parses exactly these four K8S_ keys (multus-cni `pkg/types/types.go` K8sArgs, v4.2.4)
  and refuses a pod whose API UID differs from K8S_POD_UID (`pkg/multus/multus.go` GetPod).
- The multus config: `pkg/types/conf.go` (v4.2.4) — `kubeconfig`, `cniDir` (delegate cache,
  default /var/lib/cni/multus), `confDir` (default /etc/cni/multus/net.d), `binDir` (default
  /opt/cni/bin) and `delegates` (the cluster default network, first delegate, `eth0`). The
  harness points every path into its run's temp folder, so no host default is read or written.
- network-status: written by Multus through the API server as the pod annotation
  `k8s.v1.cni.cncf.io/network-status`, a JSON list with the default network's entry marked
  `"default": true` (network-attachment-definition-client `pkg/utils/net-attach-def.go`
  CreateNetworkStatus / SetNetworkStatus).
"""

from __future__ import annotations

import json
from typing import Any

from macmatrix.observe import parse_network_status
from macmatrix.spec.netconf import plugins_of
from macmatrix.spec.plugins import node_links

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
DEFAULT_NETWORK = "macmatrix-default"  # the harness' cluster network (a bridge, like kindnet)
DEFAULT_BRIDGE = "mmbr0"
DEFAULT_SUBNET = "10.244.0.0/16"  # kind's pod subnet; lives only inside the run's node netns


def cni_args(
    namespace: str, pod_name: str, container_id: str, pod_uid: str
) -> list[tuple[str, str]]:
    """CNI_ARGS pairs containerd gives a sandbox (toCNILabels), in a stable order."""
    return [
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", namespace),
        ("K8S_POD_NAME", pod_name),
        ("K8S_POD_INFRA_CONTAINER_ID", container_id),
        ("K8S_POD_UID", pod_uid),
    ]


def default_delegate(cni_version: str, host_local_dir: str) -> dict[str, Any]:
    """The cluster default network Multus delegates eth0 to: a bridge with host-local IPAM.

    Like kind's own kindnet (a ptp/bridge style veth to the node): it gives every pod an eth0
    in the node namespace's bridge, which `linkInContainer` masters can use as Kube-OVN's eth0
    is used in a cluster. Its MAC is never judged (Kube-OVN owns eth0 in the stacks).
    """
    return {
        "cniVersion": cni_version,
        "name": DEFAULT_NETWORK,
        "type": "bridge",
        "bridge": DEFAULT_BRIDGE,
        "ipam": {"type": "host-local", "subnet": DEFAULT_SUBNET, "dataDir": host_local_dir},
    }


def multus_conf(
    *,
    kubeconfig: str,
    cni_dir: str,
    conf_dir: str,
    bin_dir: str,
    host_local_dir: str,
    cni_version: str = "1.0.0",
) -> dict[str, Any]:
    """The thin plugin's network config (what /etc/cni/net.d/00-multus.conf holds on a node)."""
    return {
        "cniVersion": cni_version,
        "name": "multus-cni-network",
        "type": "multus",
        "kubeconfig": kubeconfig,
        "cniDir": cni_dir,
        "confDir": conf_dir,
        "binDir": bin_dir,
        "delegates": [default_delegate(cni_version, host_local_dir)],
    }


def pod_status(annotations: dict[str, str] | None) -> list[dict[str, Any]]:
    """Multus' network-status of a pod as the API server holds it ([] before Multus wrote it).

    Garbage is not silently empty: ValueError names the annotation (the caller reports it as an
    infrastructure error, since Multus itself wrote it).
    """
    raw = (annotations or {}).get(NETWORK_STATUS_ANNOTATION)
    try:
        return parse_network_status(raw)
    except ValueError as e:
        raise ValueError(f"{NETWORK_STATUS_ANNOTATION}: not a JSON list of objects ({e})") from e


def secondary(status: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries Multus wrote for the pod's attachments (not the cluster default network)."""
    return [s for s in status if not s.get("default")]


def networks_annotation(elements: list[dict[str, Any]]) -> str:
    """The pod's `k8s.v1.cni.cncf.io/networks` value for a list of networks elements."""
    return json.dumps(elements)


def node_masters(configs: list[dict[str, Any]]) -> list[str]:
    """Links the configs need in the node namespace before ADD (masters), as each plugin's
    module in spec/plugins says (`node_links`: macvlan and ipvlan their master unless
    `linkInContainer`; bridge none, it makes its bridge): the netns tier asks the same."""
    out: set[str] = set()
    for conf in configs:
        out.update(node_links(conf))
    return sorted(out)


def in_pod_masters(configs: list[dict[str, Any]]) -> list[str]:
    """`linkInContainer` masters other than eth0 (eth0 is the default network's interface)."""
    out: set[str] = set()
    for conf in configs:
        for p in plugins_of(conf):
            if p.get("linkInContainer") and p.get("master") and str(p["master"]) != "eth0":
                out.add(str(p["master"]))
    return sorted(out)
