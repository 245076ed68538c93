"""The nightly's gate for one kind stack, and the bundle a maintainer commits after a real run.

A nightly is only worth having if it goes red when a stack misbehaves. Each stack's job:

1. `expect` decides what the run is judged against — the stack's committed kind baseline
   (e2e/baselines/<stack>-kind.json, the file `macmatrix run` itself would pick) when there is
   one, else the model (verdict.py) — and whether `--require-lock` applies: only once
   clusters/stacks.lock records at least one of the stack's downloads (before the first real run
   it cannot record any; these machines reach no download host).
2. `macmatrix run` runs with that expectation made explicit (`--baseline FILE` or `--no-baseline`).
3. `verdict` fails the job when the run differs from the expectation (exit 1), could not run
   (2, 3, no exit code, no or an incomplete results.json), regressed against the baseline
   (`macmatrix compare` exit 1), or when not one case works (a setup defect, never a baseline).
4. Every job uploads a proposed baseline and its filled lock; `bundle` (report job) merges them
   into one tree to unzip at the repository root and commit after review (docs/kind.md).

    python -m macmatrix.workflows.ci_gate expect  --stack S [--root DIR] [--record-lock]
                                                  [--github-output F]
    python -m macmatrix.workflows.ci_gate verdict --stack S --run-rc N [--compare-rc N]
                                    [--baseline FILE] --results FILE [--summary F]
    python -m macmatrix.workflows.ci_gate bundle  DIR... --out DIR [--root DIR] [--summary F]

`bundle` exits 0 when every proposal joined, 1 on a lock conflict (two runners saw different
bytes for one URL: a finding), 2 when a proposal was malformed (bad input: its baseline or lock
does not parse; it is named on one line and left out, the other stacks' proposals are bundled).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from macmatrix import data
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import BadInput, InfraError
from macmatrix.run import results
from macmatrix.spec import stacks
from macmatrix.types import Outcome
from macmatrix.views import baseline

BASELINES = data.BASELINES
LOCK = data.LOCK
DOC = "docs/kind.md, 'First real run'"

# --------------------------------------------------------------------------- expect


@dataclass(frozen=True)
class Expect:
    """What a stack's nightly run is judged against, and how strictly its downloads are held."""

    stack: str
    baseline: str  # repo-relative path of the committed kind baseline, "" = the model
    recorded: tuple[str, ...]  # the stack's download URLs that the lock already has
    missing: tuple[str, ...]  # ... and those it lacks
    require_lock: bool

    def outputs(self) -> dict[str, str]:
        return {
            "expectation": "baseline" if self.baseline else "model",
            "baseline": self.baseline,
            "require_lock": "true" if self.require_lock else "false",
            "lock_missing": str(len(self.missing)),
        }

    def describe(self) -> list[str]:
        if self.baseline:
            lines = [f"{self.stack}: judged against the committed baseline {self.baseline}"]
        else:
            lines = [
                f"::notice::{self.stack}: no kind baseline committed "
                f"({BASELINES}/{self.stack}-kind.json); judged against the model. A first real "
                f"run: review the proposed baseline artifact and commit it ({DOC})"
            ]
        total = len(self.recorded) + len(self.missing)
        if not self.recorded:
            lines.append(
                f"{self.stack}: lock has none of the stack's {total} downloads: not required; "
                f"this run records them (commit the proposed {LOCK})"
            )
        elif self.require_lock:
            lines.append(f"{self.stack}: lock has {len(self.recorded)} of {total}: --require-lock")
        else:
            lines.append(f"{self.stack}: --require-lock off for this run (record_lock)")
        if self.missing and self.require_lock:
            lines.append(
                f"::warning::{self.stack}: {LOCK} lacks {len(self.missing)} download(s) of this "
                f"stack, so the run will stop with exit 2: {', '.join(self.missing)}; run the "
                "nightly by hand with record_lock, then commit the proposed lock"
            )
        return lines


def expect(stack_name: str, root: Path, record_lock: bool = False) -> Expect:
    """Read stacks.toml, the committed baseline (validated) and the lock under `root`."""
    stack = stacks.get(stack_name, root / data.STACKS)
    path = baseline.baseline_path(stack.as_stack_dict(), root=root)
    shown = ""
    if path.exists():
        baseline.load(path)  # a broken committed baseline is one BadInput line, before the run
        shown = path.relative_to(root).as_posix()
    entries = Lock(root / LOCK).entries
    urls = stack.downloads()
    recorded = tuple(u for u in urls if u in entries)
    missing = tuple(u for u in urls if u not in entries)
    return Expect(stack_name, shown, recorded, missing, bool(recorded) and not record_lock)


# --------------------------------------------------------------------------- verdict


@dataclass
class Gate:
    """The pass/fail of one stack's job, with the reasons as GitHub annotations and Markdown."""

    stack: str
    failures: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def annotations(self) -> list[str]:
        out = [f"::error::{self.stack}: {f}" for f in self.failures]
        return out or [f"::notice::{self.stack}: as expected ({'; '.join(self.facts)})"]

    def markdown(self) -> str:
        head = "passed" if self.ok else "FAILED"
        lines = [f"### Gate {self.stack}: {head}", ""]
        lines += [f"- **{f}**" for f in self.failures]
        lines += [f"- {f}" for f in self.facts]
        if self.hints:
            lines += ["", *self.hints]
        return "\n".join(lines) + "\n"


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _load(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The results doc, or None and why not (one line)."""
    if not path.exists():
        return None, f"no results.json at {path}"
    try:
        return results.load(path), ""
    except BadInput as e:
        return None, str(e)


def verdict(
    stack: str,
    run_rc: str | None,
    results_path: Path,
    baseline_file: str = "",
    compare_rc: str | None = None,
    selection: str = "",
) -> Gate:
    """Pass only when the run finished, wrote a complete results.json, matched its expectation
    (exit 0), regressed nowhere against the baseline, and at least one case works (the whole
    matrix always has cases that work; a `-k` selection may hold only broken ones)."""
    gate = Gate(stack)
    against = f"baseline {baseline_file}" if baseline_file else "the model"
    gate.facts.append(f"expectation: {against}")
    doc, unreadable = _load(results_path)
    entries: list[dict[str, Any]] = list(doc["cases"]) if doc else []
    outcomes = Counter(str(e.get("outcome")) for e in entries)
    differ = sum(1 for e in entries if e.get("as_expected") is False)
    if doc is not None:
        gate.facts.append(
            f"{len(entries)} case(s): "
            + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            + f"; {differ} differ from the expectation"
        )

    rc = _int(run_rc)
    if rc is None:
        gate.failures.append("the run step did not finish (no exit code); see its log")
    elif rc == 1:
        gate.failures.append(f"{differ} case(s) differ from {against} (macmatrix run exit 1)")
    elif rc == 2:
        gate.failures.append("bad input or usage (macmatrix run exit 2); see the run step's log")
    elif rc == 3:
        infra = outcomes.get(Outcome.INFRA_ERROR, 0)
        what = f"{infra} infra-error case(s)" if infra else "the cluster or a download failed"
        gate.failures.append(f"infrastructure failure (exit 3): {what}; re-run")
    elif rc != 0:
        gate.failures.append(f"macmatrix run exited {rc}")

    if doc is None:
        gate.failures.append(unreadable)
    elif not doc.get("complete", False):
        gate.failures.append("results.json is from an incomplete run")
    judged = outcomes.get(Outcome.WORKS, 0) + outcomes.get(Outcome.BROKEN, 0)
    if selection:
        gate.facts.append(f"selection -k {selection!r}: the nothing-works rule is off")
    elif judged and not outcomes.get(Outcome.WORKS, 0):
        gate.failures.append(
            f"not one of {judged} judged case(s) works: a setup defect (a plugin missing on "
            "the nodes, a wrong master), never a baseline to commit"
        )

    crc = _int(compare_rc)
    if baseline_file and crc == 1:
        gate.failures.append(f"regressions against {baseline_file} (macmatrix compare exit 1)")
    elif baseline_file and crc not in (None, 0):
        gate.failures.append(f"the regression check against {baseline_file} exited {crc}")

    if not gate.ok and not baseline_file and rc == 1:
        gate.hints.append(
            f"No kind baseline is committed for {stack}, so the model was the expectation. "
            f"If this is the stack's first real run, download the `proposed-baselines-and-lock` "
            f"artifact, unzip it at the repository root, review `git diff` and the report, "
            f"and commit {BASELINES}/{stack}-kind.json (and {LOCK}); see {DOC}."
        )
    return gate


# --------------------------------------------------------------------------- bundle


@dataclass
class Bundle:
    written: dict[str, str] = field(default_factory=dict)  # repo path -> new|changed|unchanged
    lock_added: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "<proposal>: why", left out whole

    def exit_code(self) -> int:
        """2 when a proposal was malformed (bad input: that stack's upload, named in `rejected`,
        is left out and must be re-run; the others are bundled all the same), else 1 when two
        runners disagree on a download's digest (a finding), else 0."""
        return 2 if self.rejected else 1 if self.conflicts else 0


@dataclass(frozen=True)
class Proposal:
    """One stack's upload, read and validated whole before any of it joins the bundle."""

    source: Path
    baselines: tuple[Path, ...]
    lock: dict[str, str]


def read_proposal(src: Path) -> Proposal:
    """Every baseline under `src` (validated) and its lock's entries; BadInput names the file."""
    found = tuple(sorted((src / BASELINES).glob("*.json")))
    for proposed in found:
        baseline.load(proposed)  # only valid baselines go into the bundle
    lock_file = src / LOCK
    entries = Lock(lock_file).entries if lock_file.exists() else {}
    return Proposal(src, found, entries)


def bundle(sources: Sequence[Path], out: Path, root: Path) -> Bundle:
    """Merge per-stack proposals (each `<dir>/e2e/baselines/*.json`, `<dir>/clusters/stacks.lock`)
    into `out`, laid out like the repository. Lock entries are unioned over the committed lock;
    one URL with two digests is a conflict and stays out (the runners saw different bytes).

    A malformed proposal (a baseline or lock that does not parse) is left out whole and named in
    `rejected`, so one bad upload never costs the other stacks' proposals."""
    b = Bundle()
    committed = Lock(root / LOCK).entries if (root / LOCK).exists() else {}
    merged = dict(committed)
    for src in sources:
        if not src.is_dir():
            b.notes.append(f"{src}: no such folder (that stack uploaded no proposal)")
            continue
        try:
            proposal = read_proposal(src)
        except BadInput as e:
            b.rejected.append(f"{src.name}: {e}")
            continue
        for proposed in proposal.baselines:
            rel = (BASELINES / proposed.name).as_posix()
            mine = root / BASELINES / proposed.name
            state = "new"
            if mine.exists():
                state = "unchanged" if mine.read_bytes() == proposed.read_bytes() else "changed"
            dest = out / BASELINES / proposed.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(proposed, dest)
            b.written[rel] = state
        for url, digest in sorted(proposal.lock.items()):
            have = merged.get(url)
            if have is None:
                merged[url] = digest
                b.lock_added.append(url)
            elif have != digest:
                b.conflicts.append(f"{url}: {have} vs {digest} ({src.name})")
    dest = out / LOCK
    dest.parent.mkdir(parents=True, exist_ok=True)
    results.atomic_write(dest, json.dumps(merged, indent=2, sort_keys=True) + "\n")
    b.written[LOCK.as_posix()] = "changed" if b.lock_added else "unchanged"
    return b


def bundle_markdown(b: Bundle) -> str:
    lines = ["## Proposed baselines and lock (artifact `proposed-baselines-and-lock`)", ""]
    for path, state in sorted(b.written.items()):
        lines.append(f"- `{path}`: {state}")
    if b.lock_added:
        lines.append(
            f"- {len(b.lock_added)} new lock entr{'y' if len(b.lock_added) == 1 else 'ies'}"
        )
    lines += [f"- **lock conflict**: {c}" for c in b.conflicts]
    lines += [f"- **left out, malformed (re-run that stack)**: {r}" for r in b.rejected]
    lines += [f"- {n}" for n in b.notes]
    lines += [
        "",
        "To adopt after review: unzip the artifact at the repository root, read `git diff`, "
        f"commit what is right ({DOC}).",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m macmatrix.workflows.ci_gate", description=__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    ex = sub.add_parser("expect", help="the expectation and lock mode of a stack's run")
    ex.add_argument("--stack", required=True)
    ex.add_argument("--root", default=".", help="repository checkout (default: .)")
    ex.add_argument("--record-lock", action="store_true", help="never --require-lock")
    ex.add_argument("--github-output", metavar="FILE")
    ve = sub.add_parser("verdict", help="pass/fail of a stack's job")
    ve.add_argument("--stack", required=True)
    ve.add_argument("--run-rc", default="", help="macmatrix run's exit code ('' = none)")
    ve.add_argument("--compare-rc", default="", help="macmatrix compare's exit code, if run")
    ve.add_argument("--baseline", default="", help="the committed baseline ('' = the model)")
    ve.add_argument("--results", required=True, metavar="FILE")
    ve.add_argument("-k", dest="selection", default="", help="the run's -k ('' = whole matrix)")
    ve.add_argument("--summary", metavar="FILE", help="append Markdown ($GITHUB_STEP_SUMMARY)")
    bu = sub.add_parser("bundle", help="merge per-stack proposals into one tree")
    bu.add_argument("sources", nargs="*", metavar="DIR")
    bu.add_argument("--out", required=True, metavar="DIR")
    bu.add_argument("--root", default=".", help="repository checkout (default: .)")
    bu.add_argument("--summary", metavar="FILE")
    return p


def main(argv: Sequence[str]) -> int:
    try:
        args = parser().parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.action == "expect":
        ex = expect(args.stack, Path(args.root), args.record_lock)
        print("\n".join(ex.describe()))
        _append(args.github_output, "".join(f"{k}={v}\n" for k, v in ex.outputs().items()))
        return 0
    if args.action == "verdict":
        gate = verdict(
            args.stack,
            args.run_rc,
            Path(args.results),
            args.baseline,
            args.compare_rc,
            args.selection,
        )
        print("\n".join(gate.annotations()))
        _append(args.summary, gate.markdown())
        return 0 if gate.ok else 1
    b = bundle([Path(s) for s in args.sources], Path(args.out), Path(args.root))
    text = bundle_markdown(b)
    print(text, end="")
    _append(args.summary, text)
    for c in b.conflicts:
        print(f"::error::lock conflict: {c}")
    for r in b.rejected:
        print(f"::error::proposal left out, malformed: {r}; re-run that stack")
    return b.exit_code()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BadInput as err:
        print(f"ci_gate: {err}", file=sys.stderr)
        sys.exit(2)
    except InfraError as err:
        print(f"ci_gate: {err}", file=sys.stderr)
        sys.exit(3)
