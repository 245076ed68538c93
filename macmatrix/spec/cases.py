"""Matrix axes -> cases: frozen values with stable ids that `pytest -k` can select.

A matrix file holds `defaults` (one value per axis) and `sets`: each set varies a few axes over
their listed values while the others keep their defaults. Sets keep the matrix at tens of cases
instead of the thousands a full product would give; duplicates across sets collapse by id.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from macmatrix import limits, macs
from macmatrix.errors import BadInput
from macmatrix.spec import plugins, requests
from macmatrix.spec.plugins import tuning

# Axis -> allowed values, in display order. Values are strings so YAML's on/no booleans and
# ids read the same everywhere.
AXES: dict[str, tuple[str, ...]] = {
    # single macvlan conf, or a conflist (with tuning unless tuning == none)
    "chain": ("single", "conflist"),
    # "capabilities": {"mac": true} on the main plugin's own config (the name is from the days
    # when macvlan was the only main plugin; ids and results keep it)
    "macvlan_capmac": ("on", "off"),
    # tuning in the conflist: with capabilities.mac, with a static "mac", with no MAC setting
    "tuning": tuning.VARIANTS,
    # how the pod asks for the net1 MAC: routes of spec/requests.py
    "request": requests.REQUESTS,
    "ipam": ("static", "host-local", "kube-ovn"),
    "cni_version": ("0.3.1", "0.4.0", "1.0.0", "1.1.0", "missing"),
    "replicas": ("1", "2"),
    # ovn.kubernetes.io/mac_address on the pod (Kube-OVN primary interface)
    "primary_mac": ("no", "yes"),
    # macvlan master: a second node NIC, or Kube-OVN e2e's eth0 with linkInContainer
    "master": tuple(
        dict.fromkeys(m for n in plugins.main_plugins() for m in plugins.get_masters(n))
    ),
    # the main plugin, which makes net1: a module of spec/plugins/ (macvlan, bridge, ...)
    "plugin": plugins.main_plugins(),
}

DEFAULTS: dict[str, str] = {
    "chain": "single",
    "macvlan_capmac": "on",
    "tuning": "none",
    "request": "networks",
    "ipam": "static",
    "cni_version": "1.0.0",
    "replicas": "1",
    "primary_mac": "no",
    "master": "eth1",
    "plugin": "macvlan",
}

_BOOL_WORDS = {
    "macvlan_capmac": {True: "on", False: "off"},
    "primary_mac": {True: "yes", False: "no"},
}


@dataclass(frozen=True, order=True)
class Case:
    """One point of the matrix."""

    chain: str
    macvlan_capmac: str
    tuning: str
    request: str
    ipam: str
    cni_version: str
    replicas: str
    primary_mac: str
    master: str
    # Last and defaulted, so axes recorded before the plugin axis existed still make a Case.
    plugin: str = "macvlan"
    # Optional leading octets of every requested MAC (the rest is derived from the id, so
    # concurrent cases never collide); not an axis, so not in the id.
    mac_prefix: str = field(default="", compare=False)
    # The matrix asked (`substitute_ipam: [kube-ovn]`) to run this case's IPAM as static on the
    # netns backend (build/ipam_substitute.py); ignored on kind. Not an axis, not in the id.
    substitute_ipam: bool = field(default=False, compare=False)

    @property
    def id(self) -> str:
        """Readable, stable id, e.g. `macvlan+capmac/tuning-capmac/ipam-static/req-networks/...`."""
        plugin = f"{self.plugin}+capmac" if self.macvlan_capmac == "on" else self.plugin
        if self.chain == "single":
            chain = "single"
        else:
            chain = "list" if self.tuning == "none" else f"tuning-{self.tuning}"
        parts = [
            plugin,
            chain,
            f"ipam-{self.ipam}",
            f"req-{self.request}",
            f"cni-{self.cni_version}",
            f"x{self.replicas}",
            "eth0-mac" if self.primary_mac == "yes" else "eth0-auto",
        ]
        if self.master != DEFAULTS["master"]:
            parts.append(f"master-{self.master}")
        return "/".join(parts)

    @property
    def axes(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in AXES}

    @property
    def n_replicas(self) -> int:
        return int(self.replicas)

    @property
    def has_tuning(self) -> bool:
        return self.chain == "conflist" and self.tuning != "none"

    @property
    def asks_element_mac(self) -> bool:
        return requests.uses(self.request, "networks")

    @property
    def asks_annotation_mac(self) -> bool:
        return requests.uses(self.request, "annotation")

    @property
    def asks_secondary_mac(self) -> bool:
        return bool(requests.routes(self.request))

    def requested_mac(self, replica: int) -> str | None:
        """The MAC replica `replica` asks for on net1 (same value on every route it uses)."""
        if not self.asks_secondary_mac:
            return None
        return macs.derive(f"{self.id}#{replica}#net1", self.mac_prefix or "02")

    def requested_primary_mac(self, replica: int) -> str | None:
        if self.primary_mac != "yes":
            return None
        return macs.derive(f"{self.id}#{replica}#eth0", self.mac_prefix or "02")

    def needs_kubeovn(self) -> str | None:
        """Why this case needs a Kube-OVN cluster, or None when plugins alone can run it."""
        if self.ipam == "kube-ovn":
            return "kube-ovn IPAM needs the kube-ovn daemon and its Subnet CRs"
        if self.primary_mac == "yes":
            return "the primary MAC (ovn.kubernetes.io/mac_address) is set by Kube-OVN on eth0"
        if self.master == "eth0-in-pod":
            return "master eth0 with linkInContainer needs Kube-OVN's eth0 inside the pod"
        return None

    def netns_unsupported(self) -> str | None:
        """Why the netns backend cannot run this case, or None: needs_kubeovn(), except a
        kube-ovn IPAM the matrix asked to substitute, and except the pod's eth0 for
        linkInContainer, which the netns backend makes itself (a veth, as a primary CNI would)."""
        case = self
        if case.ipam == "kube-ovn" and case.substitute_ipam:
            case = replace(case, ipam="static")
        if case.master == "eth0-in-pod":
            case = replace(case, master="eth1")
        return case.needs_kubeovn()

    def multus_unsupported(self) -> str | None:
        """Why the real-Multus tier (backends/multus) cannot run this case, or None.

        Its cluster network is a bridge the harness plays, so `linkInContainer` has an eth0 to
        use; the pod's eth0 MAC and Kube-OVN IPAM need Kube-OVN. A kube-ovn IPAM the matrix asks
        to substitute runs as static with the address in the NAD, which replicas share.
        """
        if self.primary_mac == "yes":
            return (
                "Kube-OVN owns eth0: its CNI sets the primary MAC from ovn.kubernetes.io/"
                "mac_address; this tier's cluster network is a bridge (use --backend kind)"
            )
        if self.ipam == "kube-ovn" and not self.substitute_ipam:
            return (
                f"{self.needs_kubeovn()}; use --backend kind, or substitute_ipam: [kube-ovn] in "
                "the matrix"
            )
        if self.ipam == "kube-ovn" and self.n_replicas > 1:
            return (
                "a substituted IPAM puts one pod's address into the NAD, which all replicas "
                "share here (the netns tier substitutes per pod)"
            )
        return None


# IPAM axis values the netns backend may run as static when the matrix asks (issue 15).
SUBSTITUTABLE_IPAM = ("kube-ovn",)


def _canon(axis: str, value: Any, where: str) -> str:
    if axis not in AXES:
        known = ", ".join(AXES)
        raise BadInput(f"{where}: unknown axis {axis!r}; known axes: {known}")
    if isinstance(value, bool) and axis in _BOOL_WORDS:
        value = _BOOL_WORDS[axis][value]
    text = str(value)
    if text not in AXES[axis]:
        allowed = ", ".join(AXES[axis])
        raise BadInput(f"{where}: {axis}={text!r} is not a known value; use one of: {allowed}")
    return text


def _valid(axes: Mapping[str, str]) -> bool:
    """Built-in constraints: combinations that cannot be expressed at all."""
    # A single conf has exactly one plugin, so there is no tuning variant to choose.
    if axes["chain"] == "single" and axes["tuning"] != "none":
        return False
    # Only plugins that take a master can vary it (spec/plugins: Plugin.masters).
    return axes.get("master", DEFAULTS["master"]) in plugins.get_masters(
        axes.get("plugin", DEFAULTS["plugin"])
    )


def _matches(axes: Mapping[str, str], rule: Mapping[str, list[str]]) -> bool:
    return all(axes[a] in vals for a, vals in rule.items())


def expand(spec: Mapping[str, Any], where: str = "matrix") -> list[Case]:
    """Expand a parsed matrix document into sorted, de-duplicated cases."""
    if not isinstance(spec, Mapping):
        raise BadInput(f"{where}: the top level must be a mapping with `defaults` and `sets`")
    keys = {"defaults", "sets", "exclude", "description", "mac_prefix", "substitute_ipam"}
    unknown = set(spec) - keys
    if unknown:
        raise BadInput(
            f"{where}: unknown key(s) {sorted(unknown)}; "
            "use defaults, sets, exclude, mac_prefix, substitute_ipam, description"
        )
    substitute = _as_list(spec.get("substitute_ipam") or [])
    for value in substitute:
        if value not in SUBSTITUTABLE_IPAM:
            raise BadInput(
                f"{where}: substitute_ipam: {value!r} cannot be substituted; use a list of "
                f"{', '.join(SUBSTITUTABLE_IPAM)}"
            )
    mac_prefix = ""
    if spec.get("mac_prefix") is not None:
        mac_prefix = macs.validate_prefix(spec["mac_prefix"], f"{where}: mac_prefix")
    defaults = dict(DEFAULTS)
    for axis, value in (spec.get("defaults") or {}).items():
        defaults[axis] = _canon(axis, value, f"{where}: defaults.{axis}")
    sets = spec.get("sets")
    if not isinstance(sets, Mapping) or not sets:
        raise BadInput(f"{where}: `sets` must map set names to {{axis: [values]}}; none found")
    excludes: list[dict[str, list[str]]] = []
    for i, rule in enumerate(spec.get("exclude") or []):
        if not isinstance(rule, Mapping):
            raise BadInput(f"{where}: exclude[{i}] must be a mapping axis: value(s)")
        excludes.append(
            {
                a: [_canon(a, v, f"{where}: exclude[{i}].{a}") for v in _as_list(vals)]
                for a, vals in rule.items()
            }
        )
    out: dict[str, Case] = {}
    for name, vary in sets.items():
        if not isinstance(vary, Mapping) or not vary:
            raise BadInput(f"{where}: sets.{name} must map axes to lists of values")
        axes_names = list(vary)
        value_lists = [
            [_canon(a, v, f"{where}: sets.{name}.{a}") for v in _as_list(vary[a])]
            for a in axes_names
        ]
        for combo in itertools.product(*value_lists):
            axes = dict(defaults)
            axes.update(zip(axes_names, combo, strict=True))
            if not _valid(axes) or any(_matches(axes, r) for r in excludes):
                continue
            case = Case(**axes, mac_prefix=mac_prefix, substitute_ipam=axes["ipam"] in substitute)
            out[case.id] = case
    if not out:
        raise BadInput(f"{where}: every combination is excluded; the matrix has no case")
    return sorted(out.values(), key=lambda c: c.id)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def load(path: str | Path) -> list[Case]:
    """Read and expand a matrix YAML file; any problem is one BadInput line."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise BadInput(f"--matrix: cannot read {p}: {e.strerror}; pass an existing file") from e
    try:
        spec = limits.yaml_load(text, str(p))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"{p}: not valid YAML{at}; fix the syntax") from e
    return expand(spec, where=str(p))


def default_matrix_path() -> Path:
    """e2e/matrix.yaml of the checkout, or the copy packaged in the wheel (macmatrix/data)."""
    from macmatrix import data

    return data.matrix()


def select(cases: Iterable[Case], keyword: str | None) -> list[Case]:
    """Filter like `pytest -k` (substring terms with and/or/not) on the case id."""
    cases = list(cases)
    if not keyword:
        return cases
    from macmatrix.spec.selection import compile_keyword

    matches = compile_keyword(keyword)
    return [c for c in cases if matches(c.id)]


AXIS_NAMES = tuple(f.name for f in fields(Case) if f.name in AXES)
