"""`macmatrix repro`: run a pasted NAD + pod exactly as Multus would, and explain the MACs.

The user's config is never normalised: each NAD's spec.config goes to the backend as written, the
networks elements as Multus parses them. The answer per interface compares four MACs - requested,
kernel, Multus network-status, Kube-OVN annotation - with named checks (the results.json case
shape), and the linter supplies the likely cause and its fix. The request is judged by the
matrix's judge (judge/pasted.py -> verdict.judge_pods) and written by its entry builder
(run/results.entry).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from macmatrix import __version__
from macmatrix.backends import registry
from macmatrix.backends.base import PodRunner
from macmatrix.backends.netns import state_paths
from macmatrix.build.ipam_substitute import Substitution
from macmatrix.build.ipam_substitute import apply as substitute_ipam
from macmatrix.errors import BadInput, InfraError
from macmatrix.judge import pasted
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run import results
from macmatrix.spec.userinput import NETWORKS, Request
from macmatrix.types import Outcome, Status
from macmatrix.workflows import fixsearch, podrun
from macmatrix.workflows.lint import Finding, lint

# --------------------------------------------------------------------------- what cannot run

# the backends whose repro runs the pasted plugins in-process here (ipam substitution)
IN_PROCESS = ("netns", "multus")


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


# --------------------------------------------------------------------------- backends


def pick_backend(choice: str) -> tuple[str, str]:
    """(backend, note): a backend that can run a single pod (registry `pods`); auto: the
    registry's pick among those (kind when a Docker engine answers, else netns)."""
    if choice == registry.AUTO:
        picked, why = registry.pick_auto(need_pods=True)
        return picked, f"auto: {why}"
    entry = registry.get(choice)
    if entry.pods is None:
        able = [e.name for e in registry.entries() if e.pods is not None]
        raise BadInput(
            f"--backend {choice}: this backend cannot run a single repro pod with the pasted "
            f"NADs in this build; use --backend {' or '.join(able)}"
        )
    return entry.name, ""


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
        why = podrun.netns_unsupported(to_run, nb.bin_dirs, substitute_hint=not substitute)
        if why:
            return None, stack, Status.UNSUPPORTED, f"netns backend: {why}", []
        return (*podrun.run_pod(nb, to_run, stack), subs)


def _run_multus(
    request: Request,
    stack_name: str | None,
    substitute: bool = True,
    plugin_timeout: float | None = None,
) -> tuple[PodObservation | None, dict[str, Any], Status, str, list[Substitution], list[str]]:
    """(pod, stack, status, reason, substitutions, plugin dirs) through real Multus.

    backends/multus: the pasted NADs and pod go to a real kube-apiserver and the stack's thin
    Multus reads them from there, as in a cluster; IPAM substitution as on netns.
    """
    from macmatrix.backends.multus.backend import MultusBackend
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S

    timeout = DEFAULT_PLUGIN_TIMEOUT_S if plugin_timeout is None else plugin_timeout
    with MultusBackend(stack_name, timeout=timeout) as mb:
        stack, dirs = mb.stack(), [mb.plugins_dir]
        subs: list[Substitution] = []
        to_run = request
        if substitute:
            to_run, subs, refused = substitute_ipam(request)
            if refused:
                return None, stack, Status.UNSUPPORTED, f"multus backend: {refused}", [], dirs
        why = podrun.netns_unsupported(
            to_run, dirs, substitute_hint=not substitute, pod_has_eth0=True
        )
        if why:
            return None, stack, Status.UNSUPPORTED, f"multus backend: {why}", [], dirs
        return (*podrun.run_pod(mb, to_run, stack), subs, dirs)


def _open_pods(backend: str, stack_name: str | None) -> PodRunner:
    """The single-pod runner of `backend` (registry `pods`; on kind the kept cluster of
    `stack_name`, the newest stack without one); the caller closes it."""
    factory = registry.get(backend).pods
    if factory is None:  # pick_backend checked
        raise BadInput(f"--backend {backend}: cannot run a single repro pod in this build")
    return factory(SimpleNamespace(stack=stack_name))


# the plugin types the fix search's remedies can add (workflows/remedies.py: tuning)
FIX_PLUGIN_TYPES = ("tuning",)


def _run_kind(
    request: Request, backend: Any
) -> tuple[PodObservation | None, dict[str, Any], Status, str]:
    """One pod on the kind backend (see _open_pods)."""
    from macmatrix.backends.kind.stack.inventory import needed_by

    # a plugin the nodes lack is copied in when the stack's plugins release has it;
    # otherwise the input cannot run here: unsupported, never a (false) broken
    nads = [(b.network, b.nad.config) for b in request.bindings]
    extra = [("the fix search", {"type": t}) for t in FIX_PLUGIN_TYPES]
    if backend.need_plugins(needed_by(nads + extra)) is not None:  # else the fix search's too
        why = backend.need_plugins(needed_by(nads))
        if why:
            return None, backend.stack(), Status.UNSUPPORTED, f"kind backend: {why}"
    return podrun.run_pod(backend, request, backend.stack())


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
    """A results.json case for the repro (results.entry, as the matrix's), with the report's
    extra fields. `status`: the backend's (ran, unsupported, infra-error) with its `reason`."""
    substituted = [s.network for s in substitutions]
    known = Status(status) if pod is not None or status != Status.RAN else Status.UNSUPPORTED
    obs = CaseObservation(
        case_id(request),
        known,
        (reason or "not run") if known != Status.RAN else "",
        [pod] if pod is not None else [],
        attempts=1 if status != Status.UNSUPPORTED else 0,
        duration_s=duration_s,
        ipam_substituted=[s.to_json() for s in substitutions] if pod is not None else [],
    )
    verdict, rows = pasted.judge_observed(request, obs, substituted)
    axes = {
        "source": ", ".join(request.paste.sources),
        "networks": request.networks_value,
        "backend": str(stack.get("backend", "")),
    }
    asked = [{r.ifname: r.requested for r in rows}]
    entry: dict[str, Any] = dict(results.entry(obs.case_id, axes, obs, verdict, asked))
    entry.update(
        {
            "stack": stack,
            "interfaces": [r.to_json() for r in rows],
            # not run (unsupported here): what the plugins would have received
            "planned_invocations": pasted.planned_invocations(request) if pod is None else [],
            "lint": [f.to_json() for f in findings],
            # netns only: IPAMs that ran as static, and what only the real IPAM decides
            "ipam_substituted": [s.to_json() for s in substitutions],
            # netns: state paths the config sets that the run kept in its temp folder instead
            "state_confined": state_confined(request)
            if stack.get("backend") in ("netns", "multus")
            else [],
            "not_judged": entry.get("not_judged", []),
            "input": {
                "pod": request.pod_name,
                "namespace": request.namespace,
                "annotations": request.annotations,
                "nads": {b.network: b.nad.raw for b in request.bindings},
                "elements": [b.element for b in request.bindings],
            },
        }
    )
    return entry


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
    # netns and multus run in-process below (IPAM substitution, plugin dirs); others through
    # their single-pod runner (registry `pods`)
    kind_backend = None if backend in IN_PROCESS else _open_pods(backend, stack_name)
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
        elif backend == "multus":
            # the fix search then verifies on netns with this stack's plugins release
            pod, stack, status, reason, subs, bin_dirs = _run_multus(
                request, stack_name, substitute, plugin_timeout
            )
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
    if stack_name and not registry.get(backend).runs_stacks:
        installs = " or ".join(e.name for e in registry.entries() if e.runs_stacks)
        stack = {
            **stack,
            "stack_requested": f"{stack_name} (only the {installs} backend installs stacks)",
        }
    stack = versions_block(stack, backend, note)
    findings = lint(request.paste, _plugins_version(stack))
    entry = build_entry(
        request, pod, status, reason, findings, stack, time.monotonic() - start, subs
    )
    entry["fix"] = _fix(request, entry, bin_dirs, substitute, fix, kind_backend, plugin_timeout)
    return entry


def _fix(
    request: Request,
    entry: dict[str, Any],
    bin_dirs: Sequence[str] | None,
    substitute: bool,
    fix: bool,
    kind_backend: Any | None = None,
    plugin_timeout: float | None = None,
) -> dict[str, Any]:
    """The verified-fix search (macmatrix.workflows.fixsearch), when the report does not work;
    its netns candidates run with the same `plugin_timeout` as the report did."""
    if not fix:
        return {"searched": False, "why": "--no-fix"}
    if not fixsearch.needs_fix(entry):
        why = (
            "nothing to fix" if entry["outcome"] == Outcome.WORKS else f"outcome {entry['outcome']}"
        )
        return {"searched": False, "why": why}
    try:
        return fixsearch.search(
            request,
            entry,
            bin_dirs,
            substitute,
            kind_backend=kind_backend,
            plugin_timeout=plugin_timeout,
        )
    except (InfraError, OSError) as e:
        return {"searched": False, "why": f"the search failed: {type(e).__name__}: {e}"}


def _plugins_version(stack: dict[str, Any]) -> str | None:
    v = stack.get("cni_plugins")
    return str(v) if v and v != "unknown" else None


EXIT = {Outcome.WORKS: 0, Outcome.BROKEN: 1, Outcome.INFRA_ERROR: 3, Outcome.UNSUPPORTED: 3}
