"""Validate what macmatrix writes against the JSON Schemas it ships (macmatrix/data/schema).

Used by tests/conftest.py (every results.json and journal line the writer makes in a test, every
`repro` entry) and by the tests that read files a subprocess wrote. Beyond the schema, a check
name must be one of macmatrix.types.Check (optionally `[ifname]`-tagged): the schema keeps names
open so that a newer macmatrix's checks still validate, the tests keep this one honest.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from macmatrix import data
from macmatrix.types import check_base

MAC = re.compile(data.schema("results")["$defs"]["mac"]["pattern"])
# How many documents and entries were validated in this session (the hook's own test reads it).
validated: Counter[str] = Counter()


@cache
def validator(name: str, ref: str | None = None) -> Draft202012Validator:
    """The validator of schema `name`, or of its `#/$defs/<ref>` (e.g. one results case)."""
    schema = data.schema(name)
    if ref is not None:
        schema = {"$ref": f"#/$defs/{ref}", "$defs": schema["$defs"]}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(name: str, doc: Any, ref: str | None = None, matrix: bool = False) -> list[str]:
    """Every way `doc` departs from the schema (empty: valid), one readable line each.

    `matrix`: written by the matrix run, whose requested MACs are all real, normalised MACs (the
    schema lets `repro` record an input's non-MAC as given)."""
    found = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator(name, ref).iter_errors(doc)
    ]
    for where, key in _check_names(doc if ref is None else {"cases": [doc]}):
        if check_base(key) is None:
            found.append(f"{where}: check {key!r} is not a macmatrix.types.Check")
    if matrix:
        entries = [doc] if ref == "case" else doc.get("cases") or []
        for case in entries:
            for ifname, mac in (case.get("requested") or {}).items():
                if mac is not None and not MAC.match(mac):
                    found.append(f"{case.get('id')}: requested {ifname} {mac!r} is not a MAC")
    return found


def _check_names(doc: Any) -> list[tuple[str, str]]:
    """(case id, check name) of every check of a results doc or a baseline (cases list or map)."""
    cases = doc.get("cases") if isinstance(doc, dict) else None
    if isinstance(cases, dict):  # a baseline: id -> {outcome, checks: {name: bool}}
        cases = [{"id": cid, **e} for cid, e in cases.items() if isinstance(e, dict)]
    out = []
    for case in cases if isinstance(cases, list) else []:
        if not isinstance(case, dict):
            continue
        expected = case.get("expected")
        for checks in (
            case.get("checks"),
            expected.get("checks") if isinstance(expected, dict) else None,
        ):
            if isinstance(checks, dict):
                out += [(str(case.get("id")), str(name)) for name in checks]
    return out


def results(doc: Any, where: str = "results.json") -> None:
    """Assert a whole results.json document (of a matrix run) is valid."""
    bad = errors("results", doc, matrix=True)
    validated["results"] += 1
    assert not bad, f"{where} does not match results.schema.json:\n" + "\n".join(bad[:20])


def entry(case: Any, where: str = "results entry", matrix: bool = False) -> None:
    """Assert one case entry (a journal line, a `repro --json` case) is valid."""
    bad = errors("results", case, "case", matrix)
    validated["entry"] += 1
    assert not bad, f"{where} does not match results.schema.json#/$defs/case:\n" + "\n".join(
        bad[:20]
    )


def baseline(doc: Any, where: str = "baseline") -> None:
    bad = errors("baseline", doc)
    assert not bad, f"{where} does not match baseline.schema.json:\n" + "\n".join(bad[:20])
