"""Observations: what a backend saw, with no judgement. Verdicts live in verdict.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from macmatrix import macs
from macmatrix.types import PodEntry, Status


@dataclass
class PodObservation:
    """One pod of a case: kernel MACs and what each reporter claimed."""

    name: str
    interfaces: dict[str, str | None] = field(default_factory=dict)  # ifname -> kernel MAC
    network_status: list[dict[str, Any]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)  # ovn/<provider> MAC annotations
    ip_cr_mac: dict[str, str | None] = field(default_factory=dict)  # provider -> IP CR macAddress
    error: str | None = None  # CNI error text when the sandbox failed (a finding, not infra)
    invocations: list[dict[str, Any]] = field(default_factory=list)  # per plugin call (repro)

    def to_json(self) -> PodEntry:
        # Shallow on purpose: dataclasses.asdict deep-copies every plugin invocation, which was
        # ~1 ms a case for nothing (the entry is written out, never changed).
        return {
            "name": self.name,
            "interfaces": self.interfaces,
            "network_status": self.network_status,
            "annotations": self.annotations,
            "ip_cr_mac": self.ip_cr_mac,
            "error": self.error,
            "invocations": self.invocations,
        }


@dataclass
class CaseObservation:
    """Everything a backend saw for one case."""

    case_id: str
    status: Status = Status.RAN
    reason: str = ""
    pods: list[PodObservation] = field(default_factory=list)
    attempts: int = 1
    duration_s: float = 0.0
    diagnostics: str | None = None
    flaky: bool = False
    # netns: IPAMs that ran as static instead (ipam_substitute.Substitution.to_json())
    ipam_substituted: list[dict[str, Any]] = field(default_factory=list)
    retryable: bool = True  # False: an infra error a re-run cannot fix (see retry.py)


def network_status_entry(
    network: str, result: dict[str, Any] | None, ifname: str, default: bool = False
) -> dict[str, Any]:
    """A network-status element built the way Multus builds it from the final CNI result.

    Multus (CreateNetworkStatus in network-attachment-definition-client) takes `mac` and
    `interface` from the result's sandboxed interface, as a raw string, and the IPs without
    their prefix length. A 0.1.0/0.2.0 result has no `interfaces`, so no MAC is reported.
    """
    entry: dict[str, Any] = {"name": network, "interface": ifname}
    result = result or {}
    ips = [str(ip.get("address", "")).split("/")[0] for ip in result.get("ips", [])]
    # 0.2.0 results carry ip4/ip6 instead of ips
    for key in ("ip4", "ip6"):
        if isinstance(result.get(key), dict) and "ip" in result[key]:
            ips.append(str(result[key]["ip"]).split("/")[0])
    if ips:
        entry["ips"] = ips
    for iface in result.get("interfaces") or []:
        if iface.get("sandbox"):
            entry["interface"] = iface.get("name", ifname)
            if iface.get("mac"):
                entry["mac"] = iface["mac"]
    if default:
        entry["default"] = True
    entry["dns"] = result.get("dns") or {}
    return entry


def network_status_entries(
    network: str, result: dict[str, Any] | None, ifname: str, default: bool = False
) -> list[dict[str, Any]]:
    """The network-status elements Multus writes for one delegate's final CNI result.

    Multus v4.1.3 to v4.2.4 (pkg/multus/multus.go CmdAdd) calls CreateNetworkStatuses of
    network-attachment-definition-client (pkg/utils/net-attach-def.go, v1.7.5 and v1.7.6): a
    result with exactly one interface gets one element (CreateNetworkStatus, above); otherwise
    one element per sandbox interface, so a result with no interfaces at all (a 0.1.0/0.2.0
    result: cniVersion missing) gets none, not an element without a MAC. Found by running the
    real Multus beside this emulation (docs/real-multus.md).
    """
    result = result or {}
    interfaces = [i for i in result.get("interfaces") or [] if isinstance(i, dict)]
    if len(interfaces) == 1:
        return [network_status_entry(network, result, ifname, default)]
    entries: list[dict[str, Any]] = []
    index_of: dict[int, dict[str, Any]] = {}
    for i, iface in enumerate(interfaces):
        if iface.get("sandbox"):
            entry: dict[str, Any] = {"name": network, "interface": iface.get("name", ifname)}
            if iface.get("mac"):
                entry["mac"] = iface["mac"]
            entry["ips"] = []
            if default and not entries:
                entry["default"] = True
            entry["dns"] = result.get("dns") or {}
            entries.append(entry)
            index_of[i] = entry
    for ip in result.get("ips") or []:
        if not isinstance(ip, dict) or not entries:
            continue
        where = ip.get("interface")
        target = index_of.get(where) if isinstance(where, int) else entries[-1]
        if target is not None:
            target["ips"].append(str(ip.get("address", "")).split("/")[0])
    return entries


def parse_network_status(value: str | None) -> list[dict[str, Any]]:
    """Parse the pod's network-status annotation; tolerate absence, reject garbage loudly."""
    if not value:
        return []
    data = json.loads(value)
    if not isinstance(data, list):
        raise ValueError("network-status is not a JSON list")
    return [d for d in data if isinstance(d, dict)]


def status_mac(entries: list[dict[str, Any]], ifname: str) -> str | None:
    """The normalised MAC network-status reports for `ifname`, or None if it reports none."""
    for entry in entries:
        if entry.get("interface") == ifname:
            return macs.normalise(entry.get("mac"))
    return None
