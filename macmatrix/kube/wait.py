"""Waits with a deadline and a message saying what was awaited (tenacity, no bare sleep loops)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from ..errors import InfraError

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    what: str,
    interval_s: float = 1.0,
    describe: Callable[[T], str] = repr,
) -> T:
    """Call `check` until `done(result)`; InfraError naming `what` and the last result on timeout.

    Exceptions from `check` propagate at once: only "not there yet" is retried here (API calls
    retry their own transient errors).
    """
    retrying = Retrying(
        retry=retry_if_result(lambda value: not done(value)),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval_s),
    )
    try:
        return retrying(check)
    except RetryError as e:
        attempt = e.last_attempt
        seen = describe(attempt.result()) if not attempt.failed else repr(attempt.exception())
        raise InfraError(
            f"timed out after {timeout_s:.0f}s waiting for {what}; last seen: {seen}"
        ) from None
