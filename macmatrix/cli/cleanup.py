"""`macmatrix cleanup [--dry-run]`: the command line of workflows/cleanup.py."""

from __future__ import annotations

from collections.abc import Sequence

from macmatrix.cli import options
from macmatrix.workflows import cleanup


def main(argv: Sequence[str]) -> int:
    p = options.Parser(prog="macmatrix cleanup", description=cleanup.__doc__)
    options.add(p, "dry-run", help="list what would be removed")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    return cleanup.clean(args.dry_run)
