"""A pasted NAD + pod, judged: what each interface asked for, the four MACs, and the checks.

`repro` and its fix search judge a user's own request with the one judge (verdict.judge_pods),
the matrix's rules with the checks tagged per interface. What was asked comes from the request
as written: the networks element `mac`, its `cni-args`, Kube-OVN's
`<provider>.kubernetes.io/mac_address`, a static `mac` in the config (that precedence), and
`ovn.kubernetes.io/mac_address` for eth0. Rows add what each plugin was told, for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from macmatrix import macs
from macmatrix.build.cni import build_plugin_conf, delegate_conf, is_conflist, multus_runtime_conf
from macmatrix.judge.verdict import CheckResult, Verdict, Want, judge_pods
from macmatrix.observe import CaseObservation, PodObservation, status_mac
from macmatrix.spec import plugins
from macmatrix.spec.netconf import (
    OVN_MAC,
    annotation_key,
    plugins_of,
    provider_of,
    uses_kube_ovn_ipam,
)
from macmatrix.spec.plugins.base import ARGS_CNI, CNI_ARGS, CONFIG, META, RUNTIME_CONFIG
from macmatrix.spec.userinput import Binding, Request
from macmatrix.types import Check, Outcome, Status

ROUTES = ("networks", "cni-args", "annotation", "config")  # precedence of "what was asked"


@dataclass
class Row:
    """One interface of the repro pod: the four MACs and what to make of them."""

    ifname: str
    network: str
    requested: str | None  # normalised; None: nothing asked
    route: str | None  # which request counts (networks | cni-args | annotation | config | ovn)
    routes: dict[str, str]  # every request as written, by route
    kernel: str | None
    status: str | None  # network-status mac, normalised
    status_raw: str | None  # as Multus wrote it (tuning writes the raw requested string)
    annotation: str | None
    annotation_key: str | None
    told: list[str]  # which MAC each plugin was told, by which channel
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- requests


def requested_routes(binding: Binding, annotations: dict[str, str]) -> dict[str, str]:
    """Every way this pod asked for a MAC on this attachment, as written."""
    routes: dict[str, str] = {}
    el = binding.element
    if el.get("mac"):
        routes["networks"] = str(el["mac"])
    cni_args = el.get("cni-args")
    if isinstance(cni_args, dict) and cni_args.get("mac"):
        routes["cni-args"] = str(cni_args["mac"])
    ann = annotations.get(_annotation_key(binding))
    if ann:
        routes["annotation"] = ann
    static = [
        p["mac"]
        for p in plugins_of(binding.nad.config)
        if _reads_config_mac(p.get("type")) and p.get("mac")
    ]
    if static:
        routes["config"] = str(static[-1])  # a later plugin of the chain applies last
    return routes


def _first_route(routes: dict[str, str]) -> tuple[str | None, str | None]:
    for route in ROUTES:
        if route in routes:
            return route, macs.normalise(routes[route])
    return None, None


def told(invocations: list[dict[str, Any]], network: str, ifname: str) -> list[str]:
    """Per ADD of this attachment: the MAC each channel carried to the plugin, in its order.

    Precedence (UPSTREAM.md): macvlan `mac` < CNI_ARGS MAC < runtimeConfig.mac; tuning adds
    args.cni.mac on top. The last channel listed is the one the plugin applies.
    """
    out = []
    for inv in invocations:
        if (
            inv.get("command") != "ADD"
            or inv.get("network") != network
            or inv.get("ifname") != ifname
        ):
            continue
        plugin = str(inv.get("plugin"))
        known = plugins.get(plugin)
        if known is None or not known.routes:
            continue  # a plugin that reads no MAC (an IPAM, or one the registry lacks)
        sent = _sent(inv)
        channels = [
            _SAY[r.channel].format(sent[r.channel]) for r in known.routes if sent.get(r.channel)
        ]
        if channels:
            what = " < ".join(channels)
        else:
            what = (
                "no MAC (leaves it as is)"
                if known.kind == META
                else "no MAC (kernel picks a random one)"
            )
        out.append(f"{plugin}: {what}")
    return out


_SAY = {
    CONFIG: "config mac {}",
    CNI_ARGS: "CNI_ARGS MAC={}",
    RUNTIME_CONFIG: "runtimeConfig.mac {}",
    ARGS_CNI: "args.cni.mac {}",
}


def _sent(inv: dict[str, Any]) -> dict[str, Any]:
    """The MAC an invocation carried on each channel (spec/plugins/base.py CHANNELS)."""
    stdin = inv.get("stdin") or {}
    rc = stdin.get("runtimeConfig")
    args = stdin.get("args")
    cni = args.get("cni") if isinstance(args, dict) else None
    return {
        CONFIG: stdin.get("mac"),
        CNI_ARGS: _cni_arg(str(inv.get("cni_args") or ""), "MAC"),
        RUNTIME_CONFIG: rc.get("mac") if isinstance(rc, dict) else None,
        ARGS_CNI: cni.get("mac") if isinstance(cni, dict) else None,
    }


def _reads_config_mac(plugin_type: Any) -> bool:
    """The plugin applies a static `mac` of its own NAD entry (its registry routes say so)."""
    known = plugins.get(str(plugin_type))
    return known is not None and CONFIG in known.channels()


def _cni_arg(cni_args: str, key: str) -> str | None:
    for pair in cni_args.split(";"):
        k, _, v = pair.partition("=")
        if k == key:
            return v
    return None


# --------------------------------------------------------------------------- judging


def wants_of(request: Request, substituted: Sequence[str] = ()) -> list[Want]:
    """What the pod asked for on each interface (the first route of requested_routes), and
    whether Kube-OVN's annotation is judged (its IPAM, not substituted: `substituted` networks)."""
    out = []
    for b in request.bindings:
        _, want = _first_route(requested_routes(b, request.annotations))
        judged = uses_kube_ovn_ipam(b.nad.config) and b.network not in substituted
        out.append(Want(b.ifname, want, False, judged, _annotation_key(b)))
    primary = request.annotations.get(OVN_MAC)
    if primary:
        out.append(Want("eth0", macs.normalise(primary), primary=True))
    return out


def judge(
    request: Request, pod: PodObservation | None, substituted: Sequence[str] = ()
) -> tuple[list[Row], dict[str, CheckResult], Outcome, str]:
    """Rows per interface, named checks, outcome and reason for one observed pod (None: not
    run). `substituted`: networks whose IPAM ran as static (ipam_substitute); what only the real
    IPAM decides (the Kube-OVN annotation) gets no check there (results not_judged)."""
    obs = CaseObservation(
        "repro",
        Status.RAN if pod else Status.UNSUPPORTED,
        "" if pod else "not run",
        [pod] if pod else [],
    )
    verdict, rows = judge_observed(request, obs, substituted)
    return rows, verdict.checks, verdict.outcome, verdict.reason


def judge_observed(
    request: Request, obs: CaseObservation, substituted: Sequence[str] = ()
) -> tuple[Verdict, list[Row]]:
    """The verdict of the request's pod as `obs` holds it (one pod, or none with the backend's
    status and reason), and the report's rows for it."""
    verdict = judge_pods(obs, [wants_of(request, substituted)], per_interface=True)
    pod = obs.pods[0] if obs.pods else None
    return verdict, interface_rows(request, pod, verdict.checks, substituted)


def _annotation_key(b: Binding) -> str:
    return annotation_key(provider_of(b.nad.config, b.network))


def interface_rows(
    request: Request,
    pod: PodObservation | None,
    checks: dict[str, CheckResult],
    substituted: Sequence[str] = (),
) -> list[Row]:
    """The report's row per interface: the four MACs, what each plugin was told, and the
    checks of judge() in words."""
    out: list[Row] = []
    error = pod.error if pod else None
    ran = pod is not None and not error
    invocations = pod.invocations if pod else planned_invocations(request)
    for b in request.bindings:
        routes = requested_routes(b, request.annotations)
        route, want = _first_route(routes)
        kernel = pod.interfaces.get(b.ifname) if pod and ran else None
        raw_status = _status_raw(pod.network_status, b.ifname) if pod and ran else None
        status = status_mac(pod.network_status, b.ifname) if pod and ran else None
        key = _annotation_key(b)
        ann_raw = pod.annotations.get(key) if pod else None
        ann = macs.normalise(ann_raw)
        verdict = []
        if ran:
            annotation_check = Check.KUBEOVN_ANNOTATION_MATCHES_KERNEL.tagged(b.ifname)
            honoured = checks.get(Check.MAC_HONOURED.tagged(b.ifname))
            if honoured is not None:
                ok = honoured.ok
                verdict.append("requested MAC applied" if ok else f"{route} MAC NOT applied")
            if not checks[Check.STATUS_REPORTS_MAC.tagged(b.ifname)].ok:
                verdict.append("network-status reports no MAC")
            elif not checks[Check.STATUS_MATCHES_KERNEL.tagged(b.ifname)].ok:
                verdict.append("network-status disagrees with the kernel")
            not_judged = "Kube-OVN annotation not judged (ipam substituted)"
            if uses_kube_ovn_ipam(b.nad.config) and ann is not None and b.network in substituted:
                verdict.append(not_judged)
            elif not checks.get(annotation_check, CheckResult(None, None, True)).ok:
                verdict.append("Kube-OVN annotation disagrees with the kernel")
            if not verdict or verdict == [not_judged]:
                verdict.insert(0, "consistent")
        elif error:
            verdict.append("not created")
        else:
            verdict.append("not run")
        out.append(
            Row(
                b.ifname,
                b.network,
                want,
                route,
                routes,
                kernel,
                status,
                raw_status,
                ann,
                key if ann_raw is not None else None,
                told(invocations, b.network, b.ifname),
                "; ".join(verdict),
            )
        )
    primary = request.annotations.get(OVN_MAC)
    if primary:
        kernel = pod.interfaces.get("eth0") if pod else None
        check = checks.get(Check.PRIMARY_MAC_HONOURED.tagged("eth0"))
        out.append(
            Row(
                "eth0",
                "(cluster default: Kube-OVN)",
                macs.normalise(primary),
                "ovn",
                {"annotation": primary},
                kernel,
                None,
                None,
                macs.normalise(primary),
                OVN_MAC,
                [],
                "not judged: the primary interface needs Kube-OVN"
                if check is None
                else ("requested MAC applied" if check.ok else "ovn MAC NOT applied"),
            )
        )
    return out


def _status_raw(entries: list[dict[str, Any]], ifname: str) -> str | None:
    for entry in entries:
        if entry.get("interface") == ifname:
            mac = entry.get("mac")
            return str(mac) if mac else None
    return None


def planned_invocations(request: Request) -> list[dict[str, Any]]:
    """What Multus + libcni would send each plugin on ADD, built without running anything.

    For inputs a backend cannot run (kube-ovn IPAM on netns): the same builders the runtime
    uses (macmatrix.build.cni), with placeholders for the sandbox ids and the previous result.
    """
    out: list[dict[str, Any]] = []
    for b in request.bindings:
        conf = delegate_conf(b.nad.config, b.network.split("/", 1)[1], b.element)
        rt = multus_runtime_conf(
            b.element,
            namespace=request.namespace,
            pod_name=request.pod_name,
            pod_uid="<pod-uid>",
            container_id="<container-id>",
            netns="<netns>",
            ifname=b.ifname,
        )
        chained = is_conflist(conf)
        for i, plugin in enumerate(plugins_of(conf)):
            prev = {"<not run>": "the previous plugin's result"} if chained and i else None
            sent = build_plugin_conf(
                plugin, str(conf.get("name", "")), str(conf.get("cniVersion", "")), prev, rt
            )
            out.append(
                {
                    "network": b.network,
                    "plugin": str(plugin.get("type")),
                    "command": "ADD",
                    "ifname": b.ifname,
                    "stdin": sent,
                    "cni_args": rt.cni_args(),
                    "result": None,
                    "error": None,
                    "duration_s": 0.0,
                    "planned": True,
                }
            )
    return out
