"""One pasted request (a user's NADs and pod) as a pod on a backend, as Multus would run it.

What every backend's repro runner shares (the registry's `repro` hooks in each backend's
entry.py, and `run_as_pasted` for a backend without one), and what the fix search reuses for
its candidates: Multus' own refusal of a networks value, why the plugins-only tiers cannot run
an input, and the pod with its attachments as written. It sits in the backends layer so the
registry entries can use it; repro (workflows) only chooses by the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from macmatrix import macs
from macmatrix.backends.base import PastedRun, PodRunner, ReproOptions
from macmatrix.backends.netns.backend import Attachment  # the attachment shape both backends take
from macmatrix.build import ipam_substitute
from macmatrix.observe import PodObservation
from macmatrix.spec.netconf import plugins_of
from macmatrix.spec.userinput import Request
from macmatrix.types import Status


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
    request: Request,
    bin_dirs: Sequence[str],
    substitute_hint: bool = False,
    pod_has_eth0: bool = False,
) -> str | None:
    """Why the netns backend cannot run this input as written, or None.

    `substitute_hint`: the run had IPAM substitution switched off (--no-substitute); say so.
    `pod_has_eth0`: the real-Multus tier, whose cluster network gives the pod an eth0 that a
    `linkInContainer` master can use.
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
            if plugin.get("linkInContainer") and not pod_has_eth0:
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


def run_pod(
    backend: Any, request: Request, stack: dict[str, Any]
) -> tuple[PodObservation, dict[str, Any], Status, str]:
    """(pod, stack, ran, "") on any backend: a networks value Multus itself refuses is the
    pod's error (no pod is made); else `backend.run_pod` with the attachments as pasted."""
    rejected = multus_rejection(request)
    if rejected:
        return PodObservation(name=request.pod_name, error=rejected), stack, Status.RAN, ""
    attachments = [Attachment(b.network, b.nad.config, b.element) for b in request.bindings]
    pod = backend.run_pod(request.pod_name, request.namespace, attachments, request.annotations)
    return pod, stack, Status.RAN, ""


def run_as_pasted(runner: PodRunner, request: Request) -> PastedRun:
    """The request as pasted on an open runner (kind's repro, and any backend's without a hook)."""
    pod, stack, status, reason = run_pod(runner, request, runner.stack())
    return PastedRun(pod, stack, status, reason)


def run_on_pods(open_pods: Callable[[Any], PodRunner], request: Request, opts: Any) -> PastedRun:
    """The repro of a backend whose registry entry has `pods` but no `repro` hook: one runner
    opened with the options, the request as pasted, the runner closed again."""
    runner = open_pods(opts)
    try:
        return run_as_pasted(runner, request)
    finally:
        runner.close()


def in_process(
    runner: Any,
    request: Request,
    opts: ReproOptions,
    name: str,
    plugin_dirs: Sequence[str],
    pod_has_eth0: bool = False,
    fix_dirs: list[str] | None = None,
) -> PastedRun:
    """The plugins-only tiers (netns, real Multus), which run the pasted plugins on this machine:
    an IPAM that cannot run here (ipam_substitute.CANNOT_RUN) runs as `static` with the address
    the pod asked for, unless `opts.substitute` is off; the user's request itself is not
    changed. An input these tiers cannot run is `unsupported`, with the reason."""
    stack = runner.stack()
    subs: list[ipam_substitute.Substitution] = []
    to_run = request
    if opts.substitute:
        to_run, subs, refused = ipam_substitute.apply(request)
        if refused:
            return PastedRun(
                None, stack, Status.UNSUPPORTED, f"{name} backend: {refused}", fix_dirs=fix_dirs
            )
    why = netns_unsupported(
        to_run, plugin_dirs, substitute_hint=not opts.substitute, pod_has_eth0=pod_has_eth0
    )
    if why:
        return PastedRun(
            None, stack, Status.UNSUPPORTED, f"{name} backend: {why}", fix_dirs=fix_dirs
        )
    pod, stack, status, reason = run_pod(runner, to_run, stack)
    return PastedRun(pod, stack, status, reason, subs, fix_dirs)
