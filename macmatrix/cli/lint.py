"""`macmatrix lint FILE...`: the command line of workflows/lint.py."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from macmatrix.cli import options
from macmatrix.spec.userinput import load_paths
from macmatrix.workflows.lint import exit_code, lint, render_text


def main(argv: Sequence[str]) -> int:
    parser = options.Parser(
        prog="macmatrix lint",
        description="Static findings for NADs and pods (MAC pitfalls). Exit 1 on an error.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="YAML/JSON files, - for stdin")
    options.add(parser, "json", help='print {"findings": [...]}')
    parser.add_argument(
        "--cni-plugins",
        metavar="VERSION",
        help="the containernetworking/plugins release on the nodes (checks cniVersion against it)",
    )
    parser.add_argument(
        "--kube-ovn",
        action="store_true",
        help="the cluster runs Kube-OVN (kind install): apply its checks even without "
        "kube-ovn IPAM or ovn annotations in the input",
    )
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    paste = load_paths(args.files)
    findings = lint(paste, args.cni_plugins, args.kube_ovn)
    if args.json:
        json.dump({"findings": [f.to_json() for f in findings]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(findings))
    return exit_code(findings)
