"""The in-place upgrade check, start to end, against any backend that can keep pods and upgrade.

1. the matrix on FROM with its pods kept (results in OUT/before/), 2. a snapshot of every kept
pod, 3. the upgrade in place, 4. the snapshot again and the drift (kube/snapshot.py), 5. the
matrix again on the upgraded cluster (OUT/after/), 6. the two runs compared (compare_runs, gate).
The kept pods are released before the second run's verdict is written. Thin: the backend does the
cluster work, the pure modules decide; unit-tested with a stand-in backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from macmatrix.backends.base import Backend, Progress
from macmatrix.backends.kind.kube import snapshot
from macmatrix.run.results import atomic_write
from macmatrix.spec.cases import Case
from macmatrix.views import compare
from macmatrix.views.report import results_md


def compare_runs(first: Mapping[str, Any], second: Mapping[str, Any]) -> compare.Comparison:
    """The matrix before the upgrade vs after it (macmatrix.views.compare on behaviours)."""
    cmp = compare.diff(
        compare.behaviours_from_results(first, "before the upgrade"),
        compare.behaviours_from_results(second, "after the upgrade"),
        base_label="before the upgrade",
        head_label="after the upgrade",
        base_stack=first.get("stack"),
        head_stack=second.get("stack"),
    )
    cmp.notes += compare.run_notes(first, "the run before") + compare.run_notes(second, "after")
    return cmp


# Regressions fail (1); infra errors left cases unchecked (3): the upgrade is not verified.
GATE = frozenset({compare.REGRESSION, compare.INFRA})


def gate(cmp: compare.Comparison) -> int:
    """0 when nothing that worked before is broken after; 1 regressions; 3 only infra errors."""
    return compare.exit_code(cmp, GATE)


class UpgradableBackend(Backend, Protocol):
    """What the check needs beyond backends/base.Backend (backends/kind KindUpgrade has it)."""

    keep_pods: bool

    def kept_snapshot(self) -> dict[str, snapshot.PodSnapshot]: ...

    def upgrade(self) -> None: ...

    def release_kept(self) -> None: ...


@dataclass
class UpgradeOutcome:
    """Both runs, both snapshots, the drift and the comparison, with the check's exit code."""

    first: dict[str, Any]
    second: dict[str, Any]
    before: dict[str, snapshot.PodSnapshot]
    after: dict[str, snapshot.PodSnapshot]
    drifts: list[snapshot.Drift]
    unchecked: list[str]
    comparison: compare.Comparison

    @property
    def pod_failures(self) -> list[snapshot.Drift]:
        return snapshot.failing(self.drifts)

    @property
    def checked_pods(self) -> int:
        return sum(1 for s in self.before.values() if s.running)

    def exit_code(self) -> int:
        """1: a kept pod changed, or a regression; 3: only infra errors left cases unchecked."""
        if self.pod_failures:
            return 1
        return gate(self.comparison)

    def render(self) -> str:
        failing = compare.failing_kinds(self.comparison, GATE)
        return (
            "## kept pods\n"
            + snapshot.render(self.drifts, self.unchecked, self.checked_pods)
            + "\n## the matrix before vs after the upgrade\n"
            + compare.render_text(self.comparison, failing)
        )


def run_check(
    backend: UpgradableBackend,
    cases: Sequence[Case],
    out: Path,
    matrix: str,
    retries: int = 2,
    progress: Progress | None = None,
) -> UpgradeOutcome:
    """Run the whole check; writes OUT/before/, OUT/after/, OUT/pods.json and OUT/upgrade.txt.

    The first run is not retried across namespaces (retries=0: the backend retries inside its
    namespace), so exactly one set of pods is kept; infra errors there show in the comparison.
    """
    from macmatrix.run.runner import (
        execute,  # the shared run path (results.json; results.md by on_finish)
    )

    backend.keep_pods = True
    try:
        first = execute(
            backend,
            cases,
            out / "before",
            matrix,
            None,
            0,
            progress,
            on_finish=results_md(out / "before"),
        )
        before = backend.kept_snapshot()
        backend.upgrade()
        after = backend.kept_snapshot()
    finally:
        backend.keep_pods = False
    backend.release_kept()
    second = execute(
        backend,
        cases,
        out / "after",
        matrix,
        None,
        retries,
        progress,
        on_finish=results_md(out / "after"),
    )
    drifts, unchecked = snapshot.drift(before, after)
    outcome = UpgradeOutcome(
        first,
        second,
        before,
        after,
        drifts,
        unchecked,
        compare_runs(first, second),
    )
    pods = {
        "before": {k: v.to_json() for k, v in before.items()},
        "after": {k: v.to_json() for k, v in after.items()},
        "drift": [str(d) for d in drifts],
        "unchecked": unchecked,
    }
    atomic_write(out / "pods.json", json.dumps(pods, indent=2) + "\n")
    atomic_write(out / "upgrade.txt", outcome.render())
    return outcome
