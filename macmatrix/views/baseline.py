"""Baselines: the committed, known behaviour of a stack, so any change — better or worse — is loud.

A baseline is its own small JSON, written from a results.json and meant to be reviewed in a diff:

    {"cases": {"<case id>": {"checks": {"<name>": true|false}, "outcome": "works|broken"},
               "<unsupported id>": {"outcome": "unsupported"}},
     "schema": 1,
     "stack": {"backend": ..., "name": ..., "<component>": "<version>", ...}}

Keys sorted, indent 2, trailing newline: the same behaviour always gives the same bytes. Only
outcomes and check ok-values are kept — no timings, reasons or (random) MACs. Infra-error cases
are left out: they say nothing about behaviour, so a later run falls back to the model for them.

    macmatrix baseline update RESULTS.json [--out FILE] [--keep-known]
    macmatrix baseline check  RESULTS.json [--baseline FILE] [--markdown]
    macmatrix baseline plan-upgrade FROM TO [--out DIR] [--baseline FILE]

Without --out/--baseline the file is e2e/baselines/<stack name or backend>-<backend>.json.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macmatrix import data, versions
from macmatrix.errors import BadInput
from macmatrix.judge.verdict import Expectation
from macmatrix.run import results
from macmatrix.spec.cases import Case
from macmatrix.types import Outcome, outcome_of
from macmatrix.views import compare

SCHEMA = 1
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
# Key a loaded baseline carries in memory (never written) so expectations can name their file.
PATH_KEY = "path"


def repo_root() -> Path:
    """Where e2e/baselines is read: the checkout, else the installed package (macmatrix/data)."""
    return data.root()


def baseline_path(stack: Mapping[str, Any], root: Path | None = None) -> Path:
    """e2e/baselines/<stack name or backend>-<backend>.json under the repo root (or `root`)."""
    if not isinstance(stack, Mapping):
        raise BadInput("stack: missing from the results file; re-run with this macmatrix")
    backend = stack.get("backend")
    name = stack.get("name") or backend
    for field, value in (("stack.backend", backend), ("stack.name", name)):
        if not isinstance(value, str) or not _SAFE_NAME.match(value):
            raise BadInput(
                f"{field}: {value!r} is not a known stack name; the results file must name its "
                "backend (and stack) in letters, digits, . _ + -, or pass --out/--baseline FILE"
            )
    return (root or repo_root()) / data.BASELINES / f"{name}-{backend}.json"


def display(path: Path) -> str:
    """A path relative to the repo root when inside it (stable across checkouts)."""
    root = repo_root()
    for candidate, base in ((path.absolute(), root), (path.resolve(), root.resolve())):
        if candidate.is_relative_to(base):
            return str(candidate.relative_to(base))
    return str(path)


# --------------------------------------------------------------------------- build and write


def build(results_doc: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A baseline from a loaded results.json, and the ids of infra-error cases left out."""
    behaviours = compare.behaviours_from_results(results_doc, "results")
    cases: dict[str, Any] = {}
    skipped: list[str] = []
    for cid, b in behaviours.items():
        if b.outcome == Outcome.INFRA_ERROR:
            skipped.append(cid)
        elif b.outcome == Outcome.UNSUPPORTED:
            cases[cid] = {"outcome": Outcome.UNSUPPORTED}
        else:
            cases[cid] = {"outcome": b.outcome, "checks": dict(b.checks)}
    doc = {"schema": SCHEMA, "stack": stack_versions(results_doc.get("stack")), "cases": cases}
    return doc, sorted(skipped)


def stack_versions(stack: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stack's scalar entries (name, backend, versions); host paths and lists stay out."""
    return {k: v for k, v in (stack or {}).items() if v is None or isinstance(v, str | int | float)}


def dumps(doc: Mapping[str, Any]) -> str:
    """Stable, diff-friendly bytes: sorted keys, indent 2, trailing newline."""
    body = {k: v for k, v in doc.items() if k != PATH_KEY}
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- read


def load(path: str | Path) -> dict[str, Any]:
    """Read a baseline file (or a results.json, reduced to one) as the expectation of a run.

    Any problem is one BadInput line. The returned doc carries its display path under `path`.
    """
    p = Path(path)
    doc = results.read_json(p, "baseline .json")
    if isinstance(doc, dict) and isinstance(doc.get("cases"), list):
        # A results.json given as the baseline: reduce it the way `baseline update` would.
        doc, _ = build(results.load(p))
    else:
        validate(doc, str(p))
    doc[PATH_KEY] = display(p)
    return doc


def looks_like_baseline(path: str | Path) -> bool:
    """Whether `path` holds a baseline (a `cases` mapping), not a results.json (a list).

    False for anything unreadable, so the results loader reports the problem in its words.
    """
    try:
        doc = results.read_json(path, "baseline .json")
    except BadInput:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("cases"), dict)


def validate(doc: Any, where: str) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), dict) or "schema" not in doc:
        raise BadInput(f"{where}: not a macmatrix baseline (no `schema` / `cases` mapping)")
    if doc["schema"] != SCHEMA:
        raise BadInput(
            f"{where}: baseline schema {doc['schema']!r} but this macmatrix reads schema "
            f"{SCHEMA}; rewrite it with `macmatrix baseline update`"
        )
    if not isinstance(doc.get("stack", {}), dict):
        raise BadInput(f"{where}: `stack` must be a mapping of component -> version")
    for cid, entry in doc["cases"].items():
        if not isinstance(entry, dict) or outcome_of(entry.get("outcome")) is None:
            raise BadInput(f"{where}: cases.{cid}: `outcome` must be one of {', '.join(Outcome)}")
        if entry["outcome"] == Outcome.INFRA_ERROR:
            raise BadInput(
                f"{where}: cases.{cid}: infra-error says nothing about behaviour; remove the case"
            )
        checks = entry.get("checks", {})
        if not isinstance(checks, dict) or not all(isinstance(v, bool) for v in checks.values()):
            raise BadInput(f"{where}: cases.{cid}.checks must map check names to true/false")


def behaviours(doc: Mapping[str, Any]) -> dict[str, compare.Behaviour]:
    return {
        cid: compare.Behaviour(e["outcome"], dict(e.get("checks", {})))
        for cid, e in doc["cases"].items()
    }


def load_side(path: str | Path) -> tuple[dict[str, Any], dict[str, compare.Behaviour], str]:
    """A results.json or a committed baseline, its behaviours, and a label for the report.

    Accepting a baseline lets an upgrade gate compare the committed baseline of the current
    stack with a run of the next one, without re-running the current stack.
    """
    if looks_like_baseline(path):
        doc = load(path)
        return doc, behaviours(doc), f"baseline {doc[PATH_KEY]}"
    doc, found = compare.load_results(path)
    return doc, found, str(path)


def committed_baseline(stack: Mapping[str, Any]) -> dict[str, Any] | None:
    """e2e/baselines/<stack>-<backend>.json when the repository has one for this stack.

    A baseline records one plugins release's behaviour: when it names another `cni_plugins`
    than the run's (another distribution's /usr/lib/cni, say), the version-aware model judges.
    """
    try:
        path = baseline_path(stack)
    except BadInput:
        return None
    if not path.exists():
        return None
    doc = load(path)
    recorded = (doc.get("stack") or {}).get("cni_plugins")
    if recorded and versions.parse(recorded) != versions.parse(stack.get("cni_plugins")):
        return None
    return doc


def expectations(
    given: Mapping[str, Any] | None, use_committed: bool = True
) -> Callable[[Mapping[str, Any]], Callable[[Case], Expectation | None] | None]:
    """The `expect` of run.runner.execute: the baseline given (--baseline), else the committed
    one of the run's stack (unless --no-baseline), else none (the model judges every case)."""

    def for_stack(stack: Mapping[str, Any]) -> Callable[[Case], Expectation | None] | None:
        doc = given if given is not None else (committed_baseline(stack) if use_committed else None)
        if not doc:
            return None
        return lambda case: expectation_from_baseline(doc, case.id)

    return for_stack


def expectation_from_baseline(doc: Mapping[str, Any], case_id: str) -> Expectation | None:
    """The baseline's word on a case as a verdict Expectation; None when it has none.

    None (the case is new, or was an infra error when the baseline was written) means the
    caller should fall back to the model.
    """
    entry = doc["cases"].get(case_id)
    if entry is None:
        return None
    where = doc.get(PATH_KEY) or "(unsaved)"
    return Expectation(
        outcome=Outcome(entry["outcome"]),
        checks=dict(entry.get("checks", {})),
        why=[f"recorded in baseline {where} ({compare.stack_label(doc.get('stack') or {})})"],
        source=f"baseline:{where}",
    )


# --------------------------------------------------------------------------- upgrade check


@dataclass(frozen=True)
class Step:
    """One command of an upgrade check, and the exit codes that must not stop the check."""

    why: str
    argv: tuple[str, ...]
    tolerate: tuple[int, ...] = ()


def plan_upgrade(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    out_dir: str = "results",
    baseline_file: Path | None = None,
) -> list[Step]:
    """Commands that answer "does every combination that works on `old` still work on `new`?".

    `old`/`new` are results-style stack dicts (name, backend, versions). The old stack's
    behaviour comes from its committed baseline when there is one (no need to run it again),
    else from a run of it, written as that baseline for review. The gate is `compare` against
    the baseline: regressions exit 1, fixes pass; `--fail-on infra` (exit 3) so that cases the
    new run could not check never let the upgrade through unverified.
    """
    path = baseline_file or baseline_path(old)
    backend, old_name, new_name = new.get("backend"), old.get("name"), new.get("name")
    if old.get("backend") != backend:
        raise BadInput(f"stack: {old_name} runs on {old.get('backend')}, {new_name} on {backend}")
    if old_name == new_name:
        raise BadInput(f"stack: {old_name} -> {new_name} is no upgrade; name two stacks")
    shown = display(path)

    def run(name: Any) -> tuple[str, ...]:
        out = f"{out_dir}/{name}"
        return ("macmatrix", "run", "--backend", str(backend), "--stack", str(name), "--out", out)

    steps: list[Step] = []
    if not path.exists():
        steps += [
            Step(
                f"no baseline for {old_name} at {shown} yet: run it (1 = differs from the "
                "model, 3 = some infra errors: both still make a baseline)",
                run(old_name),
                (1, 3),
            ),
            Step(
                f"write what {old_name} does as its baseline (review, then commit it)",
                ("macmatrix", "baseline", "update", f"{out_dir}/{old_name}/results.json")
                + ("--out", shown),
            ),
        ]
    steps += [
        Step(
            f"run {new_name} (1 = differs from the model, 3 = some infra errors: the gate "
            "judges both)",
            run(new_name),
            (1, 3),
        ),
        Step(
            f"the gate: exit 1 when a combination that works on {old_name} is broken on "
            f"{new_name}; exit 3 when infra errors left cases unchecked (re-run)",
            ("macmatrix", "compare", shown, f"{out_dir}/{new_name}/results.json")
            + ("--markdown", "--fail-on", "infra"),
        ),
    ]
    return steps


def render_plan(old: Mapping[str, Any], new: Mapping[str, Any], steps: Sequence[Step]) -> str:
    """A POSIX shell script of the plan, run from the repository root."""
    changes = [
        line
        for line in compare.stack_differences(stack_versions(old), stack_versions(new))
        if not line.startswith("name:")
    ]
    lines = [
        "#!/bin/sh",
        f"# macmatrix upgrade check: {old.get('name')} -> {new.get('name')}"
        f" ({new.get('backend')} backend); run from the repository root.",
        "# stack changes: " + ("; ".join(changes) or "none"),
        "set -e",
    ]
    for i, step in enumerate(steps, 1):
        cmd = shlex.join(step.argv)
        if step.tolerate:
            allowed = "".join(f"[ $rc -eq {code} ] || " for code in step.tolerate)
            cmd = f"{cmd} || {{ rc=$?; {allowed}exit $rc; }}"
        lines += [f"# {i}. {step.why}", cmd]
    return "\n".join(lines) + "\n"
