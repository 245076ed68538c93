"""results.json: unfinished cases first, atomic rewrites, and loading with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from macmatrix.errors import BadInput
from macmatrix.judge.verdict import judge, model
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run import results
from macmatrix.run.results import UNFINISHED, ResultsWriter, case_entry, load
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.views import junit

STACK = {"name": "netns", "backend": "netns", "cni_plugins": "1.1.1"}


def two_cases() -> list[Case]:
    return [Case(**DEFAULTS), Case(**{**DEFAULTS, "request": "none"})]


def test_writer_starts_with_every_case_unfinished(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.json"
    ResultsWriter(path, STACK, "m.yaml", two_cases())
    doc = load(path)
    assert [c["reason"] for c in doc["cases"]] == [UNFINISHED, UNFINISHED]
    assert doc["complete"] is False and doc["finished"] is None
    assert doc["summary"]["infra-error"] == 2


def test_recorded_case_and_finish(tmp_path: Path) -> None:
    c, other = two_cases()
    w = ResultsWriter(tmp_path / "results.json", STACK, "m.yaml", [c, other])
    mac = c.requested_mac(0)
    obs = CaseObservation(
        c.id,
        pods=[PodObservation("p", {"net1": mac}, [{"interface": "net1", "mac": mac.upper()}])],
    )
    w.record(case_entry(c, obs, judge(c, obs), model(c, STACK)))
    doc = w.finish()
    assert doc["complete"] is False  # the other case never finished
    entry = load(tmp_path / "results.json")["cases"][0]
    assert entry["outcome"] == "works" and entry["as_expected"] is True
    assert entry["requested"] == {"net1": mac}
    assert entry["pods"][0]["interfaces"] == {"net1": mac}
    assert entry["checks"]["secondary_mac_honoured"] == {
        "expected": [mac],
        "observed": [mac],
        "ok": True,
    }
    assert not list(tmp_path.glob(".results.json.*"))  # no temp files left behind


def test_load_rejects_truncated_foreign_and_other_schema(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    w = ResultsWriter(p, STACK, "m.yaml", two_cases())
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(BadInput, match="truncated"):
        load(p)
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(BadInput, match="not a macmatrix results"):
        load(p)
    doc = dict(w.doc, schema=99)
    p.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="schema 99"):
        load(p)
    with pytest.raises(BadInput, match="cannot read"):
        load(tmp_path / "missing.json")


def test_junit_maps_outcomes_to_pytest_names(tmp_path: Path) -> None:
    c, other = two_cases()
    w = ResultsWriter(tmp_path / "results.json", STACK, "m.yaml", [c, other])
    bad = CaseObservation(c.id, pods=[PodObservation("p", {"net1": "02:00:00:00:00:99"})])
    w.record(case_entry(c, bad, judge(c, bad), model(c, STACK)))
    xml = junit.render(w.finish())
    assert f'name="test_mac_case[{c.id}]"' in xml
    assert "<failure" in xml and "<error" in xml  # the unfinished one is an infra error


def _entry_with_calls(c: Case) -> dict[str, Any]:
    mac = c.requested_mac(0)
    calls = [{"plugin": "macvlan", "command": "ADD", "stdin": {"type": "macvlan"}}]
    obs = CaseObservation(c.id, pods=[PodObservation("p", {"net1": mac}, invocations=calls)])
    return case_entry(c, obs, judge(c, obs), model(c, STACK))


def test_a_killed_run_keeps_its_finished_cases_in_the_journal(tmp_path: Path) -> None:
    c, other = two_cases()
    path = tmp_path / "results.json"
    w = ResultsWriter(path, STACK, "m.yaml", [c, other])
    w.record(_entry_with_calls(c))
    # killed here: no finish(). The file itself may still say unfinished; load() reads on.
    doc = load(path)
    assert doc["cases"][0]["finished"] is True
    assert doc["cases"][0]["pods"][0]["invocations"][0]["plugin"] == "macvlan"
    assert doc["cases"][1]["reason"] == UNFINISHED and doc["complete"] is False
    assert doc["summary"]["infra-error"] == 1


def test_file_has_full_entries_memory_light_ones(tmp_path: Path) -> None:
    c, other = two_cases()
    path = tmp_path / "results.json"
    w = ResultsWriter(path, STACK, "m.yaml", [c, other])
    w.record(_entry_with_calls(c))
    doc = w.finish()
    assert "invocations" not in doc["cases"][0]["pods"][0]
    on_disk = json.loads(path.read_text())
    assert on_disk["cases"][0]["pods"][0]["invocations"][0]["command"] == "ADD"
    assert on_disk["summary"] == doc["summary"]
    assert not results.journal_path(path).exists()


def test_streamed_file_is_the_same_text_as_one_dump(tmp_path: Path) -> None:
    c, other = two_cases()
    doc = {"schema": 1, "stack": STACK, "cases": [_entry_with_calls(c), _entry_with_calls(other)]}
    text = "".join(results.dump_lines(doc, doc["cases"]))
    assert text == json.dumps(doc, indent=2) + "\n"
    empty = {"schema": 1, "cases": []}
    assert "".join(results.dump_lines(empty, [])) == json.dumps(empty, indent=2) + "\n"
