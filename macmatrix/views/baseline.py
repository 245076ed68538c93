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

import argparse
import json
import re
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macmatrix import data
from macmatrix.errors import BadInput, InfraError
from macmatrix.judge.verdict import OUTCOMES, Expectation
from macmatrix.observe import INFRA_ERROR, UNSUPPORTED
from macmatrix.run import results
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
        if b.outcome == INFRA_ERROR:
            skipped.append(cid)
        elif b.outcome == UNSUPPORTED:
            cases[cid] = {"outcome": UNSUPPORTED}
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
        if not isinstance(entry, dict) or entry.get("outcome") not in OUTCOMES:
            raise BadInput(f"{where}: cases.{cid}: `outcome` must be one of {', '.join(OUTCOMES)}")
        if entry["outcome"] == INFRA_ERROR:
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
        outcome=entry["outcome"],
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


# --------------------------------------------------------------------------- command line


def parser() -> argparse.ArgumentParser:
    p = compare._Parser(
        prog="macmatrix baseline",
        description="Write or check the committed baseline of a stack (outcomes and check "
        "ok-values only). A case passes when it behaves as the baseline says, even when that "
        "behaviour is broken; any change in either direction fails (exit 1). Infra-error "
        "cases are never a change: when they are all that is left, check exits 3 (re-run).",
    )
    sub = p.add_subparsers(dest="action", metavar="{update,check,plan-upgrade}")
    sub.required = True
    up = sub.add_parser("update", help="write a baseline from a results.json")
    up.add_argument("results", metavar="RESULTS.json")
    up.add_argument("--out", metavar="FILE", help="default: e2e/baselines/<stack>-<backend>.json")
    up.add_argument(
        "--keep-known",
        action="store_true",
        help="for a case that hit an infra error, keep the entry the existing baseline has "
        "(its last known behaviour) instead of dropping it",
    )
    ck = sub.add_parser("check", help="exit 1 if a results.json departs from its baseline")
    ck.add_argument("results", metavar="RESULTS.json")
    ck.add_argument(
        "--baseline", metavar="FILE", help="default: the committed baseline of the stack"
    )
    ck.add_argument("--markdown", action="store_true", help="print Markdown for a PR comment")
    compare.add_allow_empty(ck)
    pu = sub.add_parser(
        "plan-upgrade",
        help="print the commands of an upgrade check between two stacks of clusters/stacks.toml",
    )
    pu.add_argument("old", metavar="FROM", help="the stack in use, e.g. kube-ovn-v1.13")
    pu.add_argument("new", metavar="TO", help="the stack to upgrade to, e.g. kube-ovn-v1.14")
    pu.add_argument("--out", default="results", metavar="DIR", help="where the runs write")
    pu.add_argument(
        "--baseline", metavar="FILE", help="FROM's baseline (default: the committed one)"
    )
    pu.add_argument(
        "--in-place",
        "--dry-run",
        dest="in_place",
        action="store_true",
        help="print the whole in-place upgrade check instead (what `pytest e2e/test_upgrade.py "
        "--upgrade-from FROM --upgrade-to TO` does on one kind cluster); touches nothing",
    )
    pu.add_argument("--matrix", metavar="FILE", help="with --in-place: the matrix (default: ours)")
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    if args.action == "plan-upgrade":
        if args.in_place:
            return _plan_in_place(args.old, args.new, args.matrix)
        return _plan(args.old, args.new, args.out, args.baseline)
    if looks_like_baseline(args.results):
        raise BadInput(
            f"RESULTS.json: {args.results} is a baseline, not a results.json; pass a run's "
            "results.json (compare two baselines with `macmatrix compare`)"
        )
    doc = results.load(args.results)
    if args.action == "update":
        return _update(doc, args.results, args.out, args.keep_known)
    return _check(doc, args.results, args.baseline, args.markdown, args.allow_empty)


def _plan(old_name: str, new_name: str, out_dir: str, given: str | None) -> int:
    from macmatrix.spec import (
        stacks,  # the kind backend's named stacks (BadInput on an unknown name)
    )

    old, new = stacks.get(old_name).as_stack_dict(), stacks.get(new_name).as_stack_dict()
    steps = plan_upgrade(old, new, out_dir, Path(given) if given else None)
    print(render_plan(old, new, steps), end="")
    return 0


def _plan_in_place(old_name: str, new_name: str, matrix: str | None) -> int:
    """The in-place check's plan: FROM installed, pods kept, upgrade, checks, second run."""
    from macmatrix.backends.kind.stack import upgrade
    from macmatrix.backends.kind.stack.lock import Lock
    from macmatrix.spec import stacks
    from macmatrix.spec.cases import default_matrix_path
    from macmatrix.spec.cases import load as load_cases

    up = upgrade.plan(
        stacks.get(old_name, field="FROM"), stacks.get(new_name, field="TO"), field="TO"
    )
    cases = load_cases(Path(matrix) if matrix else default_matrix_path())
    lock_file = data.lock_to_read()
    lock = Lock(lock_file) if lock_file.exists() else None
    print(upgrade.render(up, cases, lock=lock), end="")
    return 0


def _update(doc: dict[str, Any], source: str, out: str | None, keep_known: bool = False) -> int:
    if out:
        path = Path(out)
    else:  # the repository's copy; an installed macmatrix never writes into its package
        data.writable_root("--out")
        path = baseline_path(doc.get("stack") or {})
    base, skipped = build(doc)
    old = _previous_cases(path, strict=keep_known)
    kept = sorted(cid for cid in skipped if cid in old) if keep_known else []
    for cid in kept:
        base["cases"][cid] = old[cid]
    skipped = [cid for cid in skipped if cid not in kept]
    if not base["cases"]:
        raise InfraError(
            f"{source}: all {len(skipped)} case(s) are infra errors; nothing to write; re-run"
        )
    text = dumps(base)
    unchanged = path.exists() and path.read_text() == text
    if not unchanged:
        results.atomic_write(path, text)
    counts = Counter(e["outcome"] for e in base["cases"].values())
    what = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
    verb = "unchanged" if unchanged else "wrote"
    print(f"{verb} {display(path)}: {len(base['cases'])} case(s) ({what})")
    if skipped:
        print(
            f"not written: {len(skipped)} infra-error case(s) — they say nothing about "
            "behaviour; re-run them before committing the baseline:"
        )
        print("".join(f"  {cid}\n" for cid in skipped), end="")
        dropped = [cid for cid in skipped if cid in old]
        if dropped:
            print(
                f"{len(dropped)} of them were in the previous baseline and are now dropped; "
                "--keep-known keeps their last known entries"
            )
    if kept:
        print(f"kept the previous entries of {len(kept)} infra-error case(s) (--keep-known)")
    if not doc.get("complete", True):
        print(f"note: {source} is from an incomplete run")
    return 0


def _previous_cases(path: Path, strict: bool) -> dict[str, Any]:
    """Cases of the baseline about to be replaced; a broken file only matters to --keep-known."""
    if not path.exists():
        return {}
    try:
        return dict(load(path)["cases"])
    except BadInput:
        if strict:
            raise
        return {}


def _check(
    doc: dict[str, Any], source: str, given: str | None, markdown: bool, allow_empty: bool = False
) -> int:
    if given:
        path = Path(given)
    else:
        path = baseline_path(doc.get("stack") or {})
        if not path.exists():
            raise BadInput(
                f"--baseline: no committed baseline for this stack at {display(path)}; write "
                f"one with `macmatrix baseline update {source}` or pass --baseline FILE"
            )
    base = load(path)
    cmp = compare.diff(
        behaviours(base),
        compare.behaviours_from_results(doc, source),
        base_label=f"baseline {base[PATH_KEY]}",
        head_label=source,
        base_stack=base.get("stack"),
        head_stack=doc.get("stack"),
    )
    compare.require_shared(cmp, allow_empty)
    cmp.notes += compare.run_notes(doc, "the results")
    if base.get("stack", {}).get("backend") != (doc.get("stack") or {}).get("backend"):
        cmp.notes.append("the baseline was written on another backend; expect unsupported moves")
    if cmp.only_base:
        cmp.notes.append(f"{len(cmp.only_base)} baseline case(s) were not run (not a failure)")
    if cmp.only_head:
        cmp.notes.append(
            f"{len(cmp.only_head)} case(s) have no baseline entry yet (not a failure); "
            "`macmatrix baseline update` adds them"
        )
    # Against a baseline every change in behaviour fails; infra errors are reported as exit 3.
    fail_on = set(compare.FINDING_KINDS) | {compare.INFRA}
    failing = compare.failing_kinds(cmp, fail_on)
    if markdown:
        print(
            compare.render_markdown(
                cmp, failing, title="baseline check", ok_text="behaves as the baseline"
            ),
            end="",
        )
    else:
        print(compare.render_text(cmp, failing), end="")
    return compare.exit_code(cmp, fail_on)
