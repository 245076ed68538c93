"""`-k EXPR` for case ids, with pytest's grammar and matching, without pytest's internals.

`macmatrix run -k` must pick the cases `pytest -k` picks, so both follow pytest's rules
(pytest-dev/pytest, src/_pytest/mark/expression.py and mark/__init__.py KeywordMatcher, 9.x):

    expression: expr? EOF          expr: and_expr ('or' and_expr)*
    and_expr:   not_expr ('and' not_expr)*
    not_expr:   'not' not_expr | '(' expr ')' | ident
    ident:      one or more of  word characters : + - . [ ] \\ /

A term matches when it is a case-insensitive substring; spaces and tabs separate tokens; an empty
expression matches nothing. pytest -k also matches test, module and marker names, so a term such
as `e2e` or `test_mac` selects more in pytest than here; for terms taken from case ids the two agree
(tests/test_selection.py checks that against pytest itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from macmatrix.errors import BadInput

_IDENT = re.compile(r"(?:\w|:|\+|-|\.|\[|\]|\\|/)+")
_KEYWORDS = ("and", "or", "not")

Matcher = Callable[[str], bool]


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "and", "or", "not", "ident", "end"
    text: str
    pos: int


def _tokens(expr: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(expr):
        ch = expr[pos]
        if ch in " \t":
            pos += 1
        elif ch in "()":
            out.append(_Token(ch, ch, pos))
            pos += 1
        elif m := _IDENT.match(expr, pos):
            word = m.group(0)
            out.append(_Token(word if word in _KEYWORDS else "ident", word, pos))
            pos = m.end()
        else:
            raise _Error(f'unexpected character "{ch}"', pos)
    out.append(_Token("end", "", pos))
    return out


class _Error(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


class _Parser:
    """Recursive descent over the grammar above; builds a predicate on the lower-cased id."""

    def __init__(self, expr: str) -> None:
        self.toks = _tokens(expr)
        self.i = 0

    def peek(self, kind: str) -> bool:
        return self.toks[self.i].kind == kind

    def take(self, kind: str) -> _Token:
        tok = self.toks[self.i]
        if tok.kind != kind:
            found = tok.text or "end of input"
            raise _Error(f"expected {kind!r}, got {found!r}", tok.pos)
        self.i += 1
        return tok

    def expression(self) -> Matcher:
        if self.peek("end"):
            return lambda _cid: False
        ret = self.expr()
        self.take("end")
        return ret

    def expr(self) -> Matcher:
        parts = [self.and_expr()]
        while self.peek("or"):
            self.take("or")
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else lambda cid: any(p(cid) for p in parts)

    def and_expr(self) -> Matcher:
        parts = [self.not_expr()]
        while self.peek("and"):
            self.take("and")
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else lambda cid: all(p(cid) for p in parts)

    def not_expr(self) -> Matcher:
        if self.peek("not"):
            self.take("not")
            inner = self.not_expr()
            return lambda cid: not inner(cid)
        if self.peek("("):
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        tok = self.toks[self.i]
        if tok.kind != "ident":
            found = tok.text or "end of input"
            raise _Error(f"expected not, ( or a term, got {found!r}", tok.pos)
        self.i += 1
        term = tok.text.lower()
        return lambda cid: term in cid


def compile_keyword(expr: str) -> Callable[[str], bool]:
    """A predicate on case ids for `-k expr`; BadInput (one line, with the column) if malformed."""
    try:
        pred = _Parser(expr).expression()
    except _Error as e:
        raise BadInput(
            f"-k: cannot parse {expr!r} at column {e.pos + 1}: {e}; "
            "use terms with and, or, not and parentheses, as with pytest -k"
        ) from None
    return lambda cid: pred(cid.lower())
