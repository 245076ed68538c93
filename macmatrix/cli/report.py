"""`macmatrix report RESULTS.json... [--html OUT] [--markdown OUT]`: views/report.py's command."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from macmatrix.cli import options
from macmatrix.errors import BadInput
from macmatrix.run.results import load
from macmatrix.views.report import SUMMARY_BUDGET, render_html, render_markdown, render_terminal


def main(argv: Sequence[str]) -> int:
    """`macmatrix report RESULTS.json... [--html OUT] [--markdown OUT]`; `-` writes to stdout."""
    parser = options.Parser(
        prog="macmatrix report",
        description="Render results.json files as a cases x stacks grid (Markdown and/or HTML).",
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS.json")
    parser.add_argument("--html", metavar="OUT", help="write one self-contained HTML page")
    parser.add_argument("--markdown", metavar="OUT", help="write Markdown ('-' for stdout)")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=SUMMARY_BUDGET,
        help="cap the Markdown size (GitHub step summaries reject more than 1 MiB)",
    )
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    docs = [load(p) for p in args.results]
    if args.html:
        _write(args.html, render_html(docs))
    if args.markdown:
        _write(args.markdown, render_markdown(docs, max_bytes=args.max_bytes))
    if not args.html and not args.markdown:
        for doc in docs:
            sys.stdout.write(render_terminal(doc))
    return 0


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
        return
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise BadInput(f"{target}: cannot write ({e.strerror}); pass a writable output path") from e
