"""Where plugins keep state on the host, and how a run keeps it in its own temp folder.

Plugins run as root, so a pasted `"dataDir": "/any/path"` would make them write (and leave)
files anywhere. containernetworking/plugins has two such fields (read at v1.1.1 and v1.9.1,
`git grep 'json:"dataDir'` over plugins/): host-local's `ipam.dataDir` (plugins/ipam/host-local/
backend/allocator/config.go, default /var/lib/cni/networks) and tuning's `dataDir`
(plugins/meta/tuning/tuning.go, default /run/cni/tuning, where it saves the MAC to restore on
DEL). The netns backend points both into the run's temp folder whatever the config says, and
reports which values it overrode. Neither changes how a MAC is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from macmatrix.spec.netconf import plugins_of

NOTE = "host-local ipam.dataDir and tuning dataDir point into the run's temp folder"


def _fields(plugin: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(the dict holding the field, field name as written in reports, sub-folder)."""
    out = []
    ipam = plugin.get("ipam")
    if isinstance(ipam, dict) and ipam.get("type") == "host-local":
        out.append((ipam, "ipam.dataDir", "host-local"))
    if plugin.get("type") == "tuning":
        out.append((plugin, "dataDir", "tuning"))
    return out


def written(conf: dict[str, Any]) -> list[dict[str, str]]:
    """State paths the config sets itself (what a run will override): {plugin, field, written}."""
    return [
        {"plugin": str(p.get("type")), "field": field, "written": str(holder["dataDir"])}
        for p in plugins_of(conf)
        for holder, field, _ in _fields(p)
        if holder.get("dataDir")
    ]


def confine(conf: dict[str, Any], tmpdir: Path) -> list[dict[str, str]]:
    """Point every state path of `conf` (changed in place) into `tmpdir`; return the overrides
    of values the config had set, as {plugin, field, written, used}."""
    overridden = []
    for p in plugins_of(conf):
        for holder, field, sub in _fields(p):
            used = str(tmpdir / sub)
            given = holder.get("dataDir")
            if given and str(given) != used:
                overridden.append(
                    {
                        "plugin": str(p.get("type")),
                        "field": field,
                        "written": str(given),
                        "used": used,
                    }
                )
            holder["dataDir"] = used
    return overridden
