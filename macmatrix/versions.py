"""Version strings as comparable tuples ('v1.13.3', '1.1.1+ds1-3' -> (1, 13, 3), (1, 1, 1))."""

from __future__ import annotations

import re

_NUM = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse(text: str | None) -> tuple[int, int, int] | None:
    """The leading x.y[.z] of `text`, or None when it carries no version."""
    if not text:
        return None
    m = _NUM.search(text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def at_least(text: str | None, minimum: str, unknown: bool = True) -> bool:
    """Whether `text` >= `minimum`; `unknown` is the answer when `text` has no version."""
    have, want = parse(text), parse(minimum)
    if have is None or want is None:
        return unknown
    return have >= want
