"""What a CNI plugin module declares: its NAD entry, the MAC routes it reads, its host needs.

One module per plugin sits beside this one and holds one `PLUGIN`; the registry (`__init__`)
finds them. Everything here is a pure function of a case's axes, so the matrix (spec), the NADs
(build), the backends (host setup, node inventory) and the model (judge) read one description.

The module lives in the spec layer because the matrix's `plugin` axis takes its values from
the registry: spec sits below build, and a plugin's NAD entry is plain data (no build code).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# The places a plugin can read a MAC from, as named in UPSTREAM.md. Multus turns a request into
# some of them (spec/requests.py says which); `config mac` is a static `mac` in the plugin's own
# NAD entry, the same for every pod.
RUNTIME_CONFIG = "runtimeConfig.mac"
CNI_ARGS = "CNI_ARGS MAC"
ARGS_CNI = "args.cni.mac"
CONFIG = "config mac"
CHANNELS = (CONFIG, CNI_ARGS, RUNTIME_CONFIG, ARGS_CNI)

MAIN = "main"  # creates the pod's interface (net1): the matrix's `plugin` axis
META = "meta"  # chained after a main plugin in a conflist (tuning)


class CaseLike(Protocol):
    """The axes of a case a plugin reads (spec.cases.Case; a Protocol so no import cycle)."""

    @property
    def id(self) -> str: ...
    @property
    def plugin(self) -> str: ...
    @property
    def chain(self) -> str: ...
    @property
    def macvlan_capmac(self) -> str: ...
    @property
    def tuning(self) -> str: ...
    @property
    def master(self) -> str: ...


@dataclass(frozen=True)
class MacRoute:
    """One channel a plugin takes a MAC from, the first release that reads it, and where that
    was read (containernetworking/plugins file at tag)."""

    channel: str
    since: str | None
    source: str


def _no_links(_entry: Mapping[str, Any]) -> list[str]:
    return []


def _no_requirement(_case: CaseLike) -> tuple[str, str] | None:
    return None


@dataclass(frozen=True)
class Plugin:
    """A CNI plugin as the harness knows it.

    - `entry(case, ipam)`: its plugin entry in the case's NAD, or None when the case has none
      (a meta plugin the case does not chain); `ipam` is given to main plugins.
    - `routes`: where it reads a MAC, lowest precedence first (the last one set wins).
    - `node_links(entry)`: links that must exist in the node's namespace before ADD (a macvlan
      master); `creates` names what the plugin itself makes there (bridge: the bridge).
    - `masters`: the `master` axis values a main plugin can express; `takes_master`: its
      config names a parent link in `master` (checked as an interface name in pastes).
    - `requires(case)`: (first plugins release, why) when the case needs a newer release.
    - `duplicate_mac_fails`: two pods of one NAD with one MAC: the sandbox fails (macvlan's
      lower device refuses a busy address) rather than both getting it.
    - `matrix`: whether its model rules are written, so matrix files may use it.
    """

    name: str
    kind: str
    source: str
    entry: Callable[[CaseLike, dict[str, Any] | None], dict[str, Any] | None]
    routes: tuple[MacRoute, ...] = ()
    node_links: Callable[[Mapping[str, Any]], list[str]] = _no_links
    creates: str = ""
    masters: tuple[str, ...] = ("eth1",)
    takes_master: bool = False
    requires: Callable[[CaseLike], tuple[str, str] | None] = _no_requirement
    duplicate_mac_fails: bool = False
    matrix: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def package(self) -> str:
        """Its Go package under containernetworking/plugins' plugins/ (`main/bridge`), read off
        `source`; the Go-built releases (backends/gobuild/cni_plugins.py) build these."""
        path = self.source.split()[1]  # "plugins/main/bridge/bridge.go"
        return "/".join(path.split("/")[1:3])

    def channels(self) -> tuple[str, ...]:
        return tuple(r.channel for r in self.routes)

    def route(self, channel: str) -> MacRoute | None:
        return next((r for r in self.routes if r.channel == channel), None)


def capmac(entry: Mapping[str, Any] | None) -> bool:
    """Whether a plugin entry declares `"capabilities": {"mac": true}` (libcni then hands it
    runtimeConfig.mac; a `capabilities` key at the list level does nothing)."""
    caps = (entry or {}).get("capabilities")
    return isinstance(caps, Mapping) and caps.get("mac") is True
