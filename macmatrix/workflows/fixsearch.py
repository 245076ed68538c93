"""Fix search for `repro`: the smallest edit of the user's own YAML that makes it work, verified.

When a repro does not work (or a requested MAC is not on its interface), every remedy of the
catalogue (workflows/remedies.py) proposes edits of the user's documents; each candidate runs on the
same backend as the repro (netns: real plugins, each worker with its own namespaces, in
parallel; kind: fixsearch_kind) and is judged by the repro's judge (judge/pasted.py, the matrix's
rules). Working candidates that still ask for the MAC the user asked for (unless the remedy fixes
that MAC on purpose) are ranked by the size of the edit; the best is shown as a unified diff of
the user's file plus the apply-ready YAML.
When no single edit works, pairs are tried.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from macmatrix.backends import podrun, registry
from macmatrix.errors import BadInput, InfraError
from macmatrix.judge import pasted
from macmatrix.spec.userinput import NETWORKS, Request, parse_text, resolve, unfence
from macmatrix.threads import wait_all
from macmatrix.types import Outcome
from macmatrix.workflows import fixsearch_kind
from macmatrix.workflows.candidates import Tried, apply, requested
from macmatrix.workflows.networks_lint import near_miss
from macmatrix.workflows.remedies import CATALOGUE, Candidate

__all__ = ["Tried", "apply", "needs_fix", "propose", "pairs", "render", "search"]

MAX_PAIRS = 24


# --------------------------------------------------------------------------- when to search


def needs_fix(entry: dict[str, Any]) -> bool:
    """Not works, or a requested MAC is not on its interface (also with an outcome of works)."""
    if entry.get("outcome") not in (Outcome.WORKS, Outcome.BROKEN):
        return False  # unsupported/infra: nothing ran that a fix could be verified against
    if entry["outcome"] != Outcome.WORKS:
        return True
    elements = (entry.get("input") or {}).get("elements") or []
    if any(near_miss(k) for el in elements if isinstance(el, dict) for k in el):
        return True  # e.g. `macAddress`: Multus drops it, so nothing was asked that could fail
    return any(
        r.get("requested") and r.get("kernel") and r["kernel"] != r["requested"]
        for r in entry.get("interfaces", [])
        if r.get("route") != "ovn"
    )


# --------------------------------------------------------------------------- candidates


def propose(request: Request, plugins: str | None) -> list[Candidate]:
    """Every single-edit candidate of the catalogue, without duplicates, in catalogue order."""
    out: dict[str, Candidate] = {}
    for remedy in CATALOGUE:
        for c in remedy.propose(request, plugins):
            out.setdefault(c.key, c)
    return list(out.values())


def pairs(request: Request, singles: Sequence[Candidate], plugins: str | None) -> list[Candidate]:
    """Two remedies after each other: the second is proposed on the first one's result."""
    out: dict[str, Candidate] = {}
    for first in singles:
        after = apply(request, first)
        for second in propose(after, plugins):
            if second.remedies[0] in first.remedies:
                continue
            pair = Candidate(
                first.remedies + second.remedies,
                first.edits + second.edits,
                first.changes_mac or second.changes_mac,
            )
            edits = "; ".join(sorted(pair.what.split("; ")))
            out.setdefault("+".join(sorted(pair.remedies)) + ": " + edits, pair)
    return sorted(out.values(), key=lambda c: c.size)[:MAX_PAIRS]


# --------------------------------------------------------------------------- running


def run_candidates(
    request: Request,
    candidates: Sequence[Candidate],
    bin_dirs: Sequence[str] | None,
    substitute: bool,
    workers: int = 4,
    plugin_timeout: float | None = None,
) -> list[Tried]:
    """Run each candidate on the netns backend, `workers` at a time, each worker in namespaces
    of its own (two candidates asking for the same MAC on one master would collide).

    `plugin_timeout`: seconds one plugin call may take, the user's `--plugin-timeout` (default
    30), so a hung plugin holds a candidate no longer than it held the report's own run."""
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S, NetnsBackend

    timeout = DEFAULT_PLUGIN_TIMEOUT_S if plugin_timeout is None else plugin_timeout

    want = requested(pasted.judge(request, None)[0])
    queue = list(enumerate(candidates))
    results: dict[int, Tried] = {}

    def worker() -> None:
        with NetnsBackend(cni_bin_dirs=list(bin_dirs) if bin_dirs else None, timeout=timeout) as nb:
            while queue:
                try:
                    i, cand = queue.pop(0)
                except IndexError:
                    return
                results[i] = _run_one(nb, request, cand, want, substitute)

    n = max(1, min(workers, len(candidates)))
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="fix") as pool:
        wait_all([pool.submit(worker) for _ in range(n)])
    return [results[i] for i in range(len(candidates))]


def _run_one(
    nb: Any, request: Request, cand: Candidate, want: list[str | None], substitute: bool
) -> Tried:
    from macmatrix.build.ipam_substitute import apply as substitute_ipam

    changed = apply(request, cand)
    to_run, subs, refused = substitute_ipam(changed) if substitute else (changed, [], None)
    why = refused or podrun.netns_unsupported(to_run, nb.bin_dirs)
    if why:
        return Tried(cand, Outcome.UNSUPPORTED, why, False, [])
    try:
        pod, _stack, _status, _reason = podrun.run_pod(nb, to_run, {})
    except (InfraError, OSError, BadInput) as e:
        return Tried(cand, Outcome.INFRA_ERROR, str(e), False, [])
    rows, _checks, outcome, reason = pasted.judge(changed, pod, [s.network for s in subs])
    got = requested(rows)
    keeps = cand.changes_mac or got == want
    if not keeps:
        reason = f"asks for other MACs ({got}) than the report ({want})" + (
            f"; {reason}" if reason else ""
        )
    return Tried(cand, outcome, reason, keeps, [r.to_json() for r in rows])


# --------------------------------------------------------------------------- the user's file


def render(request: Request, cand: Candidate) -> tuple[str, str, str]:
    """(fixed text, unified diff, what the diff is of) for the candidate.

    The user's file is edited in place where the edit can be located (the NAD's `config:` block,
    the pod's annotation lines) and the result is re-read to check it means the candidate;
    otherwise the NADs and pod are written out in a plain form and both sides of the diff use it.
    """
    fixed = apply(request, cand)
    name = request.paste.sources[0] if request.paste.sources else "input"
    text = request.paste.text
    if len(request.paste.sources) == 1:
        edited = _edit_text(text, request, fixed)
        if edited is not None and _means(edited, fixed):
            diff = _diff(text, edited, name)
            return edited, diff, name
    before, after = _plain(request), _plain(fixed)
    return after, _diff(before, after, name + " (as macmatrix reads it)"), "normalised input"


def _diff(a: str, b: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            a.splitlines(keepends=True), b.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )


def _means(text: str, fixed: Request) -> bool:
    """The edited text, read back the way repro reads it, is the candidate."""
    try:
        again = resolve(parse_text(text, "fixed"))
    except BadInput:
        return False
    return [(b.network, b.nad.config, b.element) for b in again.bindings] == [
        (b.network, b.nad.config, b.element) for b in fixed.bindings
    ] and again.annotations == fixed.annotations


_DOC_SEP = re.compile(r"^---\s*$")


def _regions(lines: list[str]) -> list[tuple[int, int]]:
    out, start = [], 0
    for i, line in enumerate(lines):
        if _DOC_SEP.match(line):
            out.append((start, i))
            start = i + 1
    out.append((start, len(lines)))
    return out


def _edit_text(text: str, before: Request, fixed: Request) -> str | None:
    if unfence(text) != text:
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for b_old, b_new in zip(before.bindings, fixed.bindings, strict=True):
        changed = b_old.nad.config != b_new.nad.config
        if changed and not _replace_config(lines, b_old.nad.name or "", b_new.nad.config):
            return None
    for key in sorted(set(before.annotations) | set(fixed.annotations)):
        old, new = before.annotations.get(key), fixed.annotations.get(key)
        if old != new and not _set_annotation(lines, key, new):
            return None
    return "".join(lines)


def _block_end(lines: list[str], start: int, end: int, indent: int) -> int:
    """First line after `start` (below `end`) back at `indent` or less (blank lines included)."""
    i = start + 1
    while i < end:
        stripped = lines[i].strip()
        if stripped and len(lines[i]) - len(lines[i].lstrip()) <= indent:
            break
        i += 1
    while i - 1 > start and not lines[i - 1].strip():
        i -= 1
    return i


def _replace_config(lines: list[str], nad_name: str, config: dict[str, Any]) -> bool:
    for start, end in _regions(lines):
        region = "".join(lines[start:end])
        if "NetworkAttachmentDefinition" not in region:
            continue
        if not re.search(rf"^\s*name:\s*['\"]?{re.escape(nad_name)}['\"]?\s*$", region, re.M):
            continue
        for i in range(start, end):
            m = re.match(r"^(\s*)config:", lines[i])
            if not m:
                continue
            indent = len(m.group(1))
            stop = _block_end(lines, i, end, indent)
            pad = " " * (indent + 2)
            body = json.dumps(config, indent=2).splitlines()
            lines[i:stop] = [f"{m.group(1)}config: |\n"] + [pad + b + "\n" for b in body]
            return True
    return False


def _yaml_value(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _set_annotation(lines: list[str], key: str, value: str | None) -> bool:
    pattern = re.compile(rf"^(\s*)['\"]?{re.escape(key)}['\"]?:")
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        stop = _block_end(lines, i, len(lines), indent)
        new = [] if value is None else [f"{m.group(1)}{key}: {_yaml_value(value)}\n"]
        lines[i:stop] = new
        return True
    if value is None:
        return True
    for i, line in enumerate(lines):  # a new annotation goes beside the networks one
        m = re.match(rf"^(\s*)['\"]?{re.escape(NETWORKS)}['\"]?:", line)
        if m:
            lines.insert(i + 1, f"{m.group(1)}{key}: {_yaml_value(value)}\n")
            return True
    return False


def _plain(request: Request) -> str:
    """The NADs and the pod of a request as plain YAML (for inputs we cannot edit in place)."""
    docs: list[dict[str, Any]] = []
    seen = set()
    for b in request.bindings:
        if b.network in seen:
            continue
        seen.add(b.network)
        ns, name = b.network.split("/", 1)
        docs.append(
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"config": json.dumps(b.nad.config, indent=2) + "\n"},
            }
        )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": request.pod_name,
                "namespace": request.namespace,
                "annotations": dict(request.annotations),
            },
        }
    )
    return yaml.dump_all(docs, Dumper=_BlockDumper, sort_keys=False)


class _BlockDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockDumper.add_representer(str, _str)


# --------------------------------------------------------------------------- the search


def search(
    request: Request,
    entry: dict[str, Any],
    bin_dirs: Sequence[str] | None = None,
    substitute: bool = True,
    workers: int = 4,
    kind_backend: Any | None = None,
    plugin_timeout: float | None = None,
) -> dict[str, Any]:
    """The `fix` block of a repro entry: tried candidates, the best verified one, or why none.

    On kind (`kind_backend`: the KindBackend the repro ran on) the candidates are pods of one
    wave (fixsearch_kind); on netns each runs in namespaces of its own, `workers` at a time,
    each plugin call bounded by `plugin_timeout` (netns only: kind's kubelet has its own).
    """
    start = time.monotonic()
    stack = entry.get("stack") or {}
    backend = str(stack.get("backend", ""))
    # a pod runner kept by the repro (kind): candidates as pods of a wave on it; a backend whose
    # registry entry says `fix_in_process` (netns): each in namespaces of its own, here
    on_pods = kind_backend is not None
    found = registry.find(backend)
    if not on_pods and not (found is not None and found.fix_in_process):
        return {"searched": False, "why": f"no fix search on backend {backend or 'unknown'}"}
    plugins = stack.get("cni_plugins")
    plugins = str(plugins) if plugins and plugins != "unknown" else None

    def run(cands: Sequence[Candidate]) -> list[Tried]:
        if on_pods:
            return fixsearch_kind.run_candidates(kind_backend, request, cands)
        return run_candidates(request, cands, bin_dirs, substitute, workers, plugin_timeout)

    singles = propose(request, plugins)
    tried = run(singles)
    if not any(t.works for t in tried):
        more = pairs(request, [t.candidate for t in tried], plugins)
        tried += run(more)
    working = sorted(
        (t for t in tried if t.works),
        key=lambda t: (t.candidate.size, len(t.candidate.edits), tried.index(t)),
    )
    if on_pods:
        verified_on = fixsearch_kind.verified_on(stack)
    else:
        verified_on = f"{backend} with containernetworking-plugins {plugins or 'unknown'}"
    out: dict[str, Any] = {
        "searched": True,
        "verified_on": verified_on,
        "tried": [t.to_json() for t in tried],
        "duration_s": round(time.monotonic() - start, 3),
        "best": None,
        "others": [],
    }
    if working:
        best = working[0]
        text, diff, of = render(request, best.candidate)
        out["best"] = {**best.to_json(), "diff": diff, "diff_of": of, "yaml": text}
        out["others"] = [t.to_json() for t in working[1:]]
    return out
