"""ipvlan: only its host need is described (a master on the node, like macvlan), so a pasted
NAD naming it runs on netns. It has no MAC of its own (ipvlan links share the master's, plugins/
main/ipvlan/ipvlan.go), and its model rules are not written: not a value of the `plugin` axis.
"""

from __future__ import annotations

from typing import Any

from macmatrix.spec.plugins.base import MAIN, CaseLike, Plugin
from macmatrix.spec.plugins.macvlan import node_links


def entry(case: CaseLike, ipam: dict[str, Any] | None) -> dict[str, Any]:
    conf: dict[str, Any] = {"type": "ipvlan", "master": case.master}
    if ipam is not None:
        conf["ipam"] = ipam
    return conf


PLUGIN = Plugin(
    name="ipvlan",
    kind=MAIN,
    source="containernetworking/plugins plugins/main/ipvlan/ipvlan.go",
    entry=entry,
    node_links=node_links,
    takes_master=True,
    matrix=False,
)
