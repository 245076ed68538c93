"""`macmatrix lint`: static findings for the MAC pitfalls users hit with NADs and pods.

Each finding names its level, the field, what goes wrong, the fix, and the upstream source of the
rule, so a maintainer can paste it into an issue. The rules encode shared/UPSTREAM.md; `repro`
uses the same findings as its "likely cause". Exit 1 when any finding is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from macmatrix import macs, versions
from macmatrix.errors import BadInput
from macmatrix.spec import plugins as plugin_registry
from macmatrix.spec.netconf import (
    implicit_provider,
    is_conflist,
    is_ovn_provider,
    key_provider,
    plugin_fields,
    plugins_of,
)
from macmatrix.spec.plugins.base import (
    ARGS_CNI,
    CNI_ARGS,
    CONFIG,
    MAIN,
    RUNTIME_CONFIG,
    Plugin,
)
from macmatrix.spec.userinput import (
    NETWORKS,
    Nad,
    Paste,
    PodInput,
    iter_elements,
)
from macmatrix.workflows.findings import ERROR as ERROR
from macmatrix.workflows.findings import INFO as INFO
from macmatrix.workflows.findings import LEVELS as LEVELS
from macmatrix.workflows.findings import WARNING as WARNING
from macmatrix.workflows.findings import Finding as Finding
from macmatrix.workflows.networks_lint import element_findings

# CNI spec versions any containernetworking/plugins release accepts, with the first release
# that accepts it (1.1.0 came with libcni v1.2.0, used from plugins v1.5.0).
SPEC_MIN_PLUGINS = {
    "0.1.0": "0.1.0",
    "0.2.0": "0.1.0",
    "0.3.0": "0.6.0",
    "0.3.1": "0.6.0",
    "0.4.0": "0.8.0",
    "1.0.0": "1.0.0",
    "1.1.0": "1.5.0",
}
IFNAMSIZ = 16  # Linux include/uapi/linux/if.h: 15 characters + NUL

SRC = {
    "libcni": "containernetworking/cni libcni/api.go (injectRuntimeConfig reads each plugin's "
    "own `capabilities`) and SPEC.md (capabilities are a plugin-config key)",
    "macvlan": "containernetworking/plugins plugins/main/macvlan/macvlan.go (MAC: config `mac` < "
    "CNI_ARGS MAC < runtimeConfig.mac)",
    "tuning": "containernetworking/plugins plugins/meta/tuning/tuning.go (MAC: `mac` < CNI_ARGS "
    "MAC < runtimeConfig.mac < args.cni.mac)",
    "parsemac": "k8snetworkplumbingwg/multus-cni pkg/k8sclient/k8sclient.go "
    "(parsePodNetworkAnnotation validates `mac` with Go net.ParseMAC)",
    "multicast": "Linux: a MAC whose first octet is odd is multicast; the kernel refuses it "
    "(EADDRNOTAVAIL, 'cannot assign requested address')",
    "cniversion": "CNI SPEC.md (a config without cniVersion is 0.1.0; 0.1.0/0.2.0 results have no "
    "`interfaces`) and multus network-status (mac copied from the result's interfaces)",
    "versions": "containernetworking/plugins: each release lists its supported cniVersions "
    "(CNI_COMMAND=VERSION); Debian 12's v1.1.1 stops at 1.0.0",
    "kind": "kubeovn/kube-ovn install on kind: /opt/cni/bin gets kube-ovn, macvlan, ipvlan "
    "(kind adds host-local, loopback, ptp, portmap) - no tuning",
    "4834": "kubeovn/kube-ovn#4834 (the maintainers' answer: `mac` in the networks element); "
    "Kube-OVN's multi-NIC docs show the annotation, but for an IPAM-only attachment nothing "
    "applies it to the link",
    "provider": "kubeovn/kube-ovn docs (multi-NIC): provider `<nad>.<ns>` for kube-ovn IPAM, "
    "`<nad>.<ns>.ovn` for `type: kube-ovn` attachments; the Subnet's spec.provider must match",
    "ifname": "Linux IFNAMSIZ (include/uapi/linux/if.h): at most 15 characters; multus-cni "
    "parsePodNetworkObjectName refuses longer names",
    "raw": "containernetworking/plugins plugins/meta/tuning/tuning.go (writes the requested MAC "
    "string as given into the result) and multus network-status (copies the result's mac)",
    # the plugins whose spec/plugins module reads args.cni.mac, each with its source
    "cniargs": "; ".join(
        r.source for p in plugin_registry.registry().values() if (r := p.route(ARGS_CNI))
    )
    + " (these read args.cni.mac; macvlan ignores args.cni; multus merges cni-args into every "
    "plugin as args.cni)",
}


def _args_cni_readers() -> dict[str, str | None]:
    """Plugin type -> the first release that reads args.cni.mac (spec/plugins routes)."""
    return {
        p.name: r.since for p in plugin_registry.registry().values() if (r := p.route(ARGS_CNI))
    }


# --------------------------------------------------------------------------- rules


def _mac_problem(value: Any) -> str | None:
    """None if `value` is a usable unicast MAC, else 'invalid' or 'multicast'."""
    try:
        macs.validate(value, "mac")
    except BadInput as e:
        return "multicast" if "multicast" in str(e) else "invalid"
    return None


def _mac_findings(value: Any, where: str, field: str, route: str) -> list[Finding]:
    problem = _mac_problem(value)
    if problem == "invalid":
        return [
            Finding(
                ERROR,
                "invalid-mac",
                where,
                field,
                f"{value!r} is not a MAC address; {route} fails",
                "write six hex pairs, e.g. 02:00:00:00:00:01",
                SRC["parsemac"],
            )
        ]
    if problem == "multicast":
        return [
            Finding(
                ERROR,
                "multicast-mac",
                where,
                field,
                f"{value} is a multicast MAC (first octet odd); the plugin fails with "
                "'cannot assign requested address'",
                "use a unicast, locally administered MAC such as 02:xx:xx:xx:xx:xx",
                SRC["multicast"],
            )
        ]
    return []


def _is_kubeovn_ipam(plugin: dict[str, Any]) -> bool:
    ipam = plugin.get("ipam")
    return isinstance(ipam, dict) and ipam.get("type") == "kube-ovn"


KUBEOVN_FIELDS = ("mac_address", "ip_address", "logical_switch")


def uses_kubeovn(paste: Paste) -> bool:
    """Signs that the config targets a Kube-OVN cluster."""
    for nad in paste.nads:
        for p in plugins_of(nad.config):
            if p.get("type") == "kube-ovn" or _is_kubeovn_ipam(p):
                return True
    return any(
        k.startswith("ovn.kubernetes.io/")
        or any(key_provider(k, f) is not None for f in KUBEOVN_FIELDS)
        for pod in paste.pods
        for k in pod.annotations
    )


def lint_nad(nad: Nad, namespace: str, kubeovn: bool, plugins_version: str | None) -> list[Finding]:
    """Findings for one NAD config, as written."""
    out: list[Finding] = []
    where = nad.where
    conf = nad.config
    is_list = is_conflist(conf)
    plugins = plugins_of(conf)
    prefix = "spec.config" if not nad.from_raw_config else "config"
    if "type" not in conf and not is_list:
        raise BadInput(f"{where}: {prefix} has neither `type` nor a `plugins` list; add one")

    if is_list and "capabilities" in conf:
        out.append(
            Finding(
                WARNING,
                "list-capabilities",
                where,
                f"{prefix}.capabilities",
                "capabilities at the conflist level have no effect; libcni injects runtimeConfig "
                "only into plugins whose own config declares the capability",
                'move "capabilities": {"mac": true} into the macvlan (and tuning) plugin entries',
                SRC["libcni"],
            )
        )

    version = conf.get("cniVersion")
    if not version:
        out.append(
            Finding(
                WARNING,
                "missing-cniversion",
                where,
                f"{prefix}.cniVersion",
                "no cniVersion: plugins treat the config as 0.1.0, whose result has no interfaces, "
                "so network-status reports no MAC",
                'add "cniVersion": "1.0.0" (or "0.3.1" for old plugins)',
                SRC["cniversion"],
            )
        )
    else:
        out += _version_findings(str(version), where, f"{prefix}.cniVersion", plugins_version)

    names = [str(p.get("type")) for p in plugins]
    has_tuning = "tuning" in names
    for pfield, plugin in plugin_fields(conf, prefix):
        ptype = plugin.get("type")
        if "mac" in plugin:
            out += _static_mac_findings(plugin, where, f"{pfield}.mac")
        rc = plugin.get("runtimeConfig")
        if isinstance(rc, dict) and "mac" in rc:
            out += _mac_findings(rc["mac"], where, f"{pfield}.runtimeConfig.mac", f"{ptype} ADD")
        out += _provider_findings(plugin, nad, namespace, where, pfield)
    if has_tuning and kubeovn:
        out.append(
            Finding(
                WARNING,
                "tuning-on-kubeovn-kind",
                where,
                f"{prefix}.plugins[{names.index('tuning')}]",
                "this chain uses tuning, but Kube-OVN's install (and its kind setup) puts no "
                "tuning "
                "binary in /opt/cni/bin: pods stay in ContainerCreating with 'failed to find "
                "plugin "
                '"tuning"\'',
                "copy the tuning binary of the same plugins release into /opt/cni/bin on every "
                "node, "
                'or drop tuning and use "capabilities": {"mac": true} on macvlan',
                SRC["kind"],
            )
        )
    return out


def _source(plugin: Plugin, channel: str) -> str:
    """Where the rule about `plugin` reading `channel` comes from: SRC's line for the plugin if
    it has one (macvlan, tuning), else what its module cites for the route (or the module)."""
    route = plugin.route(channel)
    return SRC.get(plugin.name) or (route.source if route else plugin.source)


def _static_mac_findings(plugin: dict[str, Any], where: str, field: str) -> list[Finding]:
    """A `mac` in a plugin's own config, by the routes its module declares (spec/plugins): a
    plugin that reads it gives every pod the same MAC; one that does not ignores it."""
    registered = plugin_registry.get(str(plugin.get("type", "")))
    if registered is None:
        return []  # a plugin the harness does not describe: nothing known about its `mac`
    ptype = registered.name
    if registered.route(CONFIG) is not None:
        return [
            *_mac_findings(plugin["mac"], where, field, f"{ptype} ADD"),
            Finding(
                WARNING,
                "static-mac",
                where,
                field,
                f"a static mac in the NAD's {ptype} config gives every pod on this NAD the same "
                "MAC (two pods on one segment then clash)",
                'remove it and ask per pod: "mac" in the networks element (with "capabilities": '
                f'{{"mac": true}} on {ptype})',
                _source(registered, CONFIG),
            ),
        ]
    if not registered.routes:
        return [
            Finding(
                WARNING,
                "static-mac-ignored",
                where,
                field,
                f"{ptype} sets no MAC of its own (its module declares no MAC route), so this "
                "mac is ignored",
                "remove it",
                registered.source,
            )
        ]
    reads = ", ".join(registered.channels())
    appliers = [
        p.name
        for p in plugin_registry.meta_plugins()
        if p.route(CONFIG) is not None and p.name != ptype
    ]
    chain = f", or chain {' or '.join(appliers)} after it with the mac" if appliers else ""
    return [
        Finding(
            WARNING,
            "static-mac-ignored",
            where,
            field,
            f"{ptype} ignores a mac in its own config (it reads a MAC only from {reads}): pods "
            "on this NAD get the MAC they ask for, else a random one, never this one",
            'remove it and ask per pod: "mac" in the networks element (with "capabilities": '
            f'{{"mac": true}} on {ptype}){chain}',
            "; ".join(dict.fromkeys(r.source for r in registered.routes)),
        )
    ]


def _capability_findings(
    plugins: list[dict[str, Any]], key: str, where: str, field: str
) -> list[Finding]:
    """An element `mac` reaches runtimeConfig.mac only in plugins that declare capabilities.mac
    (libcni); a main plugin that also reads CNI_ARGS MAC= still gets it (spec/plugins routes)."""
    known = [(p, plugin_registry.get(str(p.get("type", "")))) for p in plugins]
    if any(r is not None and r.route(RUNTIME_CONFIG) and _capmac(p) for p, r in known):
        return []
    for _p, r in known:
        if r is None or r.kind != MAIN or r.route(RUNTIME_CONFIG) is None:
            continue
        env = r.route(CNI_ARGS)
        if env is None:
            continue
        since = f" (plugins {env.since}+)" if env.since else ""
        return [
            Finding(
                INFO,
                "mac-without-capability",
                where,
                field,
                f"no plugin of {key} declares capabilities.mac; {r.name} still reads the MAC "
                f"from CNI_ARGS MAC={since}, but not through runtimeConfig",
                f'add "capabilities": {{"mac": true}} to the {r.name} plugin, as Multus\' '
                "examples do",
                _source(r, CNI_ARGS),
            )
        ]
    return []


def _version_findings(
    version: str, where: str, field: str, plugins_version: str | None
) -> list[Finding]:
    def finding(level: str, message: str, fix: str) -> list[Finding]:
        return [
            Finding(level, "cniversion-unsupported", where, field, message, fix, SRC["versions"])
        ]

    minimum = SPEC_MIN_PLUGINS.get(version)
    if minimum is None:
        known = ", ".join(SPEC_MIN_PLUGINS)
        return finding(
            ERROR,
            f"cniVersion {version} is not a CNI spec version any plugins release supports "
            "(plugins fail with 'incompatible CNI versions')",
            f"use one of {known}; 1.0.0 works with every current release",
        )
    if plugins_version and not versions.at_least(plugins_version, minimum, unknown=True):
        return finding(
            ERROR,
            f"cniVersion {version} is newer than CNI plugins {plugins_version} support "
            f"(needs v{minimum}+)",
            f'use "cniVersion": "1.0.0" or upgrade the plugins to v{minimum}+',
        )
    if not plugins_version and versions.at_least(version, "1.1.0"):
        return finding(
            WARNING,
            f"cniVersion {version} needs CNI plugins v{minimum}+; older ones (Debian 12's "
            "v1.1.1, for one) fail with 'incompatible CNI versions'",
            f'use "cniVersion": "1.0.0" unless every node has plugins v{minimum}+',
        )
    return []


def _provider_findings(
    plugin: dict[str, Any], nad: Nad, namespace: str, where: str, pfield: str
) -> list[Finding]:
    out: list[Finding] = []

    def finding(field: str, message: str, fix: str) -> None:
        out.append(Finding(ERROR, "kubeovn-provider", where, field, message, fix, SRC["provider"]))

    ptype = plugin.get("type")
    if _is_kubeovn_ipam(plugin):
        provider = str(plugin["ipam"].get("provider", ""))
        field = f"{pfield}.ipam.provider"
        want = implicit_provider(nad.name, nad.namespace or namespace) if nad.name else None
        if provider.endswith(".ovn"):
            finding(
                field,
                f"provider {provider!r} ends in .ovn, which is for `type: kube-ovn` attachments; "
                f"kube-ovn IPAM for {ptype} never matches the Subnet and the pod gets no address",
                f"use {want or '<nad>.<namespace>'} here and in the Subnet's spec.provider",
            )
        elif want and provider != want:
            finding(
                field,
                f"provider {provider!r} does not match this NAD ({want}); Kube-OVN allocates and "
                "annotates under `<nad>.<ns>`, so the IPAM request waits for an address that "
                "never comes",
                f"use {want!r} here and in the Subnet's spec.provider",
            )
    if ptype == "kube-ovn" and nad.name and "provider" in plugin:
        want = implicit_provider(nad.name, nad.namespace or namespace, ovn=True)
        if plugin["provider"] != want:
            finding(
                f"{pfield}.provider",
                f"provider {plugin['provider']!r} does not match this NAD ({want})",
                f"use {want!r} here and in the Subnet's spec.provider",
            )
    return out


def lint_pod(
    pod: PodInput,
    namespace: str,
    elements: list[dict[str, Any]],
    where: str,
    nads: dict[str, Nad],
) -> list[Finding]:
    """Findings for a pod's networks elements and MAC annotations."""
    out: list[Finding] = element_findings(elements, pod.annotations, where)
    field_base = f"metadata.annotations[{NETWORKS}]"
    by_provider: dict[str, tuple[dict[str, Any], Nad | None]] = {}
    for i, el in enumerate(elements):
        field = f"{field_base}[{i}]"
        key = f"{el['namespace']}/{el['name']}"
        nad = nads.get(key)
        if nad is None:
            raise BadInput(
                f"{where}: {NETWORKS}[{i}] names NAD {key}, which is not in the input "
                f"(NADs found: {', '.join(sorted(nads)) or 'none'}); lint the NAD file too"
            )
        by_provider[implicit_provider(el["name"], el["namespace"])] = (el, nad)
        plugins = plugins_of(nad.config)
        types = [p.get("type") for p in plugins]
        if "mac" in el:
            out += _mac_findings(
                el["mac"], where, f"{field}.mac", "Multus rejects the pod or the plugin"
            )
            out += _capability_findings(plugins, key, where, f"{field}.mac")
        if "tuning" in types:
            out += _raw_mac_findings(el, where, field)
        cni_args = el.get("cni-args")
        if isinstance(cni_args, dict) and "mac" in cni_args:
            out += _mac_findings(cni_args["mac"], where, f"{field}.cni-args.mac", "tuning")
            readers = _args_cni_readers()
            if not any(t in readers for t in types):
                named = ", ".join(f"{t} {v}+" if v else t for t, v in sorted(readers.items()))
                out.append(
                    Finding(
                        WARNING,
                        "cni-args-mac-without-tuning",
                        where,
                        f"{field}.cni-args.mac",
                        "cni-args mac reaches the plugins as args.cni.mac, which only "
                        f"{named} read; {key} has none of them, so the MAC is ignored",
                        'use "mac" in the networks element instead (or add tuning to the chain)',
                        SRC["cniargs"],
                    )
                )
        ifname = el.get("interface")
        if isinstance(ifname, str) and len(ifname) > IFNAMSIZ - 1:
            out.append(
                Finding(
                    ERROR,
                    "ifname-too-long",
                    where,
                    f"{field}.interface",
                    f"interface name {ifname!r} has {len(ifname)} characters; Linux allows 15",
                    "use a name of at most 15 characters, e.g. net1",
                    SRC["ifname"],
                )
            )
    for key, value in pod.annotations.items():
        provider = key_provider(key)
        if provider is None:
            continue
        field = f"metadata.annotations[{key}]"
        out += _mac_findings(value, where, field, "Kube-OVN")
        if is_ovn_provider(provider):
            continue  # Kube-OVN's own interfaces: honoured
        bound = by_provider.get(provider)
        bound_el = bound[0] if bound else None
        kind = _attachment_type(bound[1] if bound else None)
        if kind == "kube-ovn":
            continue
        want = macs.normalise(value)
        el_raw = bound_el.get("mac") if bound_el else None
        el_mac = macs.normalise(el_raw) if isinstance(el_raw, str) else None
        if el_mac and el_mac == want:
            out.append(
                Finding(
                    INFO,
                    "provider-annotation-mac",
                    where,
                    field,
                    "redundant: the networks element already asks for this MAC, which is what sets "
                    "it; the annotation itself sets nothing",
                    "drop the annotation to avoid confusion",
                    SRC["4834"],
                )
            )
        else:
            what = f"a {kind}" if kind else "a non-Kube-OVN"
            target = f"{bound_el['namespace']}/{bound_el['name']}" if bound_el else provider
            out.append(
                Finding(
                    WARNING,
                    "provider-annotation-mac",
                    where,
                    field,
                    f"`<provider>.kubernetes.io/mac_address` does not set the MAC of {what} "
                    "attachment: Kube-OVN only serves its IPAM, the link gets whatever MAC Multus "
                    "passed, else a random one"
                    + (f" (here the networks element asks for {el_mac})" if el_mac else ""),
                    f'put "mac": "{want or value}" in the networks element for {target} and '
                    '"capabilities": {"mac": true} on macvlan',
                    SRC["4834"],
                )
            )
    return out


def _raw_mac_findings(el: dict[str, Any], where: str, field: str) -> list[Finding]:
    """tuning reports a requested MAC as written; upper case or dashes then reach network-status."""
    out = []
    cni_args = el.get("cni-args")
    for sub, value in (
        ("mac", el.get("mac")),
        ("cni-args.mac", (cni_args or {}).get("mac") if isinstance(cni_args, dict) else None),
    ):
        if not isinstance(value, str) or _mac_problem(value):
            continue
        canonical = macs.normalise(value)
        if canonical != value:
            out.append(
                Finding(
                    INFO,
                    "mac-not-canonical",
                    where,
                    f"{field}.{sub}",
                    f"tuning puts {value!r} into its result as written, so network-status "
                    f"reports {value} while the kernel reports {canonical}; tools comparing "
                    "strings see a mismatch",
                    f'write it as "{canonical}"',
                    SRC["raw"],
                )
            )
    return out


def _capmac(plugin: dict[str, Any]) -> bool:
    caps = plugin.get("capabilities")
    return isinstance(caps, dict) and caps.get("mac") is True


def _attachment_type(nad: Nad | None) -> str | None:
    if nad is None:
        return None
    plugins = plugins_of(nad.config)
    return str(plugins[0].get("type")) if plugins else None


def lint(paste: Paste, plugins_version: str | None = None, kube_ovn: bool = False) -> list[Finding]:
    """All findings for a paste, sorted errors -> info (stable).

    `kube_ovn`: the target cluster runs Kube-OVN even if nothing in the paste says so.
    """
    kubeovn = kube_ovn or uses_kubeovn(paste)
    findings: list[Finding] = []
    pod_elements = list(iter_elements(paste))
    default_ns = pod_elements[0][1] if pod_elements else "default"
    for nad in paste.nads:
        findings += lint_nad(nad, default_ns, kubeovn, plugins_version)
    for pod, ns, elements, where in pod_elements:
        nads = {n.key(ns): n for n in paste.nads if n.name}
        unnamed = [n for n in paste.nads if n.from_raw_config]
        keys = {f"{e['namespace']}/{e['name']}" for e in elements}
        if len(unnamed) == 1 and len(paste.nads) == 1 and len(keys) == 1:
            nads.setdefault(keys.pop(), unnamed[0])  # a raw config stands for the NAD named
        findings += lint_pod(pod, ns, elements, where, nads)
    order = {lvl: i for i, lvl in enumerate(LEVELS)}
    return sorted(findings, key=lambda f: order[f.level])


def exit_code(findings: Sequence[Finding]) -> int:
    return 1 if any(f.level == ERROR for f in findings) else 0


def render_text(findings: Sequence[Finding]) -> str:
    if not findings:
        return "no findings"
    lines = []
    for f in findings:
        lines.append(f"{f.level}: {f.where}: {f.field}")
        lines.append(f"  {f.message}")
        lines.append(f"  fix: {f.fix}")
        lines.append(f"  source: {f.source}")
    counts = {lvl: sum(f.level == lvl for f in findings) for lvl in LEVELS}
    plural = {ERROR: "errors", WARNING: "warnings", INFO: "info"}
    lines.append(", ".join(f"{n} {lvl if n == 1 else plural[lvl]}" for lvl, n in counts.items()))
    return "\n".join(lines)
