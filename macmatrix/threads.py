"""Waiting on worker threads without deafening the main thread to Ctrl-C and SIGTERM.

CPython runs a Python signal handler only in the main thread, and only when that thread runs
bytecode. The kernel may deliver a process-directed SIGINT/SIGTERM to any thread that does not
block it; when it picks a worker, the main thread's `concurrent.futures.wait()` (a lock acquire
without timeout) is not interrupted, so the handler runs only after the last worker ends: an
interrupted run first finished every case (seen in CI: "interrupted" results with nothing
unfinished). Waiting in short slices lets the handler run within POLL_S wherever it landed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from typing import Any, TypeVar

POLL_S = 0.2  # how late an interrupt delivered to a worker thread may be handled

T = TypeVar("T")
R = TypeVar("R")


def wait_all(futures: Iterable[Future[Any]], poll_s: float = POLL_S) -> None:
    """Wait until every future is done, raising the first exception one raised (and any
    KeyboardInterrupt of a signal handler) within `poll_s` of it."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=poll_s, return_when=FIRST_EXCEPTION)
        for f in done:
            f.result()


def map_all(pool: Executor, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`list(pool.map(fn, items))`, but interruptible (see the module's docstring); pending
    calls are cancelled when it raises."""
    futures = [pool.submit(fn, item) for item in items]
    try:
        wait_all(futures)
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    return [f.result() for f in futures]
