"""The MAC matrix as pytest tests: one test per case of the matrix (default, or --matrix FILE).

Shipped in the package so an installed macmatrix runs it from any folder:

    pytest --backend netns --pyargs macmatrix.e2e [-k EXPR] [--matrix FILE] [--out DIR]

The repository's e2e/test_mac_matrix.py collects this same test (same case ids).

A test passes when its case's outcome and checks equal the expectation (the model of upstream
behaviour, or --baseline): a combination known to be broken passes while the table still shows
it broken, and any change, better or worse, fails with requested/kernel/reported MACs side by side.
"""

from __future__ import annotations

from typing import Any

import pytest

from macmatrix.pytest_plugin.matrix import side_by_side
from macmatrix.spec.cases import Case
from macmatrix.types import Outcome

pytestmark = pytest.mark.e2e


def test_mac_case(mac_case: Case, matrix_results: dict[str, dict[str, Any]]) -> None:
    entry = matrix_results[mac_case.id]
    if entry["outcome"] == Outcome.UNSUPPORTED:
        pytest.skip(entry["reason"])
    if entry["outcome"] == Outcome.INFRA_ERROR:
        pytest.fail(f"infra-error (not a finding; re-run): {entry['reason']}", pytrace=False)
    if not entry.get("as_expected", False):
        expected = entry.get("expected", {})
        pytest.fail(
            f"{mac_case.id}: observed {entry['outcome']}, expected {expected.get('outcome')}\n"
            + "\n".join(entry.get("differences", []))
            + f"\nreason: {entry['reason']}\nexpected because: {'; '.join(expected.get('why', []))}"
            + "\n\n"
            + side_by_side(entry),
            pytrace=False,
        )
