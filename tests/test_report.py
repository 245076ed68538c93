"""macmatrix.views.report on crafted multi-stack results written by the real results code."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from macmatrix import cli
from macmatrix.judge import verdict
from macmatrix.observe import (
    CaseObservation,
    PodObservation,
    network_status_entry,
)
from macmatrix.run import results
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.types import Status
from macmatrix.views import report

BASE = Case(**DEFAULTS)
# name -> case; each gets a scripted observation below.
CASES = {
    "works": BASE,
    "broken": replace(BASE, request="cni-args"),  # macvlan ignores cni-args: broken, as modelled
    "infra": replace(BASE, cni_version="0.4.0"),
    "unsupported": replace(BASE, ipam="kube-ovn"),
    "flaky": replace(BASE, ipam="host-local"),
    "regressed": replace(BASE, chain="conflist", tuning="capmac"),
    "sandbox": replace(BASE, cni_version="0.3.1"),
}
NASTY = "boom | </script><script>window.pwned=1</script> & <b>bold</b>"
RANDOM_MAC = "0a:58:0a:00:00:09"
# Where the model has no word for a scripted case, a baseline-like expectation stands in.
EXPECTED = {
    "unsupported": verdict.Expectation("unsupported", {}, ["netns cannot run kube-ovn IPAM"]),
    "sandbox": verdict.Expectation("broken", {"sandbox_created": False}, ["known bad"], "baseline"),
}


def _observe(name: str, case: Case, regress: bool) -> CaseObservation:
    if name == "infra":
        return CaseObservation(
            case.id, status=Status.INFRA_ERROR, reason="pod not Running after 120s"
        )
    if name == "unsupported":
        return CaseObservation(
            case.id, status=Status.UNSUPPORTED, reason="netns backend: needs kube-ovn"
        )
    if name == "sandbox":
        return CaseObservation(case.id, pods=[PodObservation("p0", error=NASTY)])
    honoured = name in ("works", "flaky") or (name == "regressed" and not regress)
    mac = case.requested_mac(0) if honoured else RANDOM_MAC
    status = network_status_entry(
        "macmatrix/nad", {"interfaces": [{"name": "net1", "mac": mac, "sandbox": "/x"}]}, "net1"
    )
    return CaseObservation(
        case.id,
        pods=[PodObservation("p0", {"net1": mac}, [status])],
        attempts=2 if name == "flaky" else 1,
        flaky=name == "flaky",
    )


def write_doc(
    path: Path, stack_name: str | None, backend: str, regress: bool, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A results.json for the scripted cases, through ResultsWriter + case_entry, then load()."""
    stack = {
        "backend": backend,
        "kube_ovn": "v1.14.41",
        "multus": "v4.2.1",
        "cni_plugins": "v1.9.0",
    }
    if stack_name:
        stack["name"] = stack_name
    chosen = {n: c for n, c in CASES.items() if n not in skip}
    writer = results.ResultsWriter(path, stack, "e2e/matrix.yaml", list(chosen.values()))
    for name, case in chosen.items():
        obs = _observe(name, case, regress)
        expected = EXPECTED.get(name) or verdict.model(case, stack)
        writer.record(results.case_entry(case, obs, verdict.judge(case, obs), expected))
    writer.finish()
    return results.load(path)


def crafted_docs(tmp: Path) -> list[dict[str, Any]]:
    """Three columns: two named stacks (one regressed) and a repeat of the first stack's name."""
    return [
        write_doc(tmp / "a" / "results.json", "kube-ovn-v1.14", "kind", regress=True),
        write_doc(tmp / "b" / "results.json", "kube-ovn-v1.13", "kind", False, skip=("works",)),
        write_doc(tmp / "c" / "results.json", "kube-ovn-v1.14", "kind", regress=False),
    ]


@pytest.fixture()
def docs(tmp_path: Path) -> list[dict[str, Any]]:
    return crafted_docs(tmp_path)


def test_crafted_scenario_is_what_the_tests_assume(docs: list[dict[str, Any]]) -> None:
    by_id = {e["id"]: e for e in docs[0]["cases"]}
    outcome = {n: by_id[c.id]["outcome"] for n, c in CASES.items()}
    assert outcome == {
        "works": "works",
        "broken": "broken",
        "infra": "infra-error",
        "unsupported": "unsupported",
        "flaky": "works",
        "regressed": "broken",
        "sandbox": "broken",
    }
    assert by_id[CASES["regressed"].id]["as_expected"] is False
    assert by_id[CASES["broken"].id]["as_expected"] is True


# --------------------------------------------------------------------------- terminal


def test_terminal_lists_every_case_with_symbol_word_and_counts(docs: list[dict[str, Any]]) -> None:
    text = report.render_terminal(docs[0], width=100)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    for name, case in CASES.items():
        row = next(line for line in lines if case.id in line)
        outcome = {"infra": "infra-error", "flaky": "works", "regressed": "broken"}.get(name, name)
        outcome = "broken" if name == "sandbox" else outcome
        assert f"{report.ASCII[outcome]} {outcome}" in row, row
    assert "7 cases: 2 works, 3 broken, 1 infra-error, 1 unsupported; 1 unexpected, 1 flaky" in text
    # only the regressed case is flagged as unexpected (infra errors are never findings)
    flagged = [line for line in lines if line.startswith("*") and "/" in line.split()[-1]]
    assert len(flagged) == 1 and CASES["regressed"].id in flagged[0]
    assert "secondary_mac_honoured: expected 02:" in text  # the short reason is shown
    assert "      check secondary_mac_honoured: expected ok=True, observed ok=False" in text
    assert all(ord(ch) < 128 for ch in text.replace("…", "")), "terminal output must stay ASCII"


def test_terminal_narrow_width_wraps_reason_and_stays_in_bounds(
    docs: list[dict[str, Any]],
) -> None:
    text = report.render_terminal(docs[0], width=60)
    ids = [c.id for c in CASES.values()]
    # only lines holding a whole case id may run over: ids are never cut (people copy them)
    long = [line for line in text.splitlines() if len(line) > 60]
    assert long and all(any(line.endswith(i) for i in ids) for line in long), long
    for case in CASES.values():
        assert case.id in text
    assert "pod not Running" in text
    assert "      check secondary_mac_honoured: expected ok=True, obs..." in text


# --------------------------------------------------------------------------- Markdown


def test_markdown_single_doc_is_a_per_case_table(docs: list[dict[str, Any]]) -> None:
    md = report.render_markdown(docs[:1])
    table = md.split("<details>")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(CASES)
    assert "| outcome | case | reason | expected |" in md
    assert "✗ broken ≠" in md and "✓ works ↻" in md and "⚠ infra" in md


def test_markdown_grid_has_a_column_per_doc_and_marks_missing(docs: list[dict[str, Any]]) -> None:
    md = report.render_markdown(docs)
    header = next(line for line in md.splitlines() if line.startswith("| case |"))
    assert header == "| case | kube-ovn-v1.14 | kube-ovn-v1.13 | kube-ovn-v1.14 #2 |"
    row = next(line for line in md.splitlines() if f"`{CASES['works'].id}`" in line)
    assert row.count("|") == 5 and "· not run" in row
    regressed = next(line for line in md.splitlines() if f"`{CASES['regressed'].id}`" in line)
    cells = [c.strip() for c in regressed.strip("|").split("|")][1:]
    assert cells == ["✗ broken ≠", "✓ works", "✓ works"]


def test_markdown_escapes_pipes_and_html_in_reasons(docs: list[dict[str, Any]]) -> None:
    md = report.render_markdown(docs)
    assert "<script>" not in md and "<b>" not in md
    assert "boom \\| &lt;/script&gt;" in md
    for line in md.splitlines():
        if line.startswith("| `"):
            # escaped pipes do not split cells: every grid row has one cell per column + id
            assert len(re.split(r"(?<!\\)\|", line)) - 2 in (3, 4), line


def test_markdown_stays_under_the_step_summary_budget(tmp_path: Path) -> None:
    doc = write_doc(tmp_path / "r.json", "big", "kind", regress=True)
    many = [dict(e, id=f"{e['id']}/n{i}") for i in range(900) for e in doc["cases"]]
    big = [dict(doc, cases=many), dict(doc, cases=many)]
    full = report.render_markdown(big, max_bytes=10**9)
    assert len(full.encode()) > 200_000  # the budget below really bites
    capped = report.render_markdown(big, max_bytes=200_000)
    assert len(capped.encode()) <= 200_000
    assert "to stay under the step-summary size limit" in capped
    assert "| case | big | big #2 |" in capped  # the grid survives, the details go first
    default = report.render_markdown(big)
    assert len(default.encode()) <= report.SUMMARY_BUDGET < 1024 * 1024


# --------------------------------------------------------------------------- HTML


class _Grid(HTMLParser):
    """Collects the grid's cells and every tag/attribute that could reach the network."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.external: list[str] = []
        self.script_types: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and "cell" in (a.get("class") or ""):
            self.cells.append(a)
        if tag == "script":
            self.script_types.append(a.get("type"))
        for key in ("src", "href"):
            if a.get(key):
                self.external.append(f"{tag} {key}={a[key]}")
        if tag == "link":
            self.external.append("link")


def test_html_is_self_contained_and_has_every_cell(docs: list[dict[str, Any]]) -> None:
    page = report.render_html(docs)
    grid = _Grid()
    grid.feed(page)
    assert grid.external == []
    assert not re.search(r"https?://|@import|url\(|@font-face", page)
    # 7 cases x 3 columns, one of them "not run"
    assert len(grid.cells) == len(CASES) * 3
    outcomes = [c["data-outcome"] for c in grid.cells]
    assert outcomes.count("none") == 1
    assert outcomes.count("infra-error") == 3 and outcomes.count("unsupported") == 3
    flaky = [c for c in grid.cells if "flaky" in (c["class"] or "").split()]
    unexpected = [c for c in grid.cells if "unexpected" in (c["class"] or "").split()]
    assert len(flaky) == 3 and len(unexpected) == 1
    # the only extra script is the inert data block
    assert grid.script_types == ["application/json", None]


def test_html_data_block_cannot_be_broken_out_of(docs: list[dict[str, Any]]) -> None:
    page = report.render_html(docs)
    assert "<script>window.pwned" not in page
    payload = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S)
    assert payload is not None
    data = json.loads(payload.group(1))
    key = f"0:{data['ids'].index(CASES['sandbox'].id)}"
    assert NASTY in data["cells"][key]["reason"]
    assert set(data["cells"][key]["checks"]) == {"sandbox_created"}
    assert [c["label"] for c in data["columns"]] == [
        "kube-ovn-v1.14",
        "kube-ovn-v1.13",
        "kube-ovn-v1.14 #2",
    ]


def test_column_label_falls_back_to_backend() -> None:
    docs = [{"stack": {"backend": "netns"}}, {"stack": {"backend": "netns"}}, {}]
    assert report.column_labels(docs) == ["netns", "netns #2", "results"]


# --------------------------------------------------------------------------- command line


def test_cli_writes_html_and_markdown(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    paths = [str(tmp_path / d / "results.json") for d in "abc"]
    out_html, out_md = tmp_path / "out" / "r.html", tmp_path / "out" / "r.md"
    rc = cli.main(["report", *paths, "--html", str(out_html), "--markdown", str(out_md)])
    assert rc == 0
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    assert "| case | kube-ovn-v1.14 | kube-ovn-v1.13 | kube-ovn-v1.14 #2 |" in out_md.read_text()


def test_cli_markdown_to_stdout_and_terminal_default(
    docs: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "a" / "results.json")
    assert cli.main(["report", path, "--markdown", "-"]) == 0
    assert "| outcome | case | reason | expected |" in capsys.readouterr().out
    assert cli.main(["report", path]) == 0
    assert "7 cases:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"schema": 1, "cases": [', "not valid JSON"),
        ('{"hello": 1}', "not a macmatrix results file"),
        ('{"schema": 99, "cases": []}', "schema 99"),
    ],
)
def test_cli_bad_results_file_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert cli.main(["report", str(bad), "--html", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.html").exists()


def test_cli_usage_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report"]) == 2
    assert "RESULTS.json" in capsys.readouterr().err
