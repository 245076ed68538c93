"""Which CNI plugin binaries a kind node of each stack has in /opt/cni/bin, and who put them there.

A NAD naming a plugin the node lacks fails with `failed to find plugin "X"`, which the matrix
would record as *broken*: a false finding. So every plugin `type` (and IPAM `type`) a case can
generate must be on the nodes, and the harness copies in, from the stack's pinned
containernetworking/plugins release, every one that kind and Kube-OVN do not ship.

Every list below was read in the upstream file at the named tag (none of it can be checked on a
cluster from the machines this is written on); tests/test_stack_inventory.py checks the stacks
and the matrix against it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from macmatrix.backends.kind.stack import node_images
from macmatrix.errors import BadInput
from macmatrix.spec.cases import Case
from macmatrix.spec.netconf import plugin_types
from macmatrix.spec.stacks import Stack

# kind's node image: images/base/Dockerfile builds exactly these four from containernetworking/
# plugins and copies them into /opt/cni/bin (`COPY --from=build-cni /cni-plugins/bin/<name>`).
# Read at kubernetes-sigs/kind v0.32.0 (CNI_PLUGINS_VERSION v1.9.1) and at the commits whose
# base images built the older node images the stacks pin (563b2102: v1.7.1; v0.31.0 and
# ec6b5bd7: v1.8.0): the same four every time. kindnet would add its own, but the cluster config
# sets disableDefaultCNI, so kindnet is never applied.
KIND_NODE_PLUGINS: tuple[str, ...] = ("host-local", "loopback", "ptp", "portmap")
KIND_SOURCE = "kubernetes-sigs/kind images/base/Dockerfile @ {ref} (node image {image})"

# Kube-OVN's kube-ovn-cni init container `install-cni` runs dist/images/install-cni.sh, which
# copies these into the host's /opt/cni/bin (hostPath cni-bin = CNI_BIN_DIR "/opt/cni/bin" in
# dist/images/install.sh). loopback, portmap, macvlan (and ipvlan) are extracted from the
# CNI_PLUGINS_VERSION tarball by dist/images/go-deps/download-go-deps.sh and copied into the
# image by dist/images/Dockerfile.base (`cp /godeps/loopback /godeps/portmap /godeps/macvlan
# [/godeps/ipvlan] ./`). ipvlan: only v1.14.41 and v1.15.24 copy it.
KUBE_OVN_INSTALL_CNI: dict[str, tuple[str, ...]] = {
    "v1.13.15": ("kube-ovn", "loopback", "portmap", "macvlan"),
    "v1.14.41": ("kube-ovn", "loopback", "portmap", "macvlan", "ipvlan"),
    "v1.15.24": ("kube-ovn", "loopback", "portmap", "macvlan", "ipvlan"),
    "v1.16.2": ("kube-ovn", "loopback", "portmap", "macvlan"),
}
KUBE_OVN_SOURCE = "kubeovn/kube-ovn dist/images/install-cni.sh @ {tag}"

# Multus thick's init container `install-multus-binary` (deployments/multus-daemonset-thick.yml):
# v4.1.3 runs `cp .../multus-shim /host/opt/cni/bin/multus-shim`; from v4.2.1 it runs
# install_multus -t thick, which (cmd/install_multus/main.go) copies multus-shim and passthru.
MULTUS_INSTALLS: dict[str, tuple[str, ...]] = {
    "v4.1.3": ("multus-shim",),
    "v4.2.1": ("multus-shim", "passthru"),
    "v4.2.3": ("multus-shim", "passthru"),
    "v4.2.4": ("multus-shim", "passthru"),
}
MULTUS_SOURCE = (
    "k8snetworkplumbingwg/multus-cni deployments/multus-daemonset-thick.yml, "
    "cmd/install_multus/main.go @ {tag}"
)

# What a containernetworking/plugins release tarball holds: build_linux.sh builds every
# directory of plugins/meta/*, plugins/main/* and plugins/ipam/* except `windows`, and
# .github/workflows/release.yaml tars bin/ as cni-plugins-linux-<goarch>-<tag>.tgz (members
# `./<name>`). The directory lists were read at each tag; they are identical for these three.
_PLUGINS_1_6_TO_1_9 = (
    "bandwidth",
    "firewall",
    "portmap",
    "sbr",
    "tuning",
    "vrf",
    "bridge",
    "dummy",
    "host-device",
    "ipvlan",
    "loopback",
    "macvlan",
    "ptp",
    "tap",
    "vlan",
    "dhcp",
    "host-local",
    "static",
)
CNI_PLUGINS_RELEASES: dict[str, tuple[str, ...]] = {
    "v1.6.2": _PLUGINS_1_6_TO_1_9,
    "v1.9.0": _PLUGINS_1_6_TO_1_9,
    "v1.9.1": _PLUGINS_1_6_TO_1_9,
}
RELEASE_SOURCE = (
    "containernetworking/plugins build_linux.sh + plugins/{{main,ipam,meta}} @ {tag} "
    "(cni-plugins-linux-<arch>-{tag}.tgz)"
)
HARNESS_SOURCE = "copied by macmatrix from cni-plugins-linux-<arch>-{tag}.tgz"


@cache
def matrix_plugin_types() -> dict[str, str]:
    """Every plugin type a NAD of *any* valid case can name -> the id of one case naming it.

    Enumerates the full product of the matrix axes, so a new axis value that brings a new
    plugin shows up here (and in the inventory test) without anyone listing it by hand.
    """
    from macmatrix.build import manifests
    from macmatrix.spec.cases import AXES, _valid

    out: dict[str, str] = {}
    names = list(AXES)
    for values in itertools.product(*(AXES[n] for n in names)):
        axes: dict[str, Any] = dict(zip(names, values, strict=True))
        if not _valid(axes):
            continue
        case = Case(**axes)
        for t in plugin_types(manifests.nad_config(case, "mm-inventory")):
            out.setdefault(t, case.id)
    return out


@dataclass(frozen=True)
class Inventory:
    """/opt/cni/bin of every node of one stack: plugin -> where it comes from."""

    stack: str
    plugins: dict[str, str]
    installs: tuple[str, ...]  # what the harness copies in (from the stack's plugins release)
    release: str  # the stack's containernetworking/plugins tag

    def lacks(self, needed: Iterable[str]) -> list[str]:
        return sorted({t for t in needed if t not in self.plugins})


def known(stack: Stack) -> list[str]:
    """The stack fields this module has no upstream-read data for (empty for the repo's stacks,
    which tests/test_stack_inventory.py checks)."""
    tables = (
        ("kube_ovn", KUBE_OVN_INSTALL_CNI),
        ("multus", MULTUS_INSTALLS),
        ("cni_plugins", CNI_PLUGINS_RELEASES),
    )
    return [f"{f}={getattr(stack, f)}" for f, table in tables if getattr(stack, f) not in table]


def release_plugins(stack: Stack) -> set[str] | None:
    """The plugins in the stack's pinned containernetworking/plugins release tarball, or None
    for a release this module has not read (the tarball itself then decides, at extraction)."""
    names = CNI_PLUGINS_RELEASES.get(stack.cni_plugins)
    return set(names) if names is not None else None


def shipped(stack: Stack) -> dict[str, str]:
    """What kind, Kube-OVN and Multus put into /opt/cni/bin (plugin -> source), no harness.

    For a tag this module has no data for, only what is certain is assumed (Kube-OVN ships its
    own `kube-ovn`); the harness then copies the rest where a node lacks it (checked per node).
    """
    out: dict[str, str] = {}
    node = node_images.for_image(stack.node_image)
    ref = node.base_ref if node else f"{stack.kind} (image not in node_images.py: assumed)"
    for name in KIND_NODE_PLUGINS:
        out[name] = KIND_SOURCE.format(ref=ref, image=stack.node_image.split("@")[0])
    kube_ovn = KUBE_OVN_INSTALL_CNI.get(stack.kube_ovn)
    source = KUBE_OVN_SOURCE.format(tag=stack.kube_ovn)
    if kube_ovn is None:
        kube_ovn, source = ("kube-ovn",), source + " (tag not in macmatrix's data: assumed)"
    for name in sorted(kube_ovn):  # `cp -f`: Kube-OVN's loopback and portmap replace kind's
        out[name] = source
    for name in sorted(MULTUS_INSTALLS.get(stack.multus, ())):
        out.setdefault(name, MULTUS_SOURCE.format(tag=stack.multus))
    return out


def inventory(stack: Stack, extra: Sequence[str] = ()) -> Inventory:
    """The nodes' plugins once the harness has copied in what the matrix (and `extra`, e.g. a
    pasted NAD's types) needs and kind/Kube-OVN/Multus lack, as far as the release has them."""
    plugins = shipped(stack)
    release = release_plugins(stack)
    wanted = [*matrix_plugin_types(), *extra]
    installs = sorted({t for t in wanted if t not in plugins and (release is None or t in release)})
    for name in installs:
        plugins[name] = HARNESS_SOURCE.format(tag=stack.cni_plugins)
    return Inventory(stack.name, plugins, tuple(installs), stack.cni_plugins)


class MissingPlugin(Exception):
    """A case needs a plugin the nodes of a stack would not have."""


def check(inv: Inventory, needed: Mapping[str, str]) -> None:
    """Raise MissingPlugin naming the plugin, a case needing it and the stack, if any is absent.

    `needed` maps plugin type -> who needs it (a case id, or a pasted NAD's network).
    """
    missing = inv.lacks(needed)
    if missing:
        detail = "; ".join(f"{t!r} (needed by {needed[t]})" for t in missing)
        raise MissingPlugin(
            f"stack {inv.stack}: no {detail} on the kind nodes: not shipped by kind, Kube-OVN or "
            f"Multus and not in containernetworking/plugins {inv.release}"
        )


def check_cases(inv: Inventory, cases: Iterable[Case]) -> None:
    """BadInput naming the stack, plugin and case when a selected case needs an absent plugin."""
    from macmatrix.build import manifests

    try:
        check(inv, needed_by((c.id, manifests.nad_config(c, "mm-check")) for c in cases))
    except MissingPlugin as e:
        raise BadInput(f"{e}; pick another stack or leave those cases out (-k)") from e


def needed_by(nads: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """plugin type -> the first (label) naming it, for (label, NAD config) pairs."""
    out: dict[str, str] = {}
    for label, config in nads:
        for t in plugin_types(config):
            out.setdefault(t, label)
    return out


def describe(inv: Inventory) -> list[str]:
    """One line per plugin for the plan: name, source; the harness' copies marked."""
    width = max((len(n) for n in inv.plugins), default=0)
    return [f"{name:<{width}}  {inv.plugins[name]}" for name in sorted(inv.plugins)]
