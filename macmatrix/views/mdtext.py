"""Untrusted text (reasons, plugin errors, labels) inside GitHub Markdown: step summaries, PR
comments, results.md.

A reason is whatever a plugin or a pasted file said. In a step summary, `![x](https://host/p)`
would make every reader's browser fetch that URL, `<img ...>` or `<details>` would be parsed as
HTML, `*`/`_`/backticks would restyle the rest of the line and `|` would split a table cell
(`#` only counts at a line's start, which a cell never is).
GitHub Flavored Markdown lets any ASCII punctuation be escaped with a backslash (GFM spec,
"Backslash escapes"); inside a code span backslashes are literal, so code spans only lose
backticks (and pipes are escaped, which GFM tables honour even there).
"""

from __future__ import annotations

import re
from typing import Any

_PUNCT = re.compile(r"([\\`*\[\]!~|])")
# `_` only emphasises at a word's edge (GFM: intraword `_` is literal), so check_names stay
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def text(value: Any) -> str:
    """One line of plain text that renders as written, in a table cell or a paragraph."""
    flat = " ".join(str(value).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _EDGE_UNDERSCORE.sub(r"\\_", _PUNCT.sub(r"\\\1", flat))


def code(value: Any) -> str:
    """The inside of a `code span` (the caller adds the backticks)."""
    flat = " ".join(str(value).split()).replace("`", "'")
    return flat.replace("|", "\\|")
