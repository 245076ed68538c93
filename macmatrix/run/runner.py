"""The run of a selection, shared by `macmatrix run` and `pytest e2e/` (execute()).

Backend-agnostic: the caller opens the backend. The run writes results.json; what people read
from it (results.md, junit.xml, the terminal table) is the caller's, through views/.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from macmatrix.backends.base import Backend, Progress
from macmatrix.errors import BadInput
from macmatrix.judge.verdict import Expectation, judge, model
from macmatrix.observe import CaseObservation
from macmatrix.run.results import ResultsWriter, case_entry
from macmatrix.spec import cases as cases_mod
from macmatrix.spec.cases import Case
from macmatrix.types import CaseEntry, Outcome

# What a case is expected to do: given the run's stack, a lookup by case (None: the model only).
CaseExpectation = Callable[[Case], Expectation | None]
ExpectFor = Callable[[dict[str, Any]], CaseExpectation | None]


def load_cases(matrix: str | None, keyword: str | None) -> tuple[str, list[Case]]:
    path = Path(matrix) if matrix else cases_mod.default_matrix_path()
    if not matrix and not path.exists():
        raise BadInput("--matrix: no default matrix next to this install; pass --matrix FILE")
    selected = cases_mod.select(cases_mod.load(path), keyword)
    if not selected:
        raise BadInput(f"-k: {keyword!r} selects no case; see the ids with --dry-run")
    return str(path), selected


def expectation_for(
    case: Case, stack: dict[str, Any], lookup: CaseExpectation | None
) -> Expectation:
    """The baseline's word for a case when it has one (`lookup`), else the model of upstream
    behaviour."""
    found = lookup(case) if lookup else None
    return found if found is not None else model(case, stack)


def _settle(
    backend: Backend,
    cases: Sequence[Case],
    retries: int,
    progress: Progress,
    on_final: Callable[[CaseObservation, list[dict[str, Any]]], None],
) -> tuple[dict[str, CaseObservation], dict[str, list[dict[str, Any]]]]:
    """Run once, then re-run infra-error cases up to `retries` times (flaky when that helps).

    Every case that is final goes to `on_final` as it finishes (streamed into results.json).
    """
    from macmatrix.run.retry import settle

    settled = settle(
        lambda cs, sink: backend.run(cs, progress, on_case=sink),
        list(cases),
        retries,
        lambda obs, hist: on_final(obs, [a.to_json() for a in hist]),
    )
    tries = {cid: [a.to_json() for a in hist] for cid, hist in settled.history.items()}
    return settled.observations, tries


def _entry(
    case: Case,
    obs: CaseObservation,
    stack: dict[str, Any],
    lookup: CaseExpectation | None,
    tries: list[dict[str, Any]] | None = None,
) -> CaseEntry:
    entry = case_entry(case, obs, judge(case, obs), expectation_for(case, stack, lookup))
    if tries and len(tries) > 1:
        entry["tries"] = tries
    return entry


def needs_diagnostics(case: Case, obs: CaseObservation) -> bool:
    """Every case that is not fully fine gets diagnostics; the judge decides 'fine' (the run
    layer judges, the backend only records what it is asked to)."""
    return judge(case, obs).outcome != Outcome.WORKS


def execute(
    backend: Backend,
    cases: Sequence[Case],
    out: Path,
    matrix: str,
    expect: ExpectFor | None = None,
    retries: int = 2,
    progress: Progress | None = None,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
    on_finish: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run, judge and write results.json; shared by the CLI and the pytest plugin.

    `expect(stack)` says what each case is expected to do on this stack (a baseline; None or
    no answer: the model). `on_finish(doc)` gets the final document, also after a crash or
    Ctrl-C (the callers write results.md with it: views are theirs, not the run's).
    """
    stack = backend.stack()
    lookup = expect(stack) if expect else None
    diagnose_when = getattr(backend, "diagnose_when", None)
    if callable(diagnose_when):  # backends observe; the run says which cases need a closer look
        diagnose_when(needs_diagnostics)
    writer = ResultsWriter(out / "results.json", stack, matrix, list(cases))
    by_id = {c.id: c for c in cases}

    def finished(obs: CaseObservation, tries: list[dict[str, Any]]) -> None:
        # Written at once (journal), so a crash or Ctrl-C keeps every finished case.
        if obs.case_id not in by_id:
            return
        if writer.finished(obs.case_id) and not any(p.invocations for p in obs.pods):
            return  # sent again only to flip `retryable`, which results.json does not hold
        writer.record(_entry(by_id[obs.case_id], obs, stack, lookup, tries))
        # On disk now; the backend and retry keep the observation until the run ends, so let
        # its plugin invocations (most of its size) go: memory stays flat with the case count.
        for pod in obs.pods:
            pod.invocations = []

    complete = False
    try:
        start = time.monotonic()
        observations, tries = _settle(
            backend, cases, retries, progress or (lambda *a: None), finished
        )
        writer.phase("matrix", time.monotonic() - start)
        phases = getattr(backend, "phases", None)
        for name, secs in (phases() if callable(phases) else {}).items():
            writer.phase(name, secs)
        # Cases the sink never saw (the backend returned nothing for them) are recorded now.
        writer.record_many(
            [
                _entry(case, observations[case.id], stack, lookup, tries.get(case.id))
                for case in cases
                if case.id in observations and not writer.finished(case.id)
            ]
        )
        if on_entry:
            for entry in writer.doc["cases"]:
                if entry.get("finished"):
                    on_entry(entry)
        complete = True
    finally:
        doc = writer.finish(complete)
        if on_finish:
            on_finish(doc)
    return doc


def exit_code(doc: dict[str, Any]) -> int:
    """0 all as expected; 1 a case differs from its expectation; 3 infra errors only."""
    if any(e.get("as_expected") is False for e in doc["cases"]):
        return 1
    if any(e["outcome"] == Outcome.INFRA_ERROR for e in doc["cases"]):
        return 3
    return 0


class TerminalProgress:
    """One updating line on a terminal, a line per 10% otherwise; writes to stderr."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = -1
        self.start = time.monotonic()

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.quiet:
            return
        pct = 100 * done // max(total, 1)
        line = f"[{done:>3}/{total}] {time.monotonic() - self.start:5.1f}s {message}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:150] + ("\n" if done == total else ""))
            sys.stderr.flush()
        elif pct // 10 != self.last // 10 or done == total:
            sys.stderr.write(line + "\n")
        self.last = pct
