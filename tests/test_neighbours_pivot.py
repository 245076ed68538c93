"""Nearest working neighbour and the truth table per stack (issue 11, sections 2 and 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_report import CASES, crafted_docs

from macmatrix.views import neighbours, pivot, report


@pytest.fixture()
def docs(tmp_path: Path) -> list[dict[str, Any]]:
    return crafted_docs(tmp_path)


def test_broken_cases_get_their_working_neighbours_one_axis_away(
    docs: list[dict[str, Any]],
) -> None:
    near = neighbours.nearest(docs[0]["cases"])
    assert near == {
        CASES["broken"].id: ["request=networks"],  # cni-args -> networks works
        CASES["sandbox"].id: ["cni_version=1.0.0"],
    }
    # the regressed case is two axes (chain, tuning) from anything that works: no hint
    assert CASES["regressed"].id not in near
    assert neighbours.hint(["a=1", "b=2", "c=3", "d=4"]) == "works with a=1, b=2, c=3 +1 more"


def test_neighbours_come_from_the_same_results_only(docs: list[dict[str, Any]]) -> None:
    # stack b has no run of the "works" case: the cni-args case has no neighbour there
    assert CASES["broken"].id not in neighbours.nearest(docs[1]["cases"])


def test_terminal_and_markdown_show_the_neighbour(docs: list[dict[str, Any]]) -> None:
    assert "-> works with request=networks" in report.render_terminal(docs[0])
    md = report.render_markdown([docs[0]])
    line = next(ln for ln in md.splitlines() if CASES["broken"].id in ln and "broken" in ln)
    assert "→ works with request=networks" in line


def test_pivot_rows_columns_and_cells(docs: list[dict[str, Any]]) -> None:
    p = pivot.build(docs[0])
    assert p.cols == ["networks", "cni-args"]
    assert p.rows == [("single", "on", "none"), ("conflist", "on", "capmac")]
    assert p.outcome(("single", "on", "none"), "networks") == "works"
    assert p.outcome(("single", "on", "none"), "cni-args") == "broken"
    assert p.outcome(("conflist", "on", "capmac"), "networks") == "broken"
    # non-default ipam / cniVersion cases are not pivot cells
    ids = {e["id"] for e in p.cells.values()}
    assert CASES["flaky"].id not in ids and CASES["sandbox"].id not in ids


def test_several_stacks_mark_changed_cells(docs: list[dict[str, Any]]) -> None:
    pivots = [pivot.build(d) for d in docs]
    moved = pivot.changed(pivots)
    key = (("conflist", "on", "capmac"), "networks")
    assert moved[0] == set() and moved[1] == {key} and moved[2] == {key}
    md = report.render_markdown(docs)
    assert md.count("### Truth table:") == 3 and "✓ works Δ" in md
    assert "Cells are the cases with ipam=static" in md


def test_pivot_reads_files_recorded_before_the_plugin_axis(docs: list[dict[str, Any]]) -> None:
    """A results file from before spec/plugins has no `plugin` axis: its cases were macvlan."""
    new = pivot.build(docs[0])
    old_doc = {
        **docs[0],
        "cases": [
            {**e, "axes": {a: v for a, v in e["axes"].items() if a != "plugin"}}
            for e in docs[0]["cases"]
        ],
    }
    assert all("plugin" not in e["axes"] for e in old_doc["cases"])
    old = pivot.build(old_doc)
    assert old.rows == new.rows and old.cols == new.cols and old.cells.keys() == new.cells.keys()
    # a bridge case is not a cell of the (macvlan) pivot
    bridge_doc = {
        **docs[0],
        "cases": [{**e, "axes": {**e["axes"], "plugin": "bridge"}} for e in docs[0]["cases"]],
    }
    assert pivot.build(bridge_doc).cells == {}


def _with_bridge(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` plus a bridge twin of every case (id and `plugin` axis changed), the twin of the
    macvlan `works` cell broken, so the bridge table differs from the macvlan one."""
    twins = []
    for e in doc["cases"]:
        twin = {**e, "id": e["id"].replace("macvlan", "bridge", 1)}
        twin["axes"] = {**e["axes"], "plugin": "bridge"}
        if e["id"] == CASES["works"].id:
            twin["outcome"] = "broken"
        twins.append(twin)
    return {**doc, "cases": [*doc["cases"], *twins]}


def test_one_truth_table_per_main_plugin(docs: list[dict[str, Any]]) -> None:
    """The bridge cases of a results file get a table of their own (they were in none); the
    macvlan table and everything around it read as before."""
    both = _with_bridge(docs[0])
    assert pivot.plugins([docs[0]]) == ["macvlan"] and pivot.plugins([both]) == [
        "macvlan",
        "bridge",
    ]
    mv, br = pivot.build(both, "macvlan"), pivot.build(both, "bridge")
    assert mv.cells.keys() == pivot.build(docs[0]).cells.keys() and mv.plugin == "macvlan"
    assert br.plugin == "bridge" and br.rows == mv.rows and br.cols == mv.cols
    assert br.outcome(("single", "on", "none"), "networks") == "broken"
    assert mv.outcome(("single", "on", "none"), "networks") == "works"
    assert all(e["axes"]["plugin"] == "bridge" for e in br.cells.values())
    assert pivot.row_label(("single", "on", "none"), "bridge") == (
        "single, bridge capabilities.mac on"
    )

    alone, md = report.render_markdown([docs[0]]), report.render_markdown([both])
    title = "### Truth table: kube-ovn-v1.14 · bridge (which way of asking"
    assert title not in alone and title in md
    assert "| single, bridge capabilities.mac on | ✗ broken | ✗ broken |" in md
    # the macvlan table is the same text in both
    mv_table = alone[alone.index("### Truth table: kube-ovn-v1.14 (") :].split("\n\n")[:2]
    assert "\n\n".join(mv_table) in md
    assert "plugin=macvlan." in alone and "one table per plugin." in md
    page = report.render_html([both])
    assert page.count('<table class="pivot"') == 2 and 'data-plugin="bridge"' in page
    assert "<caption>kube-ovn-v1.14 · bridge</caption>" in page


def test_changes_are_marked_against_the_same_plugin_of_the_first_stack(
    docs: list[dict[str, Any]],
) -> None:
    both = [_with_bridge(d) for d in docs]
    md = report.render_markdown(both)
    assert md.count("### Truth table:") == 6  # 3 stacks x 2 plugins
    first_bridge = md.index("· bridge")
    assert md.count("✓ works Δ", 0, first_bridge) == 2 and md.count("✓ works Δ") == 4
    moved = pivot.changed([pivot.build(d, "bridge") for d in both])
    assert moved[1] == {(("conflist", "on", "capmac"), "networks")}
