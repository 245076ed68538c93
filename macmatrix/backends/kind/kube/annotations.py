"""What a pod's reporters claim: Multus network-status, Kube-OVN annotations, Kube-OVN IP CRs.

Pure functions over the serialised pod (camelCase dicts). Values are kept as written: judging
(normalising, comparing with the kernel) is verdict.py's job.
"""

from __future__ import annotations

import json
from typing import Any

from macmatrix.build.manifests import NETWORK_STATUS_ANNOTATION
from macmatrix.observe import parse_network_status
from macmatrix.spec.netconf import OVN_PROVIDER, annotation_prefix

OVN_PREFIX = annotation_prefix(OVN_PROVIDER)  # the primary network's


def network_status(annotations: dict[str, str]) -> list[dict[str, Any]]:
    """Multus' network-status; a garbled annotation is kept raw so the report shows it."""
    raw = annotations.get(NETWORK_STATUS_ANNOTATION)
    try:
        return parse_network_status(raw)
    except (ValueError, json.JSONDecodeError) as e:
        return [{"unparseable": raw, "error": str(e)}]


def kube_ovn_annotations(annotations: dict[str, str], providers: list[str]) -> dict[str, str]:
    """`ovn.kubernetes.io/*` and `<provider>.kubernetes.io/*` annotations, as written."""
    prefixes = [OVN_PREFIX] + [annotation_prefix(p) for p in providers if p != OVN_PROVIDER]
    return {k: v for k, v in sorted(annotations.items()) if any(k.startswith(p) for p in prefixes)}


def ip_cr_name(pod: str, namespace: str, provider: str) -> str:
    """Kube-OVN names an IP CR after the port: `pod.ns` for ovn, `pod.ns.provider` otherwise."""
    if provider == OVN_PROVIDER:
        return f"{pod}.{namespace}"
    return f"{pod}.{namespace}.{provider}"


def ip_cr_macs(
    pod: str, namespace: str, providers: list[str], ip_crs: dict[str, dict[str, Any]]
) -> dict[str, str | None]:
    """provider -> the IP CR's spec.macAddress (None when the CR or the field is absent/empty)."""
    out: dict[str, str | None] = {}
    for p in providers:
        cr = ip_crs.get(ip_cr_name(pod, namespace, p))
        mac = ((cr or {}).get("spec") or {}).get("macAddress")
        out[p] = mac or None
    return out


def index_ip_crs(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {(i.get("metadata") or {}).get("name", ""): i for i in items}
