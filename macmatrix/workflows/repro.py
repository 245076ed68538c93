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
from typing import Any

from macmatrix import __version__
from macmatrix.backends import podrun, registry
from macmatrix.backends.base import PastedRun, ReproOptions
from macmatrix.backends.netns import state_paths
from macmatrix.build.ipam_substitute import Substitution
from macmatrix.errors import BadInput, InfraError
from macmatrix.judge import pasted
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run import results
from macmatrix.spec.userinput import NETWORKS, Request
from macmatrix.types import Outcome, Status
from macmatrix.workflows import fixsearch
from macmatrix.workflows.lint import Finding, lint

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


# the plugin types the fix search's remedies can add (workflows/remedies.py: tuning)
FIX_PLUGIN_TYPES = ("tuning",)


def run_on(backend: str, request: Request, opts: ReproOptions) -> PastedRun:
    """The request on `backend`, as its registry entry says: its `repro` hook, else the request
    as pasted on a runner its `pods` opens (pick_backend checked that it has one)."""
    entry = registry.get(backend)
    if entry.repro is not None:
        return entry.repro(request, opts)
    if entry.pods is None:  # pick_backend checked
        raise BadInput(f"--backend {backend}: cannot run a single repro pod in this build")
    return podrun.run_on_pods(entry.pods, request, opts)


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
            "state_confined": state_confined(request) if _confines_state(stack) else [],
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


def _confines_state(stack: dict[str, Any]) -> bool:
    found = registry.find(str(stack.get("backend", "")))
    return found is not None and found.confines_state


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

    `substitute`: on the plugins-only tiers, run an IPAM that needs a cluster as static
    (ipam_substitute); a cluster never substitutes. `plugin_timeout`: seconds per plugin call
    there (default 30). What differs per backend is its registry entry's (`repro`, `pods`).
    """
    lint(request.paste)  # input the linter cannot read is bad input: say so before any work
    refuse_wrong_types(request)  # lint's element-wrong-type error, as one line and exit 2
    opts = ReproOptions(
        stack=stack_name,
        cni_bin_dir=list(bin_dirs) if bin_dirs else None,
        plugin_timeout=plugin_timeout,
        substitute=substitute,
        later_types=FIX_PLUGIN_TYPES,
    )
    start = time.monotonic()
    try:
        done = run_on(backend, request, opts)
    except InfraError as e:
        done = PastedRun(None, {"backend": backend}, Status.INFRA_ERROR, str(e))
    except OSError as e:  # netlink/namespace trouble: the harness, not the user's config
        done = PastedRun(None, {"backend": backend}, Status.INFRA_ERROR, f"{type(e).__name__}: {e}")
    try:
        return _entry(request, backend, note, done, start, opts, fix)
    finally:
        if done.runner is not None:
            done.runner.close()


def _entry(
    request: Request,
    backend: str,
    note: str,
    done: PastedRun,
    start: float,
    opts: ReproOptions,
    fix: bool,
) -> dict[str, Any]:
    stack = done.stack
    if opts.stack and not registry.get(backend).runs_stacks:
        installs = " or ".join(e.name for e in registry.entries() if e.runs_stacks)
        stack = {
            **stack,
            "stack_requested": f"{opts.stack} (only the {installs} backend installs stacks)",
        }
    stack = versions_block(stack, backend, note)
    findings = lint(request.paste, _plugins_version(stack))
    entry = build_entry(
        request,
        done.pod,
        done.status,
        done.reason,
        findings,
        stack,
        time.monotonic() - start,
        done.substitutions,
    )
    dirs = done.fix_dirs if done.fix_dirs is not None else opts.cni_bin_dir
    entry["fix"] = _fix(
        request, entry, dirs, opts.substitute, fix, done.runner, opts.plugin_timeout
    )
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
