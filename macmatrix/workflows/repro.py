"""`macmatrix repro`: run a pasted NAD + pod exactly as Multus would, and explain the MACs.

The user's config is never normalised: each NAD's spec.config goes to the backend as written, the
networks elements as Multus parses them. The answer per interface compares four MACs - requested,
kernel, Multus network-status, Kube-OVN annotation - with named checks (the results.json case
shape), and the linter supplies the likely cause and its fix. There is no matrix Case here, so
this module judges on its own, reusing macmatrix.macs and macmatrix.observe.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from macmatrix import __version__, macs
from macmatrix.backends.netns import state_paths
from macmatrix.build.ipam_substitute import Substitution
from macmatrix.build.ipam_substitute import apply as substitute_ipam
from macmatrix.errors import BadInput, InfraError
from macmatrix.judge.verdict import CheckResult
from macmatrix.observe import PodObservation, status_mac
from macmatrix.spec import netconf
from macmatrix.spec.netconf import OVN_MAC, annotation_key, plugins_of
from macmatrix.spec.userinput import NETWORKS, Binding, Request, load_paths, resolve
from macmatrix.types import Check, Outcome, Status
from macmatrix.workflows.lint import Finding, lint

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


def provider_of(binding: Binding) -> str:
    """Kube-OVN's provider for the attachment (spec.netconf.provider_of)."""
    return netconf.provider_of(binding.nad.config, binding.network)


def requested_routes(binding: Binding, annotations: dict[str, str]) -> dict[str, str]:
    """Every way this pod asked for a MAC on this attachment, as written."""
    routes: dict[str, str] = {}
    el = binding.element
    if el.get("mac"):
        routes["networks"] = str(el["mac"])
    cni_args = el.get("cni-args")
    if isinstance(cni_args, dict) and cni_args.get("mac"):
        routes["cni-args"] = str(cni_args["mac"])
    ann = annotations.get(annotation_key(provider_of(binding)))
    if ann:
        routes["annotation"] = ann
    static = [
        p["mac"]
        for p in plugins_of(binding.nad.config)
        if p.get("type") in ("macvlan", "tuning") and p.get("mac")
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
        stdin = inv.get("stdin") or {}
        plugin = str(inv.get("plugin"))
        channels = []
        if stdin.get("mac"):
            channels.append(f"config mac {stdin['mac']}")
        arg_mac = _cni_arg(str(inv.get("cni_args") or ""), "MAC")
        if arg_mac and plugin in ("macvlan", "tuning"):
            channels.append(f"CNI_ARGS MAC={arg_mac}")
        rc = stdin.get("runtimeConfig")
        if isinstance(rc, dict) and rc.get("mac"):
            channels.append(f"runtimeConfig.mac {rc['mac']}")
        args = stdin.get("args")
        cni = args.get("cni") if isinstance(args, dict) else None
        if plugin == "tuning" and isinstance(cni, dict) and cni.get("mac"):
            channels.append(f"args.cni.mac {cni['mac']}")
        if plugin not in ("macvlan", "tuning"):
            continue
        what = " < ".join(channels) if channels else "no MAC (kernel picks a random one)"
        if plugin == "tuning" and not channels:
            what = "no MAC (leaves it as is)"
        out.append(f"{plugin}: {what}")
    return out


def _cni_arg(cni_args: str, key: str) -> str | None:
    for pair in cni_args.split(";"):
        k, _, v = pair.partition("=")
        if k == key:
            return v
    return None


# --------------------------------------------------------------------------- judging


def judge(
    request: Request, pod: PodObservation | None, substituted: Sequence[str] = ()
) -> tuple[list[Row], dict[str, CheckResult], Outcome, str]:
    """Rows per interface, named checks, outcome and reason for one observed pod.

    `substituted`: networks whose IPAM ran as static (ipam_substitute); what only the real IPAM
    decides (the Kube-OVN annotation) gets no check there, see not_judged().
    """
    checks: dict[str, CheckResult] = {}
    rows: list[Row] = []
    error = pod.error if pod else None
    if pod is not None:
        checks[Check.SANDBOX_CREATED] = CheckResult(True, not error, not error)
    invocations = pod.invocations if pod else planned_invocations(request)
    for b in request.bindings:
        routes = requested_routes(b, request.annotations)
        route, want = _first_route(routes)
        kernel = pod.interfaces.get(b.ifname) if pod and not error else None
        raw_status = _status_raw(pod.network_status, b.ifname) if pod and not error else None
        status = status_mac(pod.network_status, b.ifname) if pod and not error else None
        key = annotation_key(provider_of(b))
        ann_raw = pod.annotations.get(key) if pod else None
        ann = macs.normalise(ann_raw)
        verdict = []
        if pod is not None and not error:
            if want is not None:
                ok = kernel == want
                checks[Check.MAC_HONOURED.tagged(b.ifname)] = CheckResult(want, kernel, ok)
                verdict.append("requested MAC applied" if ok else f"{route} MAC NOT applied")
            checks[Check.STATUS_REPORTS_MAC.tagged(b.ifname)] = CheckResult(
                True, status is not None, status is not None
            )
            agree = status is None or status == kernel
            checks[Check.STATUS_MATCHES_KERNEL.tagged(b.ifname)] = CheckResult(
                kernel, status, agree
            )
            if status is None:
                verdict.append("network-status reports no MAC")
            elif not agree:
                verdict.append("network-status disagrees with the kernel")
            if _kubeovn_ipam(b) and ann is not None and b.network in substituted:
                verdict.append("Kube-OVN annotation not judged (ipam substituted)")
            elif _kubeovn_ipam(b) and ann is not None:
                checks[Check.KUBEOVN_ANNOTATION_MATCHES_KERNEL.tagged(b.ifname)] = CheckResult(
                    kernel, ann, ann == kernel
                )
                if ann != kernel:
                    verdict.append("Kube-OVN annotation disagrees with the kernel")
            if not verdict or verdict == ["Kube-OVN annotation not judged (ipam substituted)"]:
                verdict.insert(0, "consistent")
        elif error:
            verdict.append("not created")
        else:
            verdict.append("not run")
        rows.append(
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
        rows.append(
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
                if kernel is None
                else (
                    "requested MAC applied"
                    if kernel == macs.normalise(primary)
                    else "ovn MAC NOT applied"
                ),
            )
        )
        if pod is not None and kernel is not None and not error:
            want = macs.normalise(primary)
            checks[Check.PRIMARY_MAC_HONOURED.tagged("eth0")] = CheckResult(
                want, kernel, kernel == want
            )
    if pod is None:
        return rows, checks, Outcome.UNSUPPORTED, "not run"
    if error:
        return rows, checks, Outcome.BROKEN, f"sandbox failed: {error}"
    failing = [n for n, c in checks.items() if not c.ok]
    if not failing:
        return rows, checks, Outcome.WORKS, ""
    reason = "; ".join(
        f"{n}: expected {_show(checks[n].expected)}, observed {_show(checks[n].observed)}"
        for n in failing
    )
    return rows, checks, Outcome.BROKEN, reason


def _show(value: Any) -> str:
    return "none" if value is None else str(value)


def _status_raw(entries: list[dict[str, Any]], ifname: str) -> str | None:
    for entry in entries:
        if entry.get("interface") == ifname:
            mac = entry.get("mac")
            return str(mac) if mac else None
    return None


def _kubeovn_ipam(b: Binding) -> bool:
    return any(
        isinstance(p.get("ipam"), dict) and p["ipam"].get("type") == "kube-ovn"
        for p in plugins_of(b.nad.config)
    )


def planned_invocations(request: Request) -> list[dict[str, Any]]:
    """What Multus + libcni would send each plugin on ADD, built without running anything.

    For inputs a backend cannot run (kube-ovn IPAM on netns): the same builders the runtime
    uses (macmatrix.build.cni), with placeholders for the sandbox ids and the previous result.
    """
    from macmatrix.build.cni import (
        build_plugin_conf,
        delegate_conf,
        is_conflist,
        multus_runtime_conf,
    )

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
        plugins = conf["plugins"] if chained else [conf]
        for i, plugin in enumerate(plugins):
            if not isinstance(plugin, dict):
                continue
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


# --------------------------------------------------------------------------- what cannot run


def refuse_wrong_types(request: Request) -> None:
    """BadInput (exit 2) for a networks element field of a JSON type Multus cannot unmarshal.

    Multus would accept the pod and fail its sandbox (networks_lint.wrong_types, the rule `lint`
    reports as `element-wrong-type`), but that is a typo in the paste, not a finding about the
    plugins: CI reads exit 1 as one. Checked before any namespace or file is made.
    """
    from macmatrix.workflows.networks_lint import MULTUS_FAILS, wrong_types

    bad = wrong_types([b.element for b in request.bindings])
    if not bad:
        return
    w = bad[0]
    b = request.bindings[w.index]
    more = f" ({len(bad) - 1} more field(s) of the wrong type)" if len(bad) > 1 else ""
    raise BadInput(
        f"{b.where}: metadata.annotations[{NETWORKS}][{b.index - 1}].{w.key} is {w.found}; make it "
        f"{w.want} ({MULTUS_FAILS}){more}"
    )


def multus_rejection(request: Request) -> str | None:
    """Multus refuses the pod before any plugin runs when an element's `mac` fails net.ParseMAC
    (fields of the wrong JSON type never get here: refuse_wrong_types makes them bad input)."""
    for i, b in enumerate(request.bindings):
        mac = b.element.get("mac")
        if mac and not macs.go_parse_mac(str(mac)):
            return (
                f"multus: parsePodNetworkAnnotation: failed to mac: address {mac}: invalid MAC "
                f"address (networks[{i}])"
            )
    return None


def netns_unsupported(
    request: Request, bin_dirs: Sequence[str], substitute_hint: bool = False
) -> str | None:
    """Why the netns backend cannot run this input as written, or None.

    `substitute_hint`: the run had IPAM substitution switched off (--no-substitute); say so.
    """
    for b in request.bindings:
        for plugin in plugins_of(b.nad.config):
            if plugin.get("type") == "kube-ovn":
                return f"{b.network}: `type: kube-ovn` attachments need a Kube-OVN cluster"
            ipam = plugin.get("ipam")
            if isinstance(ipam, dict) and ipam.get("type") == "kube-ovn":
                hint = " (or drop --no-substitute to run it as static)" if substitute_hint else ""
                return (
                    f"{b.network}: kube-ovn IPAM needs the kube-ovn daemon and its Subnet; "
                    f"use --backend kind{hint}"
                )
            if plugin.get("linkInContainer"):
                return (
                    f"{b.network}: linkInContainer puts the master ({plugin.get('master')}) "
                    "inside the pod, which needs Kube-OVN's eth0; use --backend kind"
                )
            for t in (plugin.get("type"), ipam.get("type") if isinstance(ipam, dict) else None):
                if t and not any((Path(d) / str(t)).exists() for d in bin_dirs):
                    return (
                        f"{b.network}: plugin {t!r} is not in {', '.join(bin_dirs)}; "
                        "install it there or use --backend kind"
                    )
    return None


# --------------------------------------------------------------------------- backends


def docker_answers() -> bool:
    """Whether a Docker engine answers (the same probe `run --backend auto` uses)."""
    from macmatrix.backends.kind.stack.docker import engine_answers

    return engine_answers()


def kind_repro_support() -> Any | None:
    """backends/kind/backend.py, if it can run one pod on a kept cluster (repro needs run_pod)."""
    if importlib.util.find_spec("macmatrix.backends.kind.backend") is None:
        return None
    module = importlib.import_module("macmatrix.backends.kind.backend")
    backend = getattr(module, "KindBackend", None)
    if backend is None or not hasattr(backend, "run_pod"):
        return None
    return module


def pick_backend(choice: str) -> tuple[str, str]:
    """(backend, note). auto: kind when Docker answers and kind can run a repro, else netns."""
    if choice == "netns":
        return "netns", ""
    if choice == "kind":
        if kind_repro_support() is None:
            raise BadInput(
                "--backend kind: repro on kind needs a kept cluster and KindBackend.run_pod (one "
                "pod with the pasted NADs); this build's kind backend only runs the matrix; "
                "use --backend netns"
            )
        return "kind", ""
    docker = docker_answers()
    if docker and kind_repro_support() is not None:
        return "kind", "auto: a Docker engine answers"
    return "netns", "auto: " + (
        "the kind backend cannot run a single repro pod in this build"
        if docker
        else "no Docker engine answers"
    )


def _run_pod(
    backend: Any, request: Request, stack: dict[str, Any]
) -> tuple[PodObservation, dict[str, Any], Status, str]:
    """(pod, stack, ran, "") for either backend: a networks value Multus itself refuses is the
    pod's error (no pod is made); else `backend.run_pod` with the attachments as pasted."""
    from macmatrix.backends.netns.backend import (
        Attachment,  # the attachment shape both backends take
    )

    rejected = multus_rejection(request)
    if rejected:
        return PodObservation(name=request.pod_name, error=rejected), stack, Status.RAN, ""
    attachments = [Attachment(b.network, b.nad.config, b.element) for b in request.bindings]
    pod = backend.run_pod(request.pod_name, request.namespace, attachments, request.annotations)
    return pod, stack, Status.RAN, ""


def _run_netns(
    request: Request,
    bin_dirs: Sequence[str] | None,
    substitute: bool = True,
    plugin_timeout: float | None = None,
) -> tuple[PodObservation | None, dict[str, Any], Status, str, list[Substitution]]:
    """(pod, stack, status, reason, substitutions) on the netns backend.

    An IPAM that cannot run here (ipam_substitute.CANNOT_RUN) runs as `static` with the address
    the pod asked for, unless `substitute` is off; the user's request itself is not changed.
    """
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S, NetnsBackend

    timeout = DEFAULT_PLUGIN_TIMEOUT_S if plugin_timeout is None else plugin_timeout
    with NetnsBackend(cni_bin_dirs=list(bin_dirs) if bin_dirs else None, timeout=timeout) as nb:
        stack = nb.stack()
        subs: list[Substitution] = []
        to_run = request
        if substitute:
            to_run, subs, refused = substitute_ipam(request)
            if refused:
                return None, stack, Status.UNSUPPORTED, f"netns backend: {refused}", []
        why = netns_unsupported(to_run, nb.bin_dirs, substitute_hint=not substitute)
        if why:
            return None, stack, Status.UNSUPPORTED, f"netns backend: {why}", []
        return (*_run_pod(nb, to_run, stack), subs)


def _open_kind(stack_name: str | None) -> Any:
    """The KindBackend of the kept kind cluster of `stack_name` (created and kept if there is
    none); the caller closes it. Without --stack the newest stack is used.

    Only reached when backends/kind/backend.py offers KindBackend.run_pod(pod_name, namespace,
    attachments, annotations) -> PodObservation and need_plugins({type: network}) -> reason.
    """
    module = kind_repro_support()
    if module is None:  # pick_backend checked; keep races honest
        raise BadInput("--backend kind: not available in this build; use --backend netns")
    if not stack_name:
        from macmatrix.cli import default_stack

        stack_name = default_stack("kind", None)
    return module.KindBackend.from_options(
        stack_name=stack_name,
        kubeconfig=None,
        keep_cluster=True,
        out_dir=Path("results") / "repro",
    )


# the plugin types the fix search's remedies can add (workflows/remedies.py: tuning)
FIX_PLUGIN_TYPES = ("tuning",)


def _run_kind(
    request: Request, backend: Any
) -> tuple[PodObservation | None, dict[str, Any], Status, str]:
    """One pod on the kind backend (see _open_kind)."""
    from macmatrix.backends.kind.stack.inventory import needed_by

    # a plugin the nodes lack is copied in when the stack's plugins release has it;
    # otherwise the input cannot run here: unsupported, never a (false) broken
    nads = [(b.network, b.nad.config) for b in request.bindings]
    extra = [("the fix search", {"type": t}) for t in FIX_PLUGIN_TYPES]
    if backend.need_plugins(needed_by(nads + extra)) is not None:  # else the fix search's too
        why = backend.need_plugins(needed_by(nads))
        if why:
            return None, backend.stack(), Status.UNSUPPORTED, f"kind backend: {why}"
    return _run_pod(backend, request, backend.stack())


# --------------------------------------------------------------------------- the entry


def versions_block(stack: dict[str, Any], backend: str, note: str) -> dict[str, Any]:
    out = {"macmatrix": __version__, "python": platform.python_version(), "backend": backend}
    if note:
        out["backend_choice"] = note
    for key, value in stack.items():
        if key not in out and value not in (None, ""):
            out[key] = value
    return out


def case_id(request: Request) -> str:
    names = []
    for b in request.bindings:
        name = b.network.split("/", 1)[1]
        if name not in names:
            names.append(name)
    return "repro/" + "+".join(names)


def state_confined(request: Request) -> list[dict[str, str]]:
    """Each `dataDir` the pasted configs set: the netns backend writes there never (state_paths)."""
    return [
        {**w, "network": b.network}
        for b in request.bindings
        for w in state_paths.written(b.nad.config)
    ]


def build_entry(
    request: Request,
    pod: PodObservation | None,
    status: Status,
    reason: str,
    findings: list[Finding],
    stack: dict[str, Any],
    duration_s: float,
    substitutions: Sequence[Substitution] = (),
) -> dict[str, Any]:
    """A results.json-shaped case for the repro, with the report's extra fields."""
    rows, checks, outcome, why = judge(request, pod, [s.network for s in substitutions])
    if status != Status.RAN:
        outcome, why, checks = Outcome(status), reason, {}
    requested = {r.ifname: r.requested for r in rows}
    pods = []
    if pod is not None:
        p = pod.to_json()
        p["requested"] = requested
        pods.append(p)
    return {
        "id": case_id(request),
        "axes": {
            "source": ", ".join(request.paste.sources),
            "networks": request.networks_value,
            "backend": str(stack.get("backend", "")),
        },
        "outcome": outcome,
        "reason": why,
        "requested": requested,
        "pods": pods,
        "checks": {n: c.to_json() for n, c in checks.items()},
        "attempts": 1 if status != Status.UNSUPPORTED else 0,
        "duration_s": round(duration_s, 3),
        "flaky": False,
        "finished": True,
        "stack": stack,
        "interfaces": [r.to_json() for r in rows],
        # not run (unsupported here): what the plugins would have received
        "planned_invocations": planned_invocations(request) if pod is None else [],
        "lint": [f.to_json() for f in findings],
        # netns only: IPAMs that ran as static, and what only the real IPAM decides
        "ipam_substituted": [s.to_json() for s in substitutions],
        # netns: state paths the config sets that the run kept in its temp folder instead
        "state_confined": state_confined(request) if stack.get("backend") == "netns" else [],
        "not_judged": not_judged(substitutions) if pod is not None else [],
        "input": {
            "pod": request.pod_name,
            "namespace": request.namespace,
            "annotations": request.annotations,
            "nads": {b.network: b.nad.raw for b in request.bindings},
            "elements": [b.element for b in request.bindings],
        },
    }


def not_judged(subs: Sequence[Substitution]) -> list[dict[str, str]]:
    """What a substituted run cannot judge, per network: never reported as works."""
    out = []
    for s in subs:
        for what in s.not_judged:
            why = f"{s.ipam_type} IPAM substituted"
            out.append({"network": s.network, "what": what, "why": why})
    return out


def run(
    request: Request,
    backend: str = "netns",
    note: str = "",
    stack_name: str | None = None,
    bin_dirs: Sequence[str] | None = None,
    substitute: bool = True,
    fix: bool = True,
    plugin_timeout: float | None = None,
) -> dict[str, Any]:
    """Run the request on a backend and return the results-shaped entry.

    `substitute`: on netns, run an IPAM that needs a cluster as static (ipam_substitute). On kind
    nothing is ever substituted. `plugin_timeout`: netns, seconds per plugin call (default 30).
    """
    lint(request.paste)  # input the linter cannot read is bad input: say so before any work
    refuse_wrong_types(request)  # lint's element-wrong-type error, as one line and exit 2
    kind_backend = _open_kind(stack_name) if backend == "kind" else None
    try:
        return _run(
            request,
            backend,
            note,
            stack_name,
            bin_dirs,
            substitute,
            fix,
            kind_backend,
            plugin_timeout,
        )
    finally:
        if kind_backend is not None:
            kind_backend.close()


def _run(
    request: Request,
    backend: str,
    note: str,
    stack_name: str | None,
    bin_dirs: Sequence[str] | None,
    substitute: bool,
    fix: bool,
    kind_backend: Any | None,
    plugin_timeout: float | None = None,
) -> dict[str, Any]:
    start = time.monotonic()
    subs: list[Substitution] = []
    try:
        if kind_backend is not None:
            pod, stack, status, reason = _run_kind(request, kind_backend)
        else:
            pod, stack, status, reason, subs = _run_netns(
                request, bin_dirs, substitute, plugin_timeout
            )
    except InfraError as e:
        pod, stack, status, reason = None, {"backend": backend}, Status.INFRA_ERROR, str(e)
    except OSError as e:  # netlink/namespace trouble: the harness, not the user's config
        pod, stack, status, reason = (
            None,
            {"backend": backend},
            Status.INFRA_ERROR,
            f"{type(e).__name__}: {e}",
        )
    if stack_name and backend != "kind":
        stack = {
            **stack,
            "stack_requested": f"{stack_name} (only the kind backend installs stacks)",
        }
    stack = versions_block(stack, backend, note)
    findings = lint(request.paste, _plugins_version(stack))
    entry = build_entry(
        request, pod, status, reason, findings, stack, time.monotonic() - start, subs
    )
    entry["fix"] = _fix(request, entry, bin_dirs, substitute, fix, kind_backend)
    return entry


def _fix(
    request: Request,
    entry: dict[str, Any],
    bin_dirs: Sequence[str] | None,
    substitute: bool,
    fix: bool,
    kind_backend: Any | None = None,
) -> dict[str, Any]:
    """The verified-fix search (macmatrix.workflows.fixsearch), when the report does not work."""
    from macmatrix.workflows import fixsearch

    if not fix:
        return {"searched": False, "why": "--no-fix"}
    if not fixsearch.needs_fix(entry):
        why = (
            "nothing to fix" if entry["outcome"] == Outcome.WORKS else f"outcome {entry['outcome']}"
        )
        return {"searched": False, "why": why}
    try:
        return fixsearch.search(request, entry, bin_dirs, substitute, kind_backend=kind_backend)
    except (InfraError, OSError) as e:
        return {"searched": False, "why": f"the search failed: {type(e).__name__}: {e}"}


def _plugins_version(stack: dict[str, Any]) -> str | None:
    v = stack.get("cni_plugins")
    return str(v) if v and v != "unknown" else None


EXIT = {Outcome.WORKS: 0, Outcome.BROKEN: 1, Outcome.INFRA_ERROR: 3, Outcome.UNSUPPORTED: 3}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="macmatrix repro",
        description="Run a pasted NAD + pod as Multus would; report every MAC and why. "
        "Exit 0 works, 1 broken, 2 bad input, 3 infra/unsupported.",
    )
    parser.add_argument(
        "file",
        metavar="FILE|-",
        help="YAML/JSON with NAD(s) and a pod or a networks value; - reads stdin",
    )
    parser.add_argument("--backend", choices=("auto", "netns", "kind"), default="auto")
    parser.add_argument("--stack", metavar="NAME", help="stack from clusters/stacks.toml (kind)")
    parser.add_argument("--json", action="store_true", help='print {"cases": [entry]}')
    parser.add_argument(
        "--cni-bin-dir",
        action="append",
        metavar="DIR",
        help="netns: plugin directory (repeatable; default /opt/cni/bin, /usr/lib/cni)",
    )
    parser.add_argument(
        "--no-substitute",
        action="store_true",
        help="netns: do not run kube-ovn/whereabouts/dhcp IPAM as static; report unsupported",
    )
    parser.add_argument(
        "--no-fix",
        action="store_true",
        help="do not search for a verified fix when the report does not work",
    )
    from macmatrix.backends.netns.backend import check_plugin_timeout
    from macmatrix.run.runner import (
        add_plugin_timeout,  # the option as `run` has it, one definition
    )

    add_plugin_timeout(parser)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    check_plugin_timeout(args.plugin_timeout)  # 0 or less: one line, exit 2, before any work
    if args.stack:
        from macmatrix.spec import stacks

        stacks.get(args.stack)  # unknown name: BadInput listing the known ones
    request = resolve(load_paths([args.file]))
    backend, note = pick_backend(args.backend)
    if note:
        print(f"macmatrix repro: backend {backend} ({note})", file=sys.stderr)
    entry = run(
        request,
        backend,
        note,
        args.stack,
        args.cni_bin_dir,
        substitute=not args.no_substitute,
        fix=not args.no_fix,
        plugin_timeout=args.plugin_timeout,
    )
    if args.json:
        json.dump({"cases": [entry]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from macmatrix.workflows.repro_report import render_markdown

        sys.stdout.write(render_markdown(entry))
    return EXIT.get(entry["outcome"], 3)
