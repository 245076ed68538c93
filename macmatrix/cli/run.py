"""`macmatrix run`: parse the options, open the backend, run (run/runner.execute), then write
what people read: results.md, junit.xml and the terminal table (views/)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Sequence
from pathlib import Path

from macmatrix.cli import options
from macmatrix.errors import BadInput
from macmatrix.run.retry import check_retries
from macmatrix.run.runner import TerminalProgress, execute, exit_code, load_cases
from macmatrix.views import baseline, junit, report

DESCRIPTION = """`macmatrix run`: the same run as `pytest e2e/`, sharing its code path (execute()).

Backend-agnostic: backends are chosen, opened and planned by name (backends/registry.py).
"""


def add_run_options(p: argparse.ArgumentParser) -> None:
    options.add(p, "backend")
    options.add(p, "stack")
    options.add(p, "stacks")
    options.add(p, "lock")
    options.add(p, "plugins")
    options.add(p, "matrix")
    options.add(p, "keyword")
    options.add(p, "out")
    options.add(p, "baseline")
    p.add_argument("--no-baseline", action="store_true", help="judge against the model only")
    options.add(p, "dry-run", help="print the plan, touch nothing")
    p.add_argument("--keep-cluster", action="store_true", help="kind: keep the cluster")
    p.add_argument("--kubeconfig", default=None, help="run on an existing cluster")
    options.add(p, "cni-bin-dir")
    options.add(p, "workers")
    options.add(
        p,
        "plugin-timeout",
        help=options.OPTIONS["plugin-timeout"].kwargs["help"]
        + "; a plugin that hangs on 3 cases is not called again in the run",
    )
    p.add_argument("--retries", type=int, default=2, help="re-runs of infra-error cases")
    p.add_argument("--require-lock", action="store_true", help="kind: refuse unhashed downloads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no table")


def main(argv: Sequence[str]) -> int:
    p = options.Parser(prog="macmatrix run", description=DESCRIPTION)
    add_run_options(p)
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:  # --help
        return 0 if e.code == 0 else 2
    with options.data_files(args):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    # Looked up at call time: tests stand a backend in for cli.open_backend.
    from macmatrix.backends import registry
    from macmatrix.cli import default_stack, open_backend, resolve_backend

    if args.baseline and args.no_baseline:
        raise BadInput("--no-baseline: cannot be combined with --baseline FILE; pass one of them")
    check_retries(args.retries)
    matrix, selected = load_cases(args.matrix, args.keyword)
    given = baseline.load(args.baseline) if args.baseline else None
    name = resolve_backend(args.backend, announce=not args.quiet)
    args.stack = default_stack(name, args.stack, announce=not args.quiet)
    # the backend's option checks, once, before the plan or the run (a --dry-run refuses what a
    # run refuses: backends/registry.check; opening checks again, harmlessly)
    registry.check(name, args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: {out} is a file; pass a folder (results.json, results.md go in it)")
    if args.dry_run:
        print(registry.plan(name, selected, args))
        return 0
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with open_backend(name, args) as backend:
            doc = execute(
                backend,
                selected,
                out,
                matrix,
                baseline.expectations(given, use_committed=not args.no_baseline),
                args.retries,
                TerminalProgress(args.quiet),
                on_finish=report.results_md(out),
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    junit.write(doc, out / "junit.xml")
    if not args.quiet:
        print(report.render_terminal(doc))
        print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'junit.xml'}")
    return exit_code(doc)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
