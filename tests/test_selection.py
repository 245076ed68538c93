"""Our -k matcher (macmatrix/spec/selection.py) against pytest's own, on the real case ids.

pytest's internals are the oracle here, in the tests only: the library never imports them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _pytest.mark.expression import Expression
from hypothesis import given, settings
from hypothesis import strategies as st

from macmatrix.errors import BadInput
from macmatrix.spec import cases
from macmatrix.spec.selection import compile_keyword

REPO = Path(__file__).resolve().parents[1]
IDS = [c.id for c in cases.load(cases.default_matrix_path())]
# Terms a user types: whole id segments, parts of them, other case, and terms matching nothing.
SEGMENTS = sorted({seg for cid in IDS for seg in cid.split("/")})
TERMS = [*SEGMENTS, "capmac", "MACVLAN", "Req-CNI", "static", "x2", "cni-0", "nope", "1.0"]


def pytest_selects(expr: str, cid: str) -> bool:
    """pytest's -k semantics for a term: case-insensitive substring (KeywordMatcher)."""

    def matcher(term: str, /, **kwargs: object) -> bool:
        if kwargs:
            raise pytest.UsageError("Keyword expressions do not support call parameters.")
        return term.lower() in cid.lower()

    return bool(Expression.compile(expr).evaluate(matcher))


def pytest_rejects(expr: str) -> bool:
    try:
        pytest_selects(expr, IDS[0])
    except (SyntaxError, pytest.UsageError):
        return True
    return False


def exprs() -> st.SearchStrategy[str]:
    term = st.sampled_from(TERMS)
    return st.recursive(
        term,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
            inner.map(lambda e: f"not {e}"),
            inner.map(lambda e: f"({e})"),
        ),
        max_leaves=6,
    )


@settings(max_examples=150, deadline=None)
@given(exprs())
def test_same_cases_as_pytest_for_well_formed_expressions(expr: str) -> None:
    ours = compile_keyword(expr)
    assert [cid for cid in IDS if ours(cid)] == [cid for cid in IDS if pytest_selects(expr, cid)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*TERMS[:4], "and", "or", "not", "(", ")", " ", "\t", "=", ",", '"', "!"]),
        max_size=8,
    ).map(" ".join)
)
def test_rejects_what_pytest_rejects(expr: str) -> None:
    try:
        ours = compile_keyword(expr)
    except BadInput:
        assert pytest_rejects(expr), expr
        return
    assert not pytest_rejects(expr), expr
    assert [cid for cid in IDS if ours(cid)] == [cid for cid in IDS if pytest_selects(expr, cid)]


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("not a and b", lambda a, b, c: (not a) and b),  # not binds tighter than and
        ("a or b and c", lambda a, b, c: a or (b and c)),  # and binds tighter than or
        ("(a or b) and c", lambda a, b, c: (a or b) and c),
        ("not (a or b)", lambda a, b, c: not (a or b)),
        ("not not c", lambda a, b, c: c),
    ],
)
def test_precedence(expr: str, want) -> None:  # type: ignore[no-untyped-def]
    pred = compile_keyword(expr)
    for bits in range(8):
        a, b, c = bool(bits & 1), bool(bits & 2), bool(bits & 4)
        cid = "/".join(n for n, on in (("a", a), ("b", b), ("c", c)) if on) or "-"
        assert pred(cid) is want(a, b, c), (expr, cid)


def test_bad_expression_is_one_line_naming_k_and_the_column() -> None:
    with pytest.raises(BadInput) as e:
        compile_keyword("tuning-static and (x1 or")
    text = str(e.value)
    assert text.startswith("-k: cannot parse") and "column 25" in text and "\n" not in text
    with pytest.raises(BadInput, match='unexpected character "="'):
        compile_keyword("req=networks")
    assert not any(compile_keyword("  ")(cid) for cid in IDS)  # empty: nothing, like pytest


@pytest.mark.parametrize(
    "expr", ["req-cni-args and tuning-static and not macvlan+capmac", "X2 or (cni-0 and not list)"]
)
def test_same_ids_as_a_real_pytest_collection(expr: str) -> None:
    """pytest itself, collecting e2e/test_mac_matrix.py with -k, keeps the cases select() keeps."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "e2e/test_mac_matrix.py", "--collect-only", "-q"]
        + ["-p", "no:cacheprovider", "-k", expr],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prefix = "e2e/test_mac_matrix.py::test_mac_case["
    collected = [ln[len(prefix) : -1] for ln in proc.stdout.splitlines() if ln.startswith(prefix)]
    picked = [c.id for c in cases.select(cases.load(cases.default_matrix_path()), expr)]
    assert collected and collected == picked
