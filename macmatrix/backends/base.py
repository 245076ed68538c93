"""The backend protocol shared by netns and kind: cases in, observations out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from macmatrix.build.ipam_substitute import Substitution
from macmatrix.errors import BadInput
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import Case
from macmatrix.threads import wait_all
from macmatrix.types import Status

# progress(done, total, message): called from worker threads; must be cheap and thread-safe.
Progress = Callable[[int, int, str], None]


# on_case(observation): called from worker threads as each case finishes, so results.json can
# keep every finished case of a run that is interrupted or crashes (run.execute, retry.settle).
CaseSink = Callable[[CaseObservation], None]


DEFAULT_PLUGIN_TIMEOUT_S = 30.0  # --plugin-timeout's default
# an hour: longer waits overflow the clocks subprocess uses (1e10 s) and no plugin needs them
MAX_PLUGIN_TIMEOUT_S = 3600


def check_plugin_timeout(timeout: Any) -> float:
    """--plugin-timeout as seconds > 0 (`run` and `repro`), else one line of bad input."""
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_PLUGIN_TIMEOUT_S  # also refuses NaN and inf
    ):
        raise BadInput(
            f"--plugin-timeout: {timeout!r} must be seconds > 0 and at most "
            f"{MAX_PLUGIN_TIMEOUT_S} (default 30)"
        )
    return float(timeout)


def check_workers(workers: Any) -> int | None:
    """--workers as a whole number >= 1, or None (the backend's default), else one line of bad
    input. The registry's option checks and the backends' constructors both call this."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise BadInput(f"--workers: {workers!r} must be a whole number >= 1")
    return workers


def no_progress(done: int, total: int, message: str) -> None:
    """Default progress sink."""


def run_pool(
    cases: Sequence[Case],
    run_case: Callable[[Case], CaseObservation],
    *,
    workers: int,
    cancel: threading.Event,
    stop: Callable[[], None],
    name: str,
    progress: Progress = no_progress,
    on_case: CaseSink | None = None,
) -> dict[str, CaseObservation]:
    """`run_case` over `cases` on a bounded thread pool (the netns and real-Multus backends).

    Each finished case goes to `on_case` at once (from its worker thread). On Ctrl-C/SIGTERM or
    a worker's exception: `cancel` is set (cases not started are skipped), `stop()` kills what
    runs (the plugins' process groups) so the run unwinds in about a second, and a case that
    ended as infra-error because of it is left out: it stays "unfinished" in results.json.
    """
    out: dict[str, CaseObservation] = {}
    total = len(cases)
    lock = threading.Lock()

    def one(case: Case) -> None:
        if cancel.is_set():
            return
        obs = run_case(case)
        if obs.status == Status.INFRA_ERROR and cancel.is_set():
            return  # stopped by the interrupt, not finished
        with lock:
            out[case.id] = obs
            progress(len(out), total, f"{obs.status} {case.id}")
        if on_case:
            on_case(obs)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        wait_all([pool.submit(one, c) for c in cases])
    except BaseException:
        cancel.set()
        stop()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


class AttachmentLike(Protocol):
    """One networks element with its NAD config, as written (never normalised).

    What `run_pod` of any backend takes (netns.Attachment has this shape); a Protocol so that
    backends need not import each other.
    """

    network: str  # "<namespace>/<nad name>"
    config: dict[str, Any]
    element: dict[str, Any]


class Backend(Protocol):
    """What cli.py and fixtures/ need from a backend."""

    name: str

    def stack(self) -> dict[str, Any]:
        """Versions of everything involved (results.json `stack`)."""
        ...

    def run(
        self,
        cases: Sequence[Case],
        progress: Progress = no_progress,
        on_case: CaseSink | None = None,
    ) -> dict[str, CaseObservation]:
        """Run every case (concurrently where it helps); one observation per case id.

        `on_case` gets each observation as soon as it is final for this backend (a backend that
        observes in waves calls it per wave); the returned dict still holds them all.
        """
        ...

    def close(self) -> None:
        """Remove everything the backend created (also called on errors and Ctrl-C)."""
        ...


class PodRunner(Protocol):
    """What `repro` needs from a backend: single pods with pasted NADs (registry `pods`)."""

    def stack(self) -> dict[str, Any]: ...

    def run_pod(
        self,
        pod_name: str,
        namespace: str,
        attachments: Sequence[AttachmentLike],
        annotations: dict[str, str],
    ) -> PodObservation:
        """One pod with the attachments as given; everything it created is deleted again."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ReproOptions:
    """What `macmatrix repro` hands a backend's repro runner (each reads what it uses)."""

    stack: str | None = None  # --stack (backends that run stacks: the newest without one)
    cni_bin_dir: list[str] | None = None  # --cni-bin-dir (netns)
    plugin_timeout: float | None = None  # --plugin-timeout (the plugins-only tiers)
    substitute: bool = True  # run an IPAM that needs a cluster as static (--no-substitute: off)
    # plugin types the fix search may add later (remedies): a backend that must prepare its
    # nodes for them does it now, so the search does not fail on a missing binary
    later_types: tuple[str, ...] = ()


@dataclass
class PastedRun:
    """What a backend's repro runner observed: the pod (None when it did not run), the stack
    block, the backend's status with its reason, the IPAMs it ran as static, and what the fix
    search needs afterwards: `fix_dirs` (plugin dirs for its netns candidates; None: the
    options' --cni-bin-dir) and `runner` (kept open for candidates as pods on it; the caller
    closes it)."""

    pod: PodObservation | None
    stack: dict[str, Any]
    status: Status
    reason: str
    substitutions: list[Substitution] = field(default_factory=list)
    fix_dirs: list[str] | None = None
    runner: PodRunner | None = None
