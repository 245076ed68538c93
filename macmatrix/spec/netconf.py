"""Reading a NAD's CNI config: its plugins, the binaries it calls, and Kube-OVN's provider name.

One definition of each, used by the matrix builders, the backends, repro, lint and the fix search
(they used to compute these three or more ways, and disagreed at the edges).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OVN_PROVIDER = "ovn"  # kubeovn/kube-ovn pkg/util/const.go OvnProvider (v1.13.15, v1.16.2)
OVN_MAC = "ovn.kubernetes.io/mac_address"  # the primary interface's MAC (Kube-OVN)
MAC_ADDRESS = "mac_address"


def is_conflist(conf: Mapping[str, Any]) -> bool:
    """Multus: a top-level `type` means a single plugin; otherwise a `plugins` list."""
    return "type" not in conf and isinstance(conf.get("plugins"), list)


def plugins_of(conf: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The plugin configs of a NAD config: the `plugins` of a list (objects only), else itself."""
    if is_conflist(conf):
        return [p for p in conf["plugins"] if isinstance(p, dict)]
    return [conf if isinstance(conf, dict) else dict(conf)]


def plugin_fields(
    conf: Mapping[str, Any], prefix: str = "spec.config"
) -> list[tuple[str, dict[str, Any]]]:
    """(field path, plugin) of every plugin of plugins_of(): `<prefix>.plugins[i]` of a list (its
    index as written), else `<prefix>`. The plugins are the config's own dicts, not copies."""
    if is_conflist(conf):
        return [
            (f"{prefix}.plugins[{i}]", p)
            for i, p in enumerate(conf["plugins"])
            if isinstance(p, dict)
        ]
    return [(prefix, conf if isinstance(conf, dict) else dict(conf))]


def plugin_types(conf: Mapping[str, Any]) -> list[str]:
    """Every binary a NAD config makes libcni exec: each plugin's `type` and its IPAM `type`."""
    out: list[str] = []
    for plugin in plugins_of(conf):
        ipam = plugin.get("ipam")
        for t in (plugin.get("type"), ipam.get("type") if isinstance(ipam, Mapping) else None):
            if isinstance(t, str) and t and t not in out:
                out.append(t)
    return out


def is_ovn_attachment(conf: Mapping[str, Any]) -> bool:
    """A `type: kube-ovn` plugin in the config: Kube-OVN makes the interface itself."""
    return any(p.get("type") == "kube-ovn" for p in plugins_of(conf))


def uses_kube_ovn_ipam(conf: Mapping[str, Any]) -> bool:
    """Some plugin of the config takes its address from Kube-OVN's IPAM."""
    return any(
        isinstance(p.get("ipam"), Mapping) and p["ipam"].get("type") == "kube-ovn"
        for p in plugins_of(conf)
    )


def implicit_provider(name: str, namespace: str, ovn: bool = False) -> str:
    """Kube-OVN's provider name for the NAD `namespace/name`.

    `<name>.<namespace>` for an IPAM-only attachment, `<name>.<namespace>.ovn` for a
    `type: kube-ovn` one (kubeovn/kube-ovn pkg/controller/pod.go getPodAttachmentNet, v1.13.15
    and v1.16.2). Its annotations are `<provider>.kubernetes.io/<field>`.
    """
    return f"{name}.{namespace}.{OVN_PROVIDER}" if ovn else f"{name}.{namespace}"


def explicit_provider(conf: Mapping[str, Any]) -> str | None:
    """The `provider` a config sets itself: its kube-ovn IPAM's, or a kube-ovn plugin's."""
    for p in plugins_of(conf):
        ipam = p.get("ipam")
        if isinstance(ipam, Mapping) and ipam.get("type") == "kube-ovn" and ipam.get("provider"):
            return str(ipam["provider"])
        if p.get("type") == "kube-ovn" and p.get("provider"):
            return str(p["provider"])
    return None


def provider_of(conf: Mapping[str, Any], network: str) -> str:
    """The provider of the attachment to `network` (`namespace/name`): the one the config sets,
    else the implicit one (implicit_provider).

    Two sides name it: kube-ovn-controller always uses the implicit name (getPodAttachmentNet);
    the CNI and daemon use the config's `ipam.provider` (IPAM-only) or `provider` (kube-ovn),
    defaulting to `ovn` (cmd/cni/cni.go loadNetConf, v1.16.2). They must agree, which lint
    checks (kubeovn-provider); where they do not, the config's is what the pod's ADD asks for.
    """
    ns, _, name = network.partition("/")
    return explicit_provider(conf) or implicit_provider(name, ns, ovn=is_ovn_attachment(conf))


def annotation_prefix(provider: str) -> str:
    """`<provider>.kubernetes.io/`, the start of every Kube-OVN annotation of a provider (`""`:
    the part every provider's keys share)."""
    return f"{provider}.kubernetes.io/"


def annotation_key(provider: str, field: str = MAC_ADDRESS) -> str:
    """`<provider>.kubernetes.io/<field>` (kube-ovn pkg/util/const.go *AnnotationTemplate)."""
    return annotation_prefix(provider) + field


def key_provider(key: str, field: str = MAC_ADDRESS) -> str | None:
    """The provider of an annotation key `<provider>.kubernetes.io/<field>`, else None."""
    suffix = annotation_key("", field)
    return key[: -len(suffix)] if key.endswith(suffix) else None


def is_reported_key(key: str) -> bool:
    """An annotation the backends report: any `ovn.kubernetes.io/*` (the primary's) and every
    attachment's `<provider>.kubernetes.io/mac_address`."""
    return key.startswith(annotation_prefix(OVN_PROVIDER)) or key_provider(key) is not None


def is_ovn_provider(provider: str) -> bool:
    """Kube-OVN's own interfaces (the primary `ovn`, `type: kube-ovn` ones `<...>.ovn`)."""
    return provider == OVN_PROVIDER or provider.endswith("." + OVN_PROVIDER)
