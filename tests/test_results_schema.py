"""The JSON Schemas macmatrix ships (macmatrix/data/schema) say what the code writes and reads.

tests/conftest.py validates every results.json, journal line and repro entry the tests make;
this file checks the schemas themselves: valid Draft 2020-12, the same version, outcomes and field
names as the code (macmatrix.types, run/results.SCHEMA, views/baseline.SCHEMA), able to refuse a
wrong file, and met by the committed baselines and by a results.json written before the enums
(tests/data/results-schema1-0beea56.json: a real netns run of main at 0beea56, four cases:
works, broken, two unsupported), which `compare` and `report` still read.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
import typing
from pathlib import Path

import pytest
import schema_check
from jsonschema import Draft202012Validator

from macmatrix import cli, data
from macmatrix.run import results
from macmatrix.types import CaseEntry, Check, Outcome
from macmatrix.views import baseline

REPO = Path(__file__).resolve().parents[1]
OLD = REPO / "tests" / "data" / "results-schema1-0beea56.json"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.mark.parametrize("name", ["results", "baseline"])
def test_schemas_are_draft_2020_12(name: str) -> None:
    schema = data.schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_schema_versions_are_the_code_s() -> None:
    assert data.schema("results")["properties"]["schema"]["const"] == results.SCHEMA
    assert data.schema("baseline")["properties"]["schema"]["const"] == baseline.SCHEMA
    assert data.schema("results")["$id"].endswith(f":{results.SCHEMA}")


def test_outcomes_are_the_enum() -> None:
    defs = data.schema("results")["$defs"]
    assert defs["outcome"]["enum"] == [o.value for o in Outcome]
    cases = data.schema("baseline")["properties"]["cases"]["additionalProperties"]
    # a baseline leaves infra errors out: they say nothing about behaviour
    assert cases["properties"]["outcome"]["enum"] == [
        o.value for o in Outcome if o != Outcome.INFRA_ERROR
    ]


def test_every_check_name_fits_the_schema_s_names() -> None:
    for schema, path in (
        ("results", ("$defs", "case", "properties", "checks")),
        ("baseline", ("properties", "cases", "additionalProperties", "properties", "checks")),
    ):
        node = data.schema(schema)
        for key in path:
            node = node[key]
        pattern = re.compile(node["propertyNames"]["pattern"])
        for check in Check:
            assert pattern.search(check.value) and pattern.search(check.tagged("net1"))
        assert not pattern.search("Status Matches")


def test_the_typed_entry_and_the_schema_name_the_same_fields() -> None:
    """CaseEntry (macmatrix/types.py) and the schema's case agree on required and known fields."""
    case = data.schema("results")["$defs"]["case"]
    assert set(case["required"]) == CaseEntry.__required_keys__ - {"finished"}
    assert set(typing.get_type_hints(CaseEntry)) == set(case["properties"])
    # `finished` is written by every macmatrix that has the enums; older files may lack it
    assert "finished" in CaseEntry.__required_keys__


def test_committed_baselines_match_the_baseline_schema() -> None:
    files = sorted((REPO / "e2e" / "baselines").glob("*.json"))
    assert files
    for path in files:
        schema_check.baseline(json.loads(path.read_text()), str(path))


def test_an_old_results_file_matches_and_still_loads(capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(OLD.read_text())
    schema_check.results(doc, str(OLD))
    assert [c["outcome"] for c in results.load(OLD)["cases"]] == [
        "broken",
        "works",
        "unsupported",
        "unsupported",
    ]
    assert cli.main(["compare", str(OLD), str(OLD)]) == 0
    assert "4 unchanged" in capsys.readouterr().out
    assert cli.main(["report", str(OLD)]) == 0
    out = capsys.readouterr().out
    assert "X broken" in out and "+ works" in out


def test_the_old_file_reduces_to_the_committed_baseline_s_entries() -> None:
    """What `baseline update` makes of the old file is what the committed netns baseline holds."""
    committed = json.loads((REPO / "e2e" / "baselines" / "netns-netns.json").read_text())
    built, skipped = baseline.build(results.load(OLD))
    assert not skipped
    schema_check.baseline(built)
    assert built["cases"] == {cid: committed["cases"][cid] for cid in built["cases"]}


def _bad(doc: dict, change) -> list[str]:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(doc)
    change(doc)
    return schema_check.errors("results", doc)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["cases"][0].update(outcome="fine"), "cases/0/outcome"),
        (lambda d: d["cases"][0].pop("reason"), "'reason' is a required property"),
        (lambda d: d["cases"][1]["requested"].update(net1=2), "requested/net1"),
        (lambda d: d["cases"][1]["pods"][0]["interfaces"].update(net1="2:a:b:c:d:e"), "net1"),
        (lambda d: d["cases"][0]["checks"].update(x={"ok": True}), "'expected' is a required"),
        (
            lambda d: d["cases"][0]["checks"].update(
                made_up={"expected": 1, "observed": 1, "ok": True}
            ),
            "not a macmatrix",
        ),
        (lambda d: d.update(schema=2), "schema: 1 was expected"),
        (lambda d: d["cases"][0].update(attempts=-1), "attempts"),
        (lambda d: d.pop("stack"), "'stack' is a required property"),
    ],
)
def test_the_schema_refuses_a_wrong_file(change, where: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(OLD.read_text())
    bad = _bad(doc, change)
    assert bad and any(where in line for line in bad), bad


def test_extra_fields_are_welcome() -> None:
    """Extend, never rename: a newer macmatrix's added fields still validate here."""
    doc = json.loads(OLD.read_text())
    assert not _bad(doc, lambda d: d["cases"][0].update(new_field={"any": [1]}))
    assert not _bad(doc, lambda d: d.update(new_top=1))


def test_the_hook_validates_what_the_cli_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tests/conftest.py's hook sees a real `run` (results.json and journal lines) and a real
    `repro --json` through the CLI's own imports, not only the functions it wrapped."""
    from macmatrix.backends.netns.backend import unavailable

    why = unavailable()
    if why:
        pytest.skip(f"the netns backend cannot run here: {why}")
    before = dict(schema_check.validated)
    argv = ["run", "--backend", "netns", "-k", "single and ipam-static and req-networks/cni-1.0.0"]
    assert cli.main([*argv, "--out", str(tmp_path), "-q", "--no-baseline"]) == 0
    runs = schema_check.validated["results"] - before.get("results", 0)
    lines = schema_check.validated["entry"] - before.get("entry", 0)
    assert runs >= 2 and lines >= 1  # first write (all unfinished) and the last; each case line
    corpus = REPO / "tests" / "data" / "corpus" / "nad-plus-networks.yaml"
    assert cli.main(["repro", str(corpus), "--backend", "netns", "--json", "--no-fix"]) in (0, 1)
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert schema_check.validated["entry"] == before.get("entry", 0) + lines + 1
    assert case["id"].startswith("repro/")


@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_newer_schema_is_one_line_exit_2(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(OLD.read_text())
    doc["schema"] = results.SCHEMA + 1
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(doc))
    argv = [command, str(newer)] + ([str(OLD)] if command == "compare" else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"schema {results.SCHEMA + 1} is newer" in err and "upgrade macmatrix" in err


def test_a_matrix_run_s_requested_macs_are_macs() -> None:
    """The schema lets `repro` keep an input's non-MAC as given; a matrix run never writes one."""
    doc = json.loads(OLD.read_text())
    doc["cases"][1]["requested"]["net1"] = "02:AA:BB:CC:DD:EE"
    assert not schema_check.errors("results", doc)
    assert any("is not a MAC" in e for e in schema_check.errors("results", doc, matrix=True))


def test_the_schemas_are_package_data() -> None:
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["macmatrix.data"]
    shipped = {str(p.relative_to(data.packaged())) for g in globs for p in data.packaged().glob(g)}
    assert {"schema/results.schema.json", "schema/baseline.schema.json"} <= shipped
