"""`macmatrix compare BASE.json HEAD.json`: the command line of views/compare.py."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from macmatrix.cli import options
from macmatrix.views import baseline, compare


def parser() -> argparse.ArgumentParser:
    p = options.Parser(
        prog="macmatrix compare",
        description="Compare two results.json files on the cases they share. Exit 1 on "
        "regressions (works -> broken); infra errors and unsupported cases are listed apart.",
    )
    p.add_argument(
        "base",
        metavar="BASE.json",
        help="the earlier / known-good results.json, or a committed baseline "
        "(e2e/baselines/*.json: compare it with a run of the next stack to gate an upgrade)",
    )
    p.add_argument("head", metavar="HEAD.json", help="the results.json (or baseline) under test")
    options.add(p, "markdown", help="print Markdown fit for a PR comment")
    p.add_argument(
        "--fail-on",
        metavar="LIST",
        default="regressions",
        help="comma list of what else exits non-zero: fixes, changes (checks that changed "
        "with the same outcome), unsupported, matrix (cases not shared), infra (exit 3), all. "
        "Regressions always exit 1.",
    )
    options.add(p, "allow-empty")
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    fail_on = compare.parse_fail_on(args.fail_on)
    base_doc, base, base_label = baseline.load_side(args.base)
    head_doc, head, head_label = baseline.load_side(args.head)
    cmp = compare.diff(
        base, head, base_label, head_label, base_doc.get("stack"), head_doc.get("stack")
    )
    compare.require_shared(cmp, args.allow_empty)
    cmp.notes += compare.run_notes(base_doc, "base") + compare.run_notes(head_doc, "head")
    failing = compare.failing_kinds(cmp, fail_on)
    render = compare.render_markdown if args.markdown else compare.render_text
    print(render(cmp, failing), end="")
    return compare.exit_code(cmp, fail_on)
