"""`macmatrix doctor [--backend NAME|auto]`: the command line of workflows/doctor.py."""

from __future__ import annotations

from collections.abc import Sequence

from macmatrix.cli import options
from macmatrix.workflows import doctor


def main(argv: Sequence[str], probe: doctor.Probe | None = None) -> int:
    p = options.Parser(prog="macmatrix doctor", description=doctor.__doc__)
    options.add(p, "backend")
    options.add(p, "stack", help="look at this stack of clusters/stacks.toml only (default: all)")
    options.add(p, "stacks")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    with options.data_files(args):
        return doctor.report(args.backend, probe or doctor.Probe(), args.stack)
