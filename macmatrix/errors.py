"""Error types that map to the command line's exit codes (DESIGN.md: 2 bad input, 3 infra)."""

from __future__ import annotations


class BadInput(Exception):
    """The user's input is wrong; the message names the field and the fix (exit 2)."""


class InfraError(Exception):
    """The harness or the environment failed, not the combination under test (exit 3)."""
