"""An interrupt the kernel hands to a worker thread still stops the run at once.

CPython runs signal handlers in the main thread only; a main thread blocked in a future wait
without timeout heard a SIGTERM that landed on a worker only after every worker ended (CI saw an
interrupted netns run that had finished all 104 cases). These tests deliver the signal to a
worker thread on purpose (pthread_kill) and check that the wait raises while that worker is
still blocked.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from macmatrix.backends.base import run_pool
from macmatrix.observe import CaseObservation
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.threads import map_all, wait_all


@pytest.fixture
def usr1_interrupts() -> Iterator[None]:
    """SIGUSR1 raises KeyboardInterrupt in the main thread, like the CLI's SIGTERM handler."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGUSR1, handler)
    yield
    signal.signal(signal.SIGUSR1, previous)


def signal_own_thread() -> None:
    """SIGUSR1 to this worker thread, once the main thread has had time to block in its wait
    (a signal that arrives while the main thread still runs bytecode is handled at once)."""
    time.sleep(0.3)
    signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)


def test_wait_all_hears_a_signal_delivered_to_a_worker(usr1_interrupts: None) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocked() -> bool:
        started.set()
        return release.wait(10)

    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(blocked)
        started.wait(10)
        try:
            with pytest.raises(KeyboardInterrupt):
                wait_all([slow, pool.submit(signal_own_thread)])
            assert not slow.done(), "the wait returned only after the blocked worker ended"
        finally:
            release.set()


def test_wait_all_raises_a_workers_exception() -> None:
    def boom() -> None:
        raise ValueError("worker failed")

    with ThreadPoolExecutor(2) as pool, pytest.raises(ValueError, match="worker failed"):
        wait_all([pool.submit(boom), pool.submit(lambda: None)])


def test_map_all_keeps_the_order_of_its_items() -> None:
    with ThreadPoolExecutor(3) as pool:
        assert map_all(pool, lambda n: n * n, [3, 1, 2, 5]) == [9, 1, 4, 25]


def test_run_pool_stops_cases_when_a_worker_got_the_signal(usr1_interrupts: None) -> None:
    """The netns/multus runner: the interrupt cancels the run while a case still blocks; that
    case sees `cancel` set, and the cases after it never start."""
    cancel = threading.Event()
    cases = [Case(**{**DEFAULTS, "request": r}) for r in ("annotation", "networks", "cni-args")]
    ran: list[str] = []
    saw_cancel: list[bool] = []
    blocking = threading.Event()

    def run_case(case: Case) -> CaseObservation:
        ran.append(case.request)
        if case.request == "networks":
            blocking.wait(10)
            signal_own_thread()
        else:
            blocking.set()
        saw_cancel.append(cancel.wait(10))  # both cases block until the run is cancelled
        return CaseObservation(case.id)

    with pytest.raises(KeyboardInterrupt):
        run_pool(cases, run_case, workers=2, cancel=cancel, stop=lambda: None, name="t")
    assert saw_cancel == [True, True]  # released by the interrupt, not by their timeout
    assert "cni-args" not in ran  # the third case never started
