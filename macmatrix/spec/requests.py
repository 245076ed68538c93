"""The request-route registry: every way a pod can ask for a MAC, where it is written, and
which plugin channels (spec/plugins/base.py) it reaches.

A value of the matrix's `request` axis names routes joined by `+` (`networks+annotation`), or
`none`. The primary route (`ovn.kubernetes.io/mac_address`, eth0) is the `primary_mac` axis.
Each route cites where its behaviour was read (shared UPSTREAM.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from macmatrix.spec import netconf
from macmatrix.spec.plugins.base import ARGS_CNI, CNI_ARGS, RUNTIME_CONFIG

NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
OVN_MAC_ANNOTATION = netconf.OVN_MAC
PROVIDER_MAC_ANNOTATION = netconf.annotation_key("{provider}")  # filled per attachment
MULTUS_SOURCE = (
    "k8snetworkplumbingwg/multus-cni @ v4.2.4: pkg/multus/multus.go (CNI_ARGS MAC=), "
    "pkg/types/conf.go (capabilityArgs mac); containernetworking/cni libcni "
    "injectRuntimeConfig (only plugins with capabilities.mac)"
)
KUBE_OVN_SOURCE = (
    "kubeovn/kube-ovn @ v1.16.2: pkg/util/const.go MacAddressAnnotationTemplate, read by "
    "pkg/controller/pod.go and pkg/daemon/handler.go for Kube-OVN's own interfaces"
)


@dataclass(frozen=True)
class Route:
    """One way of asking for a MAC.

    `element`: the networks-element key it writes (None: it writes an annotation instead);
    `annotation`: the pod annotation key it writes (`{provider}` filled per attachment);
    `reaches`: the plugin channels it arrives on (runtimeConfig only for plugins that declare
    `capabilities.mac`; see `capability`); `interface`: the pod interface it is for.
    """

    name: str
    interface: str
    source: str
    element: str | None = None
    annotation: str | None = None
    reaches: tuple[str, ...] = ()
    capability: str | None = None  # the channel libcni only hands to plugins with capabilities
    notes: tuple[str, ...] = field(default=())

    def element_fields(self, mac: str | None) -> dict[str, object]:
        """What it adds to the pod's networks element for `mac`."""
        if self.element is None or mac is None:
            return {}
        if self.element == "cni-args":
            return {"cni-args": {"mac": mac}}
        return {self.element: mac}

    def annotation_key(self, provider: str) -> str | None:
        return self.annotation.format(provider=provider) if self.annotation else None

    def channels(self, plugin_capmac: bool) -> tuple[str, ...]:
        """The channels a plugin gets this request on, given its `capabilities.mac`."""
        return tuple(c for c in self.reaches if c != self.capability or plugin_capmac)


ROUTES: dict[str, Route] = {
    r.name: r
    for r in (
        Route(
            # Multus: the element's `mac` goes to every delegate as CNI_ARGS MAC=, and as the
            # capability arg `mac`, which libcni copies into runtimeConfig.mac only for plugins
            # whose own entry says "capabilities": {"mac": true}.
            "networks",
            "net1",
            MULTUS_SOURCE,
            element="mac",
            reaches=(CNI_ARGS, RUNTIME_CONFIG),
            capability=RUNTIME_CONFIG,
        ),
        Route(
            # Multus merges the element's `cni-args` into every plugin's config as args.cni.
            "cni-args",
            "net1",
            "k8snetworkplumbingwg/multus-cni @ v4.2.4 pkg/types/conf.go addCNIArgsInConfList",
            element="cni-args",
            reaches=(ARGS_CNI,),
        ),
        Route(
            # Kube-OVN reads `<provider>.kubernetes.io/mac_address` only for its own attachments
            # (type kube-ovn); no CNI plugin reads it (kubeovn/kube-ovn issue #4834).
            "annotation",
            "net1",
            KUBE_OVN_SOURCE,
            annotation=PROVIDER_MAC_ANNOTATION,
        ),
        Route(
            # Kube-OVN honours it on the primary interface it creates (eth0).
            "primary",
            "eth0",
            KUBE_OVN_SOURCE,
            annotation=OVN_MAC_ANNOTATION,
        ),
    )
}
NONE = "none"
# The `request` axis (net1): `none`, one route, or routes joined by `+`.
REQUESTS: tuple[str, ...] = (NONE, "networks", "cni-args", "annotation", "networks+annotation")


def routes(request: str) -> tuple[Route, ...]:
    """The routes a `request` axis value uses, in the order written."""
    if request == NONE:
        return ()
    return tuple(ROUTES[name] for name in request.split("+"))


def uses(request: str, name: str) -> bool:
    return any(r.name == name for r in routes(request))


def channels(request: str, plugin_capmac: bool) -> set[str]:
    """Every plugin channel a request reaches a plugin on."""
    return {c for r in routes(request) for c in r.channels(plugin_capmac)}
