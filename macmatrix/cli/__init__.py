"""The `macmatrix` command: run | repro | compare | report | lint | doctor | baseline.

Each subcommand lives in its own module with `main(argv) -> int`; this file only dispatches and
turns BadInput/InfraError into one line and exit code 2/3 (DESIGN.md exit codes).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from macmatrix.errors import BadInput, InfraError

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
    if name != "auto":
        return name
    try:
        from macmatrix.backends.kind.stack.docker import engine_answers

        picked = "kind" if engine_answers() else "netns"
    except ImportError:
        picked = "netns"
    if announce:
        why = "a Docker engine answers" if picked == "kind" else "no Docker engine answers"
        print(f"macmatrix: --backend auto picked {picked} ({why})", file=sys.stderr)
    return picked


def default_stack(backend: str, stack: str | None, announce: bool = True) -> str | None:
    """kind without --stack runs the newest stack in clusters/stacks.toml, and says so."""
    if backend != "kind" or stack:
        return stack
    from macmatrix.spec.stacks import newest

    picked = newest()
    if announce:
        print(f"macmatrix: no --stack given; using the newest, {picked}", file=sys.stderr)
    return picked


def open_backend(name: str, args: object) -> BackendContext:
    """The one place that knows every backend (DESIGN.md rooms)."""
    return BackendContext(name, args)


def _plugin_timeout(args: object) -> float:
    value = getattr(args, "plugin_timeout", None)
    return 30.0 if value is None else value


class BackendContext:
    """Opens a backend and guarantees close(), also on errors and Ctrl-C."""

    def __init__(self, name: str, args: object):
        self.name, self.args, self.backend = name, args, None

    def __enter__(self):  # type: ignore[no-untyped-def]
        a = self.args
        if self.name == "netns":
            from macmatrix.backends.gobuild.cni_plugins import choose
            from macmatrix.backends.netns.backend import NetnsBackend

            picked = choose(
                getattr(a, "plugins", None),
                getattr(a, "stack", None),
                getattr(a, "cni_bin_dir", None),
            )
            self.backend = NetnsBackend(
                picked.bin_dirs,
                workers=getattr(a, "workers", None),
                label=picked.label,
                notes=picked.notes,
                timeout=_plugin_timeout(a),
            )
        elif self.name == "kind":
            from pathlib import Path

            if getattr(a, "plugins", None):
                raise BadInput(
                    "--plugins: only for --backend netns; kind runs its stack's plugins "
                    "(clusters/stacks.toml cni_plugins)"
                )

            from macmatrix.backends.kind.backend import KindBackend

            self.backend = KindBackend.from_options(
                stack_name=getattr(a, "stack", None) or "",
                kubeconfig=getattr(a, "kubeconfig", None),
                keep_cluster=bool(getattr(a, "keep_cluster", False)),
                out_dir=Path(getattr(a, "out", "results")),
                require_lock=bool(getattr(a, "require_lock", False)),
            )
        elif self.name == "multus":
            if getattr(a, "plugins", None) or getattr(a, "cni_bin_dir", None):
                raise BadInput(
                    "--plugins/--cni-bin-dir: only for --backend netns; multus runs its --stack's "
                    "plugins (clusters/stacks.toml cni_plugins)"
                )
            from macmatrix.backends.multus.backend import MultusBackend

            self.backend = MultusBackend(
                getattr(a, "stack", None),
                workers=getattr(a, "workers", None),
                timeout=_plugin_timeout(a),
            )
        else:
            raise BadInput(
                f"--backend: unknown backend {self.name!r}; use auto, netns, kind or multus"
            )
        return self.backend

    def __exit__(self, *exc: object) -> None:
        if self.backend is not None:
            self.backend.close()
