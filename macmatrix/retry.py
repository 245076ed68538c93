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

`attempts` is the sum of every try's `attempts` (a backend may retry inside one try), and
`duration_s` the sum of their durations: the time the cell really cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .cases import Case
from .errors import BadInput
from .observe import INFRA_ERROR, CaseObservation

RunOnce = Callable[[list[Case]], dict[str, CaseObservation]]
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


def settle(run_once: RunOnce, cases: Sequence[Case], retries: int) -> Settled:
    """Run `cases`, then re-run only the infra-error ones up to `retries` times."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise BadInput(f"--retries: {retries!r} must be a whole number, 0 or more (default 2)")
    by_id = {c.id: c for c in cases}
    latest: dict[str, CaseObservation] = {}
    history: dict[str, list[Attempt]] = {cid: [] for cid in by_id}
    pending = list(by_id.values())
    for _ in range(retries + 1):
        if not pending:
            break
        got = run_once(list(pending))
        for case in pending:
            obs = got.get(case.id) or CaseObservation(case.id, status=INFRA_ERROR, reason=MISSING)
            latest[case.id] = obs
            tries = history[case.id]
            tries.append(
                Attempt(len(tries) + 1, obs.status, obs.reason, obs.attempts, obs.duration_s)
            )
        pending = [c for c in pending if latest[c.id].status == INFRA_ERROR]
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
        flaky=last.flaky or last.status != INFRA_ERROR,
    )
