"""Waits with a deadline and a message saying what was awaited (tenacity, no bare sleep loops)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from macmatrix.errors import InfraError

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    what: str,
    interval_s: float = 1.0,
    describe: Callable[[T], str] = repr,
    say: Callable[[str], None] | None = None,
    say_every_s: float = 15.0,
) -> T:
    """Call `check` until `done(result)`; InfraError naming `what` and the last result on timeout.

    With `say`, prints what it still waits for every `say_every_s` (long phases show progress).
    Exceptions from `check` propagate at once: only "not there yet" is retried here (API calls
    retry their own transient errors).
    """
    started = time.monotonic()
    last_said = [started]

    def progress(state: RetryCallState) -> None:
        now = time.monotonic()
        if say and now - last_said[0] >= say_every_s and state.outcome and not state.outcome.failed:
            last_said[0] = now
            seen = describe(state.outcome.result())
            say(f"still waiting for {what} ({now - started:.0f}s): {seen}")

    retrying = Retrying(
        retry=retry_if_result(lambda value: not done(value)),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
        before_sleep=progress,
    )
    try:
        return retrying(check)
    except RetryError as e:
        attempt = e.last_attempt
        seen = describe(attempt.result()) if not attempt.failed else repr(attempt.exception())
        raise InfraError(
            f"timed out after {timeout_s:.0f}s waiting for {what}; last seen: {seen}"
        ) from None
