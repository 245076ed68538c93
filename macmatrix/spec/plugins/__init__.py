"""The CNI plugin registry: plugin name -> Plugin, one module per plugin in this package.

Adding a main plugin is one module here with a `PLUGIN` (see base.Plugin and bridge.py) plus
matrix data: the registry finds it, the `plugin` axis accepts it, manifests build its NAD entry,
the netns and real-Multus backends prepare its node links, the kind inventory copies its
binary, lint reads its MAC routes and the model judges it by them. A meta plugin (tuning) also
needs its case axis in spec/cases.py and on CaseLike (README "Adding a CNI plugin").
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Any

from macmatrix.spec import netconf
from macmatrix.spec.plugins.base import MAIN, META, CaseLike, Plugin


@cache
def registry() -> dict[str, Plugin]:
    """Every plugin module of this package, by plugin name (module order: alphabetical)."""
    out: dict[str, Plugin] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name == "base":
            continue
        plugin = getattr(importlib.import_module(f"{__name__}.{info.name}"), "PLUGIN", None)
        if isinstance(plugin, Plugin):
            out[plugin.name] = plugin
    return out


def get(name: str) -> Plugin | None:
    return registry().get(name)


def main_plugins() -> tuple[str, ...]:
    """The `plugin` axis: main plugins with model rules, macvlan (the default) first."""
    names = [p.name for p in registry().values() if p.kind == MAIN and p.matrix]
    return tuple(sorted(names, key=lambda n: (n != "macvlan", n)))


def meta_plugins() -> tuple[Plugin, ...]:
    return tuple(p for p in registry().values() if p.kind == META)


def chain(case: CaseLike, ipam: dict[str, Any] | None) -> list[tuple[Plugin, dict[str, Any]]]:
    """The case's plugins in chain order with their NAD entries: the main plugin, then (in a
    conflist) every meta plugin the case's axes turn on."""
    main = registry()[case.plugin]
    main_entry = main.entry(case, ipam)
    out: list[tuple[Plugin, dict[str, Any]]] = [(main, main_entry or {})]
    if case.chain == "conflist":
        for meta in meta_plugins():
            conf = meta.entry(case, None)
            if conf is not None:
                out.append((meta, conf))
    return out


def node_links(config: Mapping[str, Any]) -> list[str]:
    """Links a NAD config needs in the node's namespace before ADD (masters), by its plugins."""
    out: list[str] = []
    for conf in netconf.plugins_of(config):
        plugin = get(str(conf.get("type", "")))
        if plugin is not None:
            out += [n for n in plugin.node_links(conf) if n not in out]
    return out


def get_masters(name: str) -> tuple[str, ...]:
    """The `master` axis values a main plugin can express (none for an unknown name)."""
    plugin = get(name)
    return plugin.masters if plugin else ()


__all__ = [
    "Plugin",
    "chain",
    "get",
    "get_masters",
    "main_plugins",
    "meta_plugins",
    "node_links",
    "registry",
]
