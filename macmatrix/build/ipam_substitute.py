"""IPAM substitution: run a report whose IPAM needs a cluster on the netns backend, with `static`.

Most real reports name an IPAM the netns backend cannot run (kube-ovn, whereabouts, dhcp). For
the MAC question the IPAM does not matter, which was checked in upstream source at every tag the
stacks pin (clusters/stacks.toml) and at Debian 12's plugins:

- containernetworking/plugins `plugins/main/macvlan/macvlan.go` cmdAdd (v1.1.1, v1.6.2, v1.9.0,
  v1.9.1): createMacvlan sets the link's MAC (config `mac` < CNI_ARGS `MAC` < runtimeConfig.mac)
  *before* `ipam.ExecAdd` runs; the result's `interfaces` is only the macvlan link, and of the
  IPAM result only `ips` and `routes` are copied (`result.IPs = ipamResult.IPs`). An IPAM result
  cannot change the MAC, nor what network-status reports.
- same tags, `plugins/meta/tuning/tuning.go` cmdAdd: the MAC comes from tuning's own config,
  CNI_ARGS, runtimeConfig or args.cni; it is written into the prevResult interface of the same
  name (the macvlan one); no IPAM result is read.
- Exception, written down: kubeovn/kube-ovn `cmd/cni/cni.go` generateCNIResult (v1.13.15,
  v1.14.41, v1.15.24, v1.16.2) *does* return an `interfaces` entry carrying a `mac`
  (`cniResponse.MacAddress`). `pkg/daemon/handler.go` handleAdd fills that MAC (from
  `<provider>.kubernetes.io/mac_address`) and configures a NIC only when the provider ends in
  `.ovn` (`strings.HasSuffix(podRequest.Provider, util.OvnProvider)`); for an IPAM-only provider
  (`<nad>.<ns>`) it is empty. macvlan drops that entry anyway (above). A `.ovn` provider on a
  macvlan NAD is therefore not an IPAM-only attachment and is never substituted.
- k8snetworkplumbingwg/whereabouts `cmd/whereabouts.go` cmdAdd (v0.9.4): the result carries
  `ips`, `routes` and `dns`, no `interfaces`.
- containernetworking/plugins `plugins/ipam/dhcp` (v1.1.1): the result comes from the dhcp daemon
  over RPC with `ips` and `routes`; the lease is asked with the link's MAC (read, never written).

What substitution cannot show is reported as not judged, never as works: the Kube-OVN annotation
and IP CR written by kube-ovn-controller, and allocation (IPPool races, leases, Subnet excludes).
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from macmatrix.errors import BadInput
from macmatrix.spec.netconf import (
    annotation_key,
    implicit_provider,
    is_ovn_provider,
    plugin_fields,
    plugins_of,
)
from macmatrix.spec.userinput import Binding, Request

# IPAM type -> (why it cannot run on the netns backend, source). Data, one entry an IPAM.
CANNOT_RUN: dict[str, tuple[str, str]] = {
    "kube-ovn": (
        "kube-ovn IPAM asks the kube-ovn daemon (server_socket) for the address "
        "kube-ovn-controller allocated from a Subnet; the netns backend runs no Kube-OVN",
        "kubeovn/kube-ovn cmd/cni/cni.go, pkg/daemon/handler.go",
    ),
    "whereabouts": (
        "whereabouts allocates from IPPool custom resources through the Kubernetes API; the netns "
        "backend has no cluster",
        "k8snetworkplumbingwg/whereabouts cmd/whereabouts.go (v0.9.4)",
    ),
    "dhcp": (
        "dhcp IPAM needs the `dhcp daemon` and a DHCP server on the master's LAN; the netns "
        "backend's LAN has neither",
        "containernetworking/plugins plugins/ipam/dhcp/main.go (v1.1.1)",
    ),
}

# What the real IPAM decides and a substituted run therefore does not judge.
NOT_JUDGED: dict[str, tuple[str, ...]] = {
    "kube-ovn": (
        "<provider>.kubernetes.io/mac_address and ip_address as kube-ovn-controller writes them",
        "the IP CR (spec.macAddress, spec.ipAddress)",
        "address allocation from the Subnet (excludeIps, conflicts between pods)",
    ),
    "whereabouts": ("address allocation from the IPPool (races between pods, exclusions)",),
    "dhcp": ("the DHCP lease (address, routes)",),
}

# RFC 5737 TEST-NET-1: documentation-only addresses, used when the paste names no range at all.
FALLBACK_NET = "192.0.2.0/24"
SOURCE_MACVLAN = (
    "containernetworking/plugins plugins/main/macvlan/macvlan.go cmdAdd (v1.1.1, v1.6.2, v1.9.0, "
    "v1.9.1): the MAC is set before IPAM runs; only ips and routes of the IPAM result are kept"
)


@dataclass(frozen=True)
class Substitution:
    """One IPAM replaced for a run: what, by what, with which address and why."""

    network: str  # "<ns>/<nad>"
    field: str  # where in spec.config, e.g. "spec.config.plugins[0].ipam"
    replaced: dict[str, Any]  # the IPAM as written
    static: dict[str, Any]  # the static IPAM that ran instead
    address: str  # the address the pod asked for, or the one picked
    address_from: str
    why: str
    source: str
    not_judged: tuple[str, ...]

    @property
    def ipam_type(self) -> str:
        return str(self.replaced.get("type"))

    def line(self) -> str:
        """One line for the terminal and Markdown."""
        return (
            f"ipam substituted: {self.network} {self.field} `{self.ipam_type}` -> `static` "
            f"{self.address} ({self.address_from}), because {self.why}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "field": self.field,
            "replaced": self.replaced,
            "static": self.static,
            "address": self.address,
            "address_from": self.address_from,
            "why": self.why,
            "source": self.source,
            "mac_unaffected_because": SOURCE_MACVLAN,
            "not_judged": list(self.not_judged),
        }


def refusal(binding: Binding) -> str | None:
    """Why an IPAM that cannot run must not be substituted either (it is not IPAM-only)."""
    for plugin in plugins_of(binding.nad.config):
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") == "kube-ovn":
            provider = str(ipam.get("provider") or "")
            if is_ovn_provider(provider):
                return (
                    f"{binding.network}: kube-ovn IPAM provider {provider!r} ends in .ovn, so "
                    "the kube-ovn daemon configures a Kube-OVN NIC with its own MAC "
                    "(pkg/daemon/handler.go handleAdd); not substituted, use --backend kind"
                )
    return None


def substitutable(binding: Binding) -> bool:
    return any(
        isinstance(p.get("ipam"), dict) and p["ipam"].get("type") in CANNOT_RUN
        for p in plugins_of(binding.nad.config)
    )


def apply(request: Request) -> tuple[Request, list[Substitution], str | None]:
    """(request to run, substitutions made, refusal). The user's own request is not changed."""
    bindings: list[Binding] = []
    subs: list[Substitution] = []
    for b in request.bindings:
        if not substitutable(b):
            bindings.append(b)
            continue
        refused = refusal(b)
        if refused:
            return request, [], refused
        config, made = _substitute_binding(b, request)
        subs += made
        bindings.append(replace(b, nad=replace(b.nad, config=config)))
    if not subs:
        return request, [], None
    return replace(request, bindings=bindings), subs, None


def _substitute_binding(b: Binding, request: Request) -> tuple[dict[str, Any], list[Substitution]]:
    return substitute_config(
        b.network, b.nad.config, lambda kind, ipam: _address(kind, ipam, b, request)
    )


AddressFor = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any], str]]


def static_for(address: str, address_from: str) -> AddressFor:
    """An address_for that always gives `address` (the matrix: the replica's own address)."""
    return lambda kind, ipam: (address, _static([address]), address_from)


def substitute_config(
    network: str, config: dict[str, Any], address_for: AddressFor
) -> tuple[dict[str, Any], list[Substitution]]:
    """A copy of a NAD config with every IPAM that cannot run replaced by static, and the
    record of each replacement. `address_for(ipam type, ipam)` -> (address, static, from)."""
    config = copy.deepcopy(config)
    made = []
    for field, plugin in plugin_fields(config):
        ipam = plugin.get("ipam")
        if not isinstance(ipam, dict) or ipam.get("type") not in CANNOT_RUN:
            continue
        kind = str(ipam["type"])
        address, static, source = address_for(kind, ipam)
        plugin["ipam"] = static
        why, src = CANNOT_RUN[kind]
        made.append(
            Substitution(
                network=network,
                field=f"{field}.ipam",
                replaced=copy.deepcopy(ipam),
                static=static,
                address=address,
                address_from=source,
                why=why,
                source=src,
                not_judged=NOT_JUDGED[kind],
            )
        )
    return config, made


def _address(
    kind: str, ipam: dict[str, Any], b: Binding, request: Request
) -> tuple[str, dict[str, Any], str]:
    """(address, static IPAM, where the address came from), in the order the issue asks:
    the element's `ips`, `<provider>.kubernetes.io/ip_address`, one free address of the range."""
    ips = b.element.get("ips")
    if isinstance(ips, list) and ips:
        # Multus passes them as CNI_ARGS IP= (and runtimeConfig.ips where declared); static
        # reads both (plugins/ipam/static/main.go LoadIPAMConfig), so listing them here too
        # would add each address twice.
        return (
            ",".join(str(ip) for ip in ips),
            {"type": "static"},
            "the networks element's ips, passed by Multus as CNI_ARGS IP=",
        )
    if kind == "kube-ovn":
        # the provider the IPAM names, else the one kube-ovn-controller annotates under
        ns, _, name = b.network.partition("/")
        provider = str(ipam.get("provider") or "") or implicit_provider(name, ns)
        key = annotation_key(provider, "ip_address")
        asked = request.annotations.get(key)
        subnet = _subnet_for(request, provider)
        if asked:
            cidrs = str(subnet.get("cidrBlock")) if subnet else ""
            addrs = [_with_prefix(ip.strip(), cidrs) for ip in asked.split(",") if ip.strip()]
            where = key
            where += (
                f", prefix from Subnet {subnet.get('_name')}"
                if subnet
                else ", no Subnet in the paste so a host prefix"
            )
            return ",".join(addrs), _static(addrs), where
        if subnet:
            free = _first_free(
                str(subnet.get("cidrBlock")).split(",")[0],
                excludes=_str_list(subnet.get("excludeIps"), "Subnet spec.excludeIps"),
                reserved=[str(subnet.get("gateway") or "")],
            )
            if free:
                return free, _static([free]), f"first free address of Subnet {subnet.get('_name')}"
    if kind == "whereabouts":
        for rng in _whereabouts_ranges(ipam):
            free = _first_free(
                rng["range"],
                excludes=rng["exclude"],
                reserved=[str(ipam.get("gateway") or "")],
                start=rng["start"],
            )
            if free:
                where = f"first free address of whereabouts range {rng['range']}"
                return free, _static([free]), where
    free = _first_free(FALLBACK_NET, [], [])
    assert free is not None
    return (
        free,
        _static([free]),
        f"no address or range in the paste: {free} from TEST-NET-1 (RFC 5737)",
    )


def _static(addresses: list[str]) -> dict[str, Any]:
    return {"type": "static", "addresses": [{"address": a} for a in addresses]}


def _subnet_for(request: Request, provider: str) -> dict[str, Any] | None:
    for doc in request.paste.subnets:
        spec = doc.get("spec") if isinstance(doc, dict) else None
        if isinstance(spec, dict) and spec.get("provider") == provider and spec.get("cidrBlock"):
            meta = doc.get("metadata")
            name = meta.get("name", "?") if isinstance(meta, dict) else "?"
            return {**spec, "_name": name}
    return None


def _with_prefix(ip: str, cidrs: str) -> str:
    """`ip` with the prefix of the Subnet CIDR that holds it, else a host prefix."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip  # static will refuse it with its own words, as it would on a cluster
    for cidr in cidrs.split(","):
        try:
            net = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            continue
        if addr in net:
            return f"{addr}/{net.prefixlen}"
    return f"{addr}/{addr.max_prefixlen}"


def _whereabouts_ranges(ipam: dict[str, Any]) -> list[dict[str, Any]]:
    """whereabouts' ranges as pkg/config/config.go reads them: `range` (CIDR or `a-b/prefix`
    form) with `range_start`/`exclude`, plus each `ipRanges` entry."""
    raw = []
    if ipam.get("range"):
        raw.append(ipam)
    raw += [r for r in ipam.get("ipRanges") or [] if isinstance(r, dict) and r.get("range")]
    out = []
    for r in raw:
        text = str(r["range"])
        start = str(r.get("range_start") or "")
        if "-" in text:  # "a-b/prefix": the part before '-' is the start
            first, _, cidr = text.partition("-")
            start = start or first
            text = cidr if "/" in cidr else text
        with contextlib.suppress(ValueError):  # whereabouts keeps the CIDR's network
            text = str(ipaddress.ip_network(text, strict=False))
        excl = _str_list(r.get("exclude"), "spec.config ipam.exclude (whereabouts)")
        out.append({"range": text, "start": start, "exclude": excl})
    return out


def _str_list(value: Any, field: str) -> list[str]:
    """A list of strings from the user's paste (missing: empty), else one line of bad input:
    the real IPAM's JSON decoding would refuse any other type."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise BadInput(f'{field}: {value!r} must be a list of strings; write it as ["..."]')
    return list(value)


def _first_free(cidr: str, excludes: list[str], reserved: list[str], start: str = "") -> str | None:
    """The first host address of `cidr` at or after `start` that is not excluded or reserved."""
    try:
        net = ipaddress.ip_network(cidr.strip(), strict=False)
        first = int(ipaddress.ip_address(start)) if start else 0
    except ValueError:
        return None
    low = int(net.network_address) + (1 if net.num_addresses > 2 else 0)
    high = int(net.broadcast_address) - (1 if net.version == 4 and net.num_addresses > 2 else 0)
    taken = {r for r in reserved if r}
    for value in range(max(low, first), min(high, max(low, first) + 65536) + 1):
        host = ipaddress.ip_address(value)
        if str(host) in taken or any(_excluded(host, e) for e in excludes):
            continue
        return f"{host}/{net.prefixlen}"
    return None


def _excluded(host: Any, rule: str) -> bool:
    """Kube-OVN excludeIps (`a..b` or an address) and whereabouts exclude (CIDR)."""
    try:
        if ".." in rule:
            lo, _, hi = rule.partition("..")
            return bool(ipaddress.ip_address(lo) <= host <= ipaddress.ip_address(hi))
        if "/" in rule:
            return bool(host in ipaddress.ip_network(rule, strict=False))
        return bool(host == ipaddress.ip_address(rule))
    except (ValueError, TypeError):
        return False
