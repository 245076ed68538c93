"""The catalogue of remedies `repro` tries when a report does not work (issue 11).

One entry a remedy: an id, what it changes, the upstream source that says why it can help, and a
`propose` function that turns a resolved request into candidate edits of the user's own
documents. Nothing here runs anything: workflows/fixsearch.py runs every candidate on the same
backend and keeps only those that work.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from macmatrix import macs
from macmatrix.spec import plugins as plugin_registry
from macmatrix.spec.netconf import OVN_MAC, annotation_key, plugin_fields, plugins_of, provider_of
from macmatrix.spec.plugins.base import CONFIG, RUNTIME_CONFIG
from macmatrix.spec.userinput import Binding, Request
from macmatrix.versions import at_least
from macmatrix.workflows.lint import IFNAMSIZ, SPEC_MIN_PLUGINS, SRC
from macmatrix.workflows.networks_lint import near_miss


@dataclass(frozen=True)
class Edit:
    """One change to the user's documents. `target` says where:

    - ("element", i, key): networks element i (0-based) gets `value` at key (None: key removed)
    - ("nad", network): that NAD's spec.config becomes `value` (a dict)
    - ("annotation", key): the pod annotation gets `value` (None: removed)
    """

    target: tuple[Any, ...]
    value: Any
    what: str  # for people: "networks[0].mac: 02:..."

    @property
    def size(self) -> int:
        """How many fields the edit touches (a whole config counts its changed keys)."""
        if self.target[0] == "nad":
            return max(int(self.target[2]), 1)
        return 1


@dataclass(frozen=True)
class Candidate:
    """One or more edits proposed by remedies, tried as one change."""

    remedies: tuple[str, ...]
    edits: tuple[Edit, ...]
    changes_mac: bool = False  # the remedy changes the requested MAC on purpose

    @property
    def size(self) -> int:
        return sum(e.size for e in self.edits)

    @property
    def what(self) -> str:
        return "; ".join(e.what for e in self.edits)

    @property
    def key(self) -> str:
        return "+".join(self.remedies) + ": " + self.what


@dataclass(frozen=True)
class Remedy:
    id: str
    title: str
    source: str
    # (resolved request, CNI plugins version or None) -> candidates; runs nothing
    propose: Callable[[Request, str | None], list[Candidate]] = field(repr=False)


# --------------------------------------------------------------------------- helpers


def _nad_edit(b: Binding, config: dict[str, Any], what: str) -> Edit:
    return Edit(("nad", b.network, leaf_changes(b.nad.config, config)), config, what)


def leaf_changes(old: Any, new: Any) -> int:
    """How many JSON leaves differ between two configs (added, removed or changed)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return sum(leaf_changes(old.get(k), new.get(k)) for k in set(old) | set(new))
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return sum(leaf_changes(a, b) for a, b in zip(old, new, strict=True))
    if old == new:
        return 0
    return max(_leaves(old), _leaves(new), 1)


def _leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(_leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(_leaves(v) for v in value)
    return 0 if value is None else 1


def _one(remedy: str, *edits: Edit, changes_mac: bool = False) -> Candidate:
    return Candidate((remedy,), tuple(edits), changes_mac)


def _has_capmac(plugin: dict[str, Any]) -> bool:
    caps = plugin.get("capabilities")
    return isinstance(caps, dict) and caps.get("mac") is True


# --------------------------------------------------------------------------- remedies


def _move_annotation(request: Request, plugins: str | None) -> list[Candidate]:
    """`<provider>.kubernetes.io/mac_address` -> the element's `mac` (kube-ovn#4834)."""
    out = []
    for i, b in enumerate(request.bindings):
        key = annotation_key(provider_of(b.nad.config, b.network))
        value = request.annotations.get(key)
        if value and not b.element.get("mac"):
            out.append(
                _one(
                    "move-annotation-mac",
                    Edit(("element", i, "mac"), value, f"networks[{i}].mac: {value} (from {key})"),
                )
            )
    return out


def _move_ovn_mac(request: Request, plugins: str | None) -> list[Candidate]:
    """`ovn.kubernetes.io/mac_address` -> the element's `mac`, the annotation removed.

    That annotation sets the primary interface (eth0) only; a report that puts net1's MAC there
    gets a random net1. Moving it asks for the MAC where it lands on net1, and eth0 goes back to
    a MAC Kube-OVN allocates, so the candidate changes what is requested (changes_mac)."""
    value = request.annotations.get(OVN_MAC)
    if not value:
        return []
    return [
        _one(
            "move-ovn-mac",
            Edit(("element", i, "mac"), value, f"networks[{i}].mac: {value} (from {OVN_MAC})"),
            Edit(("annotation", OVN_MAC), None, f"{OVN_MAC} removed (it sets eth0 only)"),
            changes_mac=True,
        )
        for i, b in enumerate(request.bindings)
        if not b.element.get("mac")
    ]


def _reads(plugin: dict[str, Any], channel: str) -> bool:
    """The plugin's module (spec/plugins) says it takes a MAC from `channel` (macvlan and tuning:
    runtimeConfig.mac and a static `mac`; bridge: runtimeConfig.mac only)."""
    registered = plugin_registry.get(str(plugin.get("type", "")))
    return registered is not None and registered.route(channel) is not None


def _add_capmac(request: Request, plugins: str | None) -> list[Candidate]:
    """`capabilities: {mac: true}` on a plugin that reads runtimeConfig.mac but lacks it."""
    out = []
    for b in request.bindings:
        if not (b.element.get("mac")):
            continue
        for path, plugin in plugin_fields(b.nad.config):
            if not _reads(plugin, RUNTIME_CONFIG) or _has_capmac(plugin):
                continue
            config = copy.deepcopy(b.nad.config)
            target = dict(plugin_fields(config))[path]
            caps = target.get("capabilities")
            target["capabilities"] = {**(caps if isinstance(caps, dict) else {}), "mac": True}
            out.append(
                _one(
                    "add-capmac",
                    _nad_edit(b, config, f"{b.network} {path}.capabilities.mac: true"),
                )
            )
    return out


def _add_tuning(request: Request, plugins: str | None) -> list[Candidate]:
    """Append `{"type": "tuning", "capabilities": {"mac": true}}` (a single conf becomes a list)."""
    out = []
    tuning = {"type": "tuning", "capabilities": {"mac": True}}
    for b in request.bindings:
        if any(p.get("type") == "tuning" for p in plugins_of(b.nad.config)):
            continue
        config = copy.deepcopy(b.nad.config)
        if "type" in config:  # single conf -> conflist, list-level name/cniVersion kept
            head: dict[str, Any] = {k: config.pop(k) for k in ("cniVersion", "name") if k in config}
            config = {**head, "plugins": [config, dict(tuning)]}
        else:
            config["plugins"] = [*config.get("plugins", []), dict(tuning)]
        out.append(_one("add-tuning", _nad_edit(b, config, f"{b.network}: add tuning (mac)")))
    return out


def _fix_cni_version(request: Request, plugins: str | None) -> list[Candidate]:
    """Add a missing cniVersion, or replace one the plugins do not support (or 0.1.0/0.2.0, whose
    results carry no MAC) by the highest they support."""
    usable = [
        v for v, first in SPEC_MIN_PLUGINS.items() if plugins is None or at_least(plugins, first)
    ]
    best = max(usable, key=lambda v: tuple(int(x) for x in v.split(".")))
    out = []
    for b in request.bindings:
        have = b.nad.config.get("cniVersion")
        if have in usable and have not in ("0.1.0", "0.2.0"):
            continue
        config = copy.deepcopy(b.nad.config)
        config["cniVersion"] = best
        what = f"{b.network} spec.config.cniVersion: {have or '(missing)'} -> {best}"
        out.append(_one("cni-version", _nad_edit(b, config, what)))
    return out


def nearest_unicast(text: str) -> str | None:
    """The nearest valid locally administered unicast MAC for what the user wrote, or None.

    Multicast (first octet odd): clear bit 0 and set bit 1. Otherwise: the 12 hex digits in the
    text, if there are exactly 12, in colon form (same treatment for the first octet)."""
    digits = re.sub(r"[^0-9a-fA-F]", "", text)
    if len(digits) != 12:
        return None
    octets = [digits[i : i + 2].lower() for i in range(0, 12, 2)]
    first = (int(octets[0], 16) & ~1) | 2
    return ":".join([f"{first:02x}", *octets[1:]])


def _fix_invalid_mac(request: Request, plugins: str | None) -> list[Candidate]:
    """A multicast or unparseable requested MAC -> the nearest locally administered unicast."""
    out = []
    for i, b in enumerate(request.bindings):
        for key in ("mac",):
            value = b.element.get(key)
            if not value:
                continue
            text = str(value)
            norm = macs.normalise(text) or ""
            bad = not macs.go_parse_mac(text) or (len(norm) == 17 and int(norm[:2], 16) & 1 == 1)
            fixed = nearest_unicast(text) if bad else None
            if fixed and fixed != norm:
                out.append(
                    _one(
                        "valid-unicast-mac",
                        Edit(("element", i, key), fixed, f"networks[{i}].mac: {text} -> {fixed}"),
                        changes_mac=True,
                    )
                )
    return out


def _drop_static_mac(request: Request, plugins: str | None) -> list[Candidate]:
    """Remove a static `mac` from the NAD's plugins (every pod on the NAD would share it)."""
    out = []
    for b in request.bindings:
        config = copy.deepcopy(b.nad.config)
        dropped = []
        for path, plugin in plugin_fields(config):
            if _reads(plugin, CONFIG) and "mac" in plugin:
                del plugin["mac"]
                dropped.append(path + ".mac")
        if dropped:
            what = f"{b.network}: remove {', '.join(dropped)}"
            out.append(_one("drop-static-mac", _nad_edit(b, config, what)))
    return out


def _rename_key(request: Request, plugins: str | None) -> list[Candidate]:
    """An unknown networks-element key that is a near miss of a real one -> renamed."""
    out = []
    for i, b in enumerate(request.bindings):
        for key, value in b.element.items():
            right = near_miss(key)
            if right and right not in b.element:
                out.append(
                    _one(
                        "rename-element-key",
                        Edit(("element", i, key), None, f"networks[{i}]: drop {key!r}"),
                        Edit(("element", i, right), value, f"networks[{i}].{right}: {value}"),
                        changes_mac=right == "mac",
                    )
                )
    return out


def _shorten_interface(request: Request, plugins: str | None) -> list[Candidate]:
    """An `interface` over 15 characters -> its first 15 (Linux IFNAMSIZ)."""
    out = []
    for i, b in enumerate(request.bindings):
        name = b.element.get("interface")
        if isinstance(name, str) and len(name) > IFNAMSIZ - 1:
            short = name[: IFNAMSIZ - 1]
            edit = Edit(("element", i, "interface"), short, f"networks[{i}].interface: {short}")
            out.append(_one("shorten-interface", edit))
    return out


CATALOGUE: tuple[Remedy, ...] = (
    Remedy(
        "move-annotation-mac",
        "move the <provider>.kubernetes.io/mac_address value into the networks element's mac",
        SRC["4834"],
        _move_annotation,
    ),
    Remedy(
        "move-ovn-mac",
        "move an ovn.kubernetes.io/mac_address value (eth0's) into the networks element's mac",
        "kubeovn/kube-ovn docs (static IP/MAC: ovn.kubernetes.io/* annotations set the primary "
        "interface); " + SRC["4834"],
        _move_ovn_mac,
    ),
    Remedy(
        "add-capmac",
        'add "capabilities": {"mac": true} to the plugin that should get runtimeConfig.mac',
        SRC["libcni"],
        _add_capmac,
    ),
    Remedy(
        "add-tuning",
        "add a tuning plugin with the mac capability (Multus examples/macvlan-pod.yml)",
        SRC["tuning"] + "; k8snetworkplumbingwg/multus-cni examples/macvlan-pod.yml",
        _add_tuning,
    ),
    Remedy(
        "cni-version",
        "add or lower cniVersion to the highest one the plugins support",
        SRC["cniversion"] + "; " + SRC["versions"],
        _fix_cni_version,
    ),
    Remedy(
        "valid-unicast-mac",
        "turn a multicast or invalid MAC into the nearest locally administered unicast one",
        SRC["multicast"] + "; " + SRC["parsemac"],
        _fix_invalid_mac,
    ),
    Remedy(
        "drop-static-mac",
        "drop a static mac from the NAD (every pod on it would share it)",
        SRC["macvlan"] + "; " + SRC["tuning"],
        _drop_static_mac,
    ),
    Remedy(
        "shorten-interface",
        "shorten an interface name to the 15 characters Linux allows",
        SRC["ifname"],
        _shorten_interface,
    ),
    Remedy(
        "rename-element-key",
        "rename an unknown networks-element key that is a near miss of one Multus parses",
        "k8snetworkplumbingwg/multus-cni pkg/types/types.go NetworkSelectionElement "
        "(v4.1.3-v4.2.4): unknown keys are dropped by json.Unmarshal",
        _rename_key,
    ),
)

BY_ID = {r.id: r for r in CATALOGUE}
