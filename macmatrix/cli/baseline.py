"""`macmatrix baseline update|check|plan-upgrade`: the command line of views/baseline.py."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from macmatrix import data
from macmatrix.cli import options
from macmatrix.errors import BadInput, InfraError
from macmatrix.run import results
from macmatrix.types import Outcome
from macmatrix.views import baseline, compare


def parser() -> argparse.ArgumentParser:
    p = options.Parser(
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
    options.add(
        up,
        "out",
        default=None,
        metavar="FILE",
        help="default: e2e/baselines/<stack>-<backend>.json",
    )
    up.add_argument(
        "--keep-known",
        action="store_true",
        help="for a case that hit an infra error, keep the entry the existing baseline has "
        "(its last known behaviour) instead of dropping it",
    )
    ck = sub.add_parser("check", help="exit 1 if a results.json departs from its baseline")
    ck.add_argument("results", metavar="RESULTS.json")
    options.add(ck, "baseline", metavar="FILE", help="default: the committed baseline of the stack")
    options.add(ck, "markdown")
    options.add(ck, "allow-empty")
    pu = sub.add_parser(
        "plan-upgrade",
        help="print the commands of an upgrade check between two stacks of clusters/stacks.toml",
    )
    pu.add_argument("old", metavar="FROM", help="the stack in use, e.g. kube-ovn-v1.13")
    pu.add_argument("new", metavar="TO", help="the stack to upgrade to, e.g. kube-ovn-v1.14")
    options.add(pu, "stacks")
    options.add(pu, "lock", help="with --in-place: the lock whose hashes the plan shows")
    options.add(pu, "out", metavar="DIR", help="where the runs write")
    options.add(pu, "baseline", metavar="FILE", help="FROM's baseline (default: the committed one)")
    pu.add_argument(
        "--in-place",
        "--dry-run",
        dest="in_place",
        action="store_true",
        help="print the whole in-place upgrade check instead (what `pytest e2e/test_upgrade.py "
        "--upgrade-from FROM --upgrade-to TO` does on one kind cluster); touches nothing",
    )
    options.add(pu, "matrix", metavar="FILE", help="with --in-place: the matrix (default: ours)")
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    if args.action == "plan-upgrade":
        with options.data_files(args):
            if args.in_place:
                return _plan_in_place(args.old, args.new, args.matrix)
            return _plan(args.old, args.new, args.out, args.baseline)
    if baseline.looks_like_baseline(args.results):
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
    steps = baseline.plan_upgrade(old, new, out_dir, Path(given) if given else None)
    print(baseline.render_plan(old, new, steps), end="")
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
        path = baseline.baseline_path(doc.get("stack") or {})
    base, skipped = baseline.build(doc)
    old = _previous_cases(path, strict=keep_known)
    kept = sorted(cid for cid in skipped if cid in old) if keep_known else []
    for cid in kept:
        base["cases"][cid] = old[cid]
    skipped = [cid for cid in skipped if cid not in kept]
    if not base["cases"]:
        raise InfraError(
            f"{source}: all {len(skipped)} case(s) are infra errors; nothing to write; re-run"
        )
    text = baseline.dumps(base)
    unchanged = path.exists() and path.read_text() == text
    if not unchanged:
        results.atomic_write(path, text)
    counts = Counter(e["outcome"] for e in base["cases"].values())
    what = ", ".join(f"{counts[o]} {o}" for o in Outcome if counts[o])
    verb = "unchanged" if unchanged else "wrote"
    print(f"{verb} {baseline.display(path)}: {len(base['cases'])} case(s) ({what})")
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
        return dict(baseline.load(path)["cases"])
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
        path = baseline.baseline_path(doc.get("stack") or {})
        if not path.exists():
            raise BadInput(
                "--baseline: no committed baseline for this stack at "
                f"{baseline.display(path)}; write one with `macmatrix baseline update {source}` "
                "or pass --baseline FILE"
            )
    base = baseline.load(path)
    cmp = compare.diff(
        baseline.behaviours(base),
        compare.behaviours_from_results(doc, source),
        base_label=f"baseline {base[baseline.PATH_KEY]}",
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
