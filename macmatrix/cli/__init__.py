"""The `macmatrix` command: run | repro | compare | report | lint | doctor | baseline.

Each subcommand lives in its own module with `main(argv) -> int`; this file only dispatches and
turns BadInput/InfraError into one line and exit code 2/3 (DESIGN.md exit codes).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from macmatrix.errors import BadInput, InfraError

if TYPE_CHECKING:
    from macmatrix.backends.base import Backend

SUBCOMMANDS = {
    "run": (
        "macmatrix.cli.run",
        "run the MAC matrix and write results.json, results.md, junit.xml",
    ),
    "repro": (
        "macmatrix.cli.repro",
        "run a pasted NAD + pod exactly as Multus would, and explain",
    ),
    "compare": ("macmatrix.cli.compare", "compare two results.json files (regressions exit 1)"),
    "report": ("macmatrix.cli.report", "render results.json files as Markdown or HTML"),
    "lint": ("macmatrix.cli.lint", "static findings for NADs and pods"),
    "doctor": ("macmatrix.cli.doctor", "check that this machine can run a backend"),
    "baseline": ("macmatrix.cli.baseline", "write or check committed baselines"),
    "cleanup": ("macmatrix.cli.cleanup", "remove what killed netns runs left behind"),
}

USAGE = (
    "usage: macmatrix {"
    + ",".join(SUBCOMMANDS)
    + "} ...\n\n"
    + "\n".join(f"  {name:<9} {helptext}" for name, (_, helptext) in SUBCOMMANDS.items())
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from macmatrix import __version__

        print(f"macmatrix {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(
            f"macmatrix: unknown command {name!r}; use one of: {', '.join(SUBCOMMANDS)}",
            file=sys.stderr,
        )
        return 2
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
    except ModuleNotFoundError as e:
        if e.name == SUBCOMMANDS[name][0]:
            print(f"macmatrix {name}: not available in this build", file=sys.stderr)
            return 2
        raise
    try:
        return int(module.main(rest))
    except SystemExit as e:  # argparse's --help (its mistakes are BadInput: cli/options.Parser)
        return 0 if e.code in (0, None) else 2
    except BadInput as e:
        print(f"macmatrix {name}: {e}", file=sys.stderr)
        return 2
    except InfraError as e:
        print(f"macmatrix {name}: infrastructure failure: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"macmatrix {name}: interrupted; cleaned up", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())


def resolve_backend(name: str, announce: bool = True) -> str:
    """`auto` -> kind when a Docker engine answers, else netns; says which it picked."""
    from macmatrix.backends import registry

    return registry.resolve(name, announce)


def default_stack(backend: str, stack: str | None, announce: bool = True) -> str | None:
    """kind without --stack runs the newest stack in clusters/stacks.toml, and says so."""
    from macmatrix.backends import registry

    return registry.default_stack(backend, stack, announce)


def open_backend(name: str, args: object) -> AbstractContextManager[Backend]:
    """The backend `name` opened with `args` (backends/registry.py), closed on leaving."""
    from macmatrix.backends import registry

    return registry.opened(name, args)
