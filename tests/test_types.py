"""macmatrix/types.py is the one place outcomes and check names are spelled (issue 10 item 9).

The walk reads every module of the package with `ast` and fails on a string literal equal to an
outcome or a check name outside types.py, so a module that declares `WORKS = "works"` (or keys a
check as "status_matches_kernel") again fails here, and a new outcome or check added to the enum is
covered at once. Docstrings are prose, not declarations, and are skipped.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import macmatrix
from macmatrix.types import Check, Outcome, Status, check_base, outcome_of

PACKAGE = Path(macmatrix.__file__).parent

# Literals equal to a word of the enums by coincidence, each with why it is not an outcome or a
# check. Kept exact: an entry that no longer occurs fails too (test_allowed_literals_still_occur).
ALLOWED = {
    # the fix search's JSON field `works` (a boolean: the candidate works *and* keeps the request)
    ("workflows/candidates.py", "works"): 1,
}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def literals(words: set[str]) -> dict[tuple[str, str], list[int]]:
    """(module path, word) -> line numbers of string literals equal to one of `words`."""
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "types.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in words
                and id(node) not in skip
            ):
                found.setdefault((rel, node.value), []).append(node.lineno)
    return found


WORDS = {o.value for o in Outcome} | {s.value for s in Status} | {c.value for c in Check}


def test_no_module_spells_an_outcome_or_check_name_outside_types():
    found = literals(WORDS)
    extra = {k: v for k, v in found.items() if len(v) != ALLOWED.get(k, 0)}
    assert not extra, (
        "use macmatrix.types (Outcome, Status, Check) instead of these string literals: "
        + "; ".join(f"{m}:{lines} {w!r}" for (m, w), lines in sorted(extra.items()))
    )


def test_allowed_literals_still_occur():
    found = literals(WORDS)
    stale = [k for k in ALLOWED if k not in found]
    assert not stale, f"remove these ALLOWED entries, they no longer occur: {stale}"


def test_the_walk_finds_a_redeclaration(tmp_path, monkeypatch):
    """The walk is not vacuous: a module re-declaring an outcome or keying a check is caught."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "types.py").write_text('WORKS = "works"\n')  # the one allowed place
    (pkg / "view.py").write_text(
        '"""works"""\nINFRA = "infra-error"\nchecks = {"status_matches_kernel": 1}\n'
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    found = literals(WORDS)
    assert found == {
        ("view.py", "infra-error"): [2],
        ("view.py", "status_matches_kernel"): [3],
    }


def test_enums_are_their_strings():
    """Old files and old comparisons keep working: a member is equal to, and dumps as, its value."""
    assert Outcome.INFRA_ERROR == "infra-error" and {"works": 1}[Outcome.WORKS] == 1
    assert json.dumps({Check.SANDBOX_CREATED: Outcome.BROKEN}) == '{"sandbox_created": "broken"}'
    assert [o.value for o in Outcome] == ["works", "broken", "infra-error", "unsupported"]
    assert Status.INFRA_ERROR == Outcome.INFRA_ERROR and Status.UNSUPPORTED == Outcome.UNSUPPORTED
    assert f"{Outcome.UNSUPPORTED}" == "unsupported"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("works", Outcome.WORKS),
        ("infra-error", Outcome.INFRA_ERROR),
        ("ran", None),
        ("Works", None),
        (None, None),
        (["works"], None),
        ({"a": 1}, None),
        (1, None),
    ],
)
def test_outcome_of_any_json(value, want):
    assert outcome_of(value) is want


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("status_matches_kernel", Check.STATUS_MATCHES_KERNEL),
        ("mac_honoured[net1]", Check.MAC_HONOURED),
        ("primary_mac_honoured[eth0]", Check.PRIMARY_MAC_HONOURED),
        ("nope", None),
        ("nope[net1]", None),
        ("mac_honoured[", None),
    ],
)
def test_check_base(name, want):
    assert check_base(name) is want
    if want is not None and "[" in name:
        assert want.tagged(name[name.index("[") + 1 : -1]) == name
