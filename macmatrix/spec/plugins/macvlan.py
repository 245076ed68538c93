"""macvlan: net1 is a macvlan link on a master in the node's namespace.

MAC (containernetworking/plugins plugins/main/macvlan/macvlan.go, v0.8.7+, PR #480; ran with
Debian's v1.1.1): config `mac` < CNI_ARGS `MAC` < runtimeConfig `mac`, set at link creation; it
never reads args.cni. `linkInContainer` (master inside the pod) came in v1.3.0. The kernel
refuses a second macvlan with a MAC already on the same lower device (Linux drivers/net/
macvlan.c, macvlan_addr_busy -> EADDRINUSE).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from macmatrix.spec.plugins.base import (
    CNI_ARGS,
    CONFIG,
    MAIN,
    RUNTIME_CONFIG,
    CaseLike,
    MacRoute,
    Plugin,
)

SOURCE = "containernetworking/plugins plugins/main/macvlan/macvlan.go"
DEFAULT_MASTER = "eth1"  # the harness' second node NIC (kind: a second Docker network)


def entry(case: CaseLike, ipam: dict[str, Any] | None) -> dict[str, Any]:
    conf: dict[str, Any] = {"type": "macvlan", "mode": "bridge"}
    if case.master == "eth0-in-pod":
        conf.update(master="eth0", linkInContainer=True)
    else:
        conf["master"] = case.master
    if case.macvlan_capmac == "on":
        conf["capabilities"] = {"mac": True}
    if ipam is not None:
        conf["ipam"] = ipam
    return conf


def node_links(conf: Mapping[str, Any]) -> list[str]:
    """The master on the node; none for linkInContainer (its master is in the pod)."""
    if conf.get("linkInContainer"):
        return []
    return [str(conf.get("master", DEFAULT_MASTER))]


def requires(case: CaseLike) -> tuple[str, str] | None:
    if case.master == "eth0-in-pod":
        return "v1.3.0", "linkInContainer"
    return None


PLUGIN = Plugin(
    name="macvlan",
    kind=MAIN,
    source=SOURCE,
    entry=entry,
    routes=(
        MacRoute(CONFIG, "v0.8.7", f"{SOURCE} @ v0.8.7 (PR #480)"),
        MacRoute(CNI_ARGS, "v0.8.7", f"{SOURCE} @ v0.8.7 (PR #480)"),
        MacRoute(RUNTIME_CONFIG, "v0.8.7", f"{SOURCE} @ v0.8.7 (PR #480)"),
    ),
    node_links=node_links,
    takes_master=True,
    masters=(DEFAULT_MASTER, "eth0-in-pod"),
    requires=requires,
    duplicate_mac_fails=True,
)
