"""bridge: net1 is one end of a veth pair whose other end joins a Linux bridge on the node.

The plugin makes the bridge itself (`"bridge": BRIDGE`, created on first ADD in the namespace
the plugin runs in: the node's, never the pod's; plugins/main/bridge/bridge.go ensureBridge),
so the node needs no master. DEL removes the veth, never the bridge: on netns the bridge goes
with the run's node namespace; on kind it stays on each node until the cluster goes.

MAC (containernetworking/plugins plugins/main/bridge/bridge.go, loadNetConf, read at v1.0.0,
v1.1.1, v1.6.2, v1.9.0, v1.9.1): CNI_ARGS `MAC` < args.cni `mac` < runtimeConfig `mac`, all
three since v1.0.0 (PR #636, commit a3cde17f; absent at v0.9.1). The MAC goes on the container
end at creation (pkg/ip/link_linux.go makeVethPair, `veth.LinkAttrs.HardwareAddr`) and the
result re-reads the kernel's (lower case). Its `mac` field is unexported (`mac string`), so a
`mac` in the NAD does nothing. Two pods with one MAC each get it: they sit behind different
veths, nothing refuses the duplicate (ran: Debian's v1.1.1, v1.6.2, v1.9.0, v1.9.1).

kind: neither kind's node image (images/base/Dockerfile @ v0.32.0 copies host-local, loopback,
ptp, portmap) nor Kube-OVN (dist/images/Dockerfile.base @ v1.13.15..v1.16.2: loopback, portmap,
macvlan[, ipvlan]) ships it, so the harness copies it from the stack's plugins release into every
node (backends/kind/stack/inventory.py derives that from the matrix's NADs).
"""

from __future__ import annotations

from typing import Any

from macmatrix.spec.plugins.base import (
    ARGS_CNI,
    CNI_ARGS,
    MAIN,
    RUNTIME_CONFIG,
    CaseLike,
    MacRoute,
    Plugin,
)

SOURCE = "containernetworking/plugins plugins/main/bridge/bridge.go"
BRIDGE = "mm-br0"  # one bridge for every case, like one macvlan master: pods of a node share it
_SINCE = "v1.0.0"
_READ = f"{SOURCE} loadNetConf @ v1.0.0, v1.1.1, v1.6.2, v1.9.0, v1.9.1 (PR #636)"


def entry(case: CaseLike, ipam: dict[str, Any] | None) -> dict[str, Any]:
    conf: dict[str, Any] = {"type": "bridge", "bridge": BRIDGE}
    if case.macvlan_capmac == "on":
        conf["capabilities"] = {"mac": True}
    if ipam is not None:
        conf["ipam"] = ipam
    return conf


PLUGIN = Plugin(
    name="bridge",
    kind=MAIN,
    source=SOURCE,
    entry=entry,
    routes=(
        MacRoute(CNI_ARGS, _SINCE, _READ),
        MacRoute(ARGS_CNI, _SINCE, _READ),
        MacRoute(RUNTIME_CONFIG, _SINCE, _READ),
    ),
    creates=f"the Linux bridge {BRIDGE} in the node's namespace",
)
