"""The retry policy for infra errors: re-run only what the infrastructure failed, record every try.

An infra-error cell says nothing about the combination under test (DESIGN.md), so the runner
re-runs just those cells, up to `retries` more times. A cell that settles on a later try (its
status is no longer infra-error) is marked flaky, so nightly CI can tell a hiccup from a finding.

Where every try's reason goes (the brief left this open):
- `CaseObservation.reason` of a cell tried more than once becomes the whole history,
  `"try 1/3 infra-error: <reason>; try 2/3 ran"`. judge() keeps `reason` for infra-error and
  unsupported cells, so there it reaches results.json; for a cell that ran, judge() replaces it
  with the checks' explanation, so
- `settle()` also returns `history`: {case id: [Attempt, ...]} for every case, which the runner
  may store in the results entry, e.g. `entry["tries"] = [a.to_json() for a in history[id]]`.
`retry_until_settled()` is `settle().observations`.

Streaming (so an interrupted run keeps what finished): with `on_final`, `settle` hands `run_once`
a sink as its second argument; the backend calls it as each case finishes, and `settle` passes
on every observation that is final (not infra-error, not retryable, or the last try), merged
with its history exactly as `settle` returns it, and that history. A case the backend never
streams is final only in the returned `Settled`.

A backend marks an infra error `retryable=False` when a re-run cannot help (a plugin that hung
on several cases, a missing privilege): it is never retried.

`attempts` is the sum of every try's `attempts` (a backend may retry inside one try), and
`duration_s` the sum of their durations: the time the cell really cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from macmatrix.errors import BadInput
from macmatrix.observe import CaseObservation
from macmatrix.spec.cases import Case
from macmatrix.types import Status

RunOnce = Callable[..., dict[str, CaseObservation]]  # (cases) or (cases, sink) with on_final
CaseSink = Callable[[CaseObservation], None]
DEFAULT_RETRIES = 2
MISSING = "the backend returned no observation for this case"


@dataclass(frozen=True)
class Attempt:
    """One try of one case, as the backend reported it."""

    number: int
    status: str
    reason: str
    attempts: int
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Settled:
    observations: dict[str, CaseObservation]
    history: dict[str, list[Attempt]]


def _attempt(number: int, obs: CaseObservation) -> Attempt:
    return Attempt(number, obs.status, obs.reason, obs.attempts, obs.duration_s)


def _retry(obs: CaseObservation) -> bool:
    return obs.status == Status.INFRA_ERROR and obs.retryable


def check_retries(retries: object) -> int:
    """--retries as a whole number >= 0, else one line of bad input (`run` checks it before a
    --dry-run plan too)."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise BadInput(f"--retries: {retries!r} must be a whole number, 0 or more (default 2)")
    return retries


def settle(
    run_once: RunOnce,
    cases: Sequence[Case],
    retries: int,
    on_final: Callable[[CaseObservation, list[Attempt]], None] | None = None,
) -> Settled:
    """Run `cases`, then re-run only the retryable infra-error ones up to `retries` times."""
    check_retries(retries)
    by_id = {c.id: c for c in cases}
    latest: dict[str, CaseObservation] = {}
    history: dict[str, list[Attempt]] = {cid: [] for cid in by_id}
    pending = list(by_id.values())
    for round_ in range(retries + 1):
        if not pending:
            break
        last = round_ == retries
        ids = {c.id for c in pending}

        def sink(obs: CaseObservation, ids: set[str] = ids, last: bool = last) -> None:
            # Called from backend worker threads; history is only appended below, after run_once.
            if on_final is None or obs.case_id not in ids or (_retry(obs) and not last):
                return
            tries = [*history[obs.case_id]]
            tries.append(_attempt(len(tries) + 1, obs))
            on_final(_merge(obs, tries), tries)

        got = run_once(list(pending), sink) if on_final else run_once(list(pending))
        for case in pending:
            obs = got.get(case.id) or CaseObservation(
                case.id, status=Status.INFRA_ERROR, reason=MISSING
            )
            latest[case.id] = obs
            history[case.id].append(_attempt(len(history[case.id]) + 1, obs))
        pending = [c for c in pending if _retry(latest[c.id])]
    return Settled({cid: _merge(latest[cid], history[cid]) for cid in by_id}, history)


def retry_until_settled(
    run_once: RunOnce, cases: Sequence[Case], retries: int = DEFAULT_RETRIES
) -> dict[str, CaseObservation]:
    """Observations after retrying infra errors; see the module docstring for the record kept."""
    return settle(run_once, cases, retries).observations


def _merge(last: CaseObservation, tries: list[Attempt]) -> CaseObservation:
    if len(tries) == 1:
        return last
    n = len(tries)
    reason = "; ".join(
        f"try {t.number}/{n} {t.status}" + (f": {t.reason}" if t.reason else "") for t in tries
    )
    return dataclasses.replace(
        last,
        reason=reason,
        attempts=sum(t.attempts for t in tries),
        duration_s=sum(t.duration_s for t in tries),
        flaky=last.flaky or last.status != Status.INFRA_ERROR,
    )
