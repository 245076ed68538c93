"""`macmatrix repro FILE|-`: the command line of workflows/repro.py."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from macmatrix.backends import registry
from macmatrix.cli import options
from macmatrix.spec.userinput import load_paths, resolve
from macmatrix.workflows.repro import EXIT, pick_backend, run


def main(argv: Sequence[str]) -> int:
    parser = options.Parser(
        prog="macmatrix repro",
        description="Run a pasted NAD + pod as Multus would; report every MAC and why. "
        "Exit 0 works, 1 broken, 2 bad input, 3 infra/unsupported.",
    )
    parser.add_argument(
        "file",
        metavar="FILE|-",
        help="YAML/JSON with NAD(s) and a pod or a networks value; - reads stdin",
    )
    options.add(parser, "backend")
    stacked = ", ".join(e.name for e in registry.entries() if e.runs_stacks)
    options.add(
        parser, "stack", metavar="NAME", help=f"stack from clusters/stacks.toml ({stacked})"
    )
    options.add(parser, "stacks")
    options.add(parser, "lock")
    options.add(parser, "json", help='print {"cases": [entry]}')
    options.add(
        parser,
        "cni-bin-dir",
        metavar="DIR",
        help="netns: plugin directory (repeatable; default /opt/cni/bin, /usr/lib/cni)",
    )
    parser.add_argument(
        "--no-substitute",
        action="store_true",
        help="netns: do not run kube-ovn/whereabouts/dhcp IPAM as static; report unsupported",
    )
    parser.add_argument(
        "--no-fix",
        action="store_true",
        help="do not search for a verified fix when the report does not work",
    )
    options.add(parser, "plugin-timeout")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    with options.data_files(args):
        return _repro(args)


def _repro(args: argparse.Namespace) -> int:
    from macmatrix.backends.netns.backend import check_plugin_timeout

    check_plugin_timeout(args.plugin_timeout)  # 0 or less: one line, exit 2, before any work
    if args.stack:
        from macmatrix.spec import stacks

        stacks.get(args.stack)  # unknown name: BadInput listing the known ones
    request = resolve(load_paths([args.file]))
    backend, note = pick_backend(args.backend)
    if note:
        print(f"macmatrix repro: backend {backend} ({note})", file=sys.stderr)
    entry = run(
        request,
        backend,
        note,
        args.stack,
        args.cni_bin_dir,
        substitute=not args.no_substitute,
        fix=not args.no_fix,
        plugin_timeout=args.plugin_timeout,
    )
    if args.json:
        json.dump({"cases": [entry]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from macmatrix.workflows.repro_report import render_markdown

        sys.stdout.write(render_markdown(entry))
    return EXIT.get(entry["outcome"], 3)
