"""`macmatrix compare` on crafted results files built through the real results writer."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from macmatrix import cli
from macmatrix.judge.verdict import judge, model
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run.results import ResultsWriter, case_entry
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.types import Outcome
from macmatrix.views import compare

STACK = {"name": "netns", "backend": "netns", "cni_plugins": "v1.1.1", "kernel": "6.1.0"}


def mk(**axes: str) -> Case:
    return Case(**{**DEFAULTS, **axes})


A = mk(request="networks")
B = mk(request="annotation")
C = mk(request="cni-args")
D = mk(request="none")
KOVN = mk(ipam="kube-ovn")  # unsupported on netns


def _mac(rng: random.Random) -> str:
    return "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))


def observe(case: Case, how: str, rng: random.Random, reason: str = "") -> CaseObservation:
    """An observation that judges to the wanted outcome.

    works: net1 carries the requested MAC (random when none is asked) and the status agrees;
    broken: net1 got a random MAC; status-lies: right MAC but the status reports another;
    infra / unsupported: what a backend says when it could not judge.
    """
    if how == "infra":
        return CaseObservation(
            case.id, Outcome.INFRA_ERROR, reason or "netns: timed out creating link"
        )
    if how == "unsupported":
        return CaseObservation(case.id, Outcome.UNSUPPORTED, reason or "needs Kube-OVN")
    kernel = case.requested_mac(0) or _mac(rng)
    reported = kernel
    if how == "broken":
        kernel = reported = _mac(rng)
    elif how == "status-lies":
        reported = _mac(rng)
    elif how != "works":
        raise AssertionError(how)
    pod = PodObservation(
        name=f"pod-{rng.randrange(10**6)}",
        interfaces={"net1": kernel},
        network_status=[{"name": "default/macvlan", "interface": "net1", "mac": reported}],
    )
    return CaseObservation(case.id, pods=[pod], duration_s=rng.uniform(0.1, 3.0))


WANT = {
    "works": Outcome.WORKS,
    "broken": Outcome.BROKEN,
    "status-lies": Outcome.BROKEN,
    "infra": Outcome.INFRA_ERROR,
    "unsupported": Outcome.UNSUPPORTED,
}


def write_results(
    path: Path,
    plan: dict[Case, str],
    stack: dict[str, str] | None = None,
    seed: int = 0,
    flaky: tuple[Case, ...] = (),
    reasons: dict[Case, str] | None = None,
) -> Path:
    """A results.json through ResultsWriter/case_entry, one planned behaviour per case."""
    stack = stack or STACK
    rng = random.Random(seed)
    cases = sorted(plan)
    writer = ResultsWriter(path, stack, "e2e/matrix.yaml", cases)
    for case in cases:
        obs = observe(case, plan[case], rng, (reasons or {}).get(case, ""))
        obs.flaky = case in flaky
        verdict = judge(case, obs)
        assert verdict.outcome == WANT[plan[case]], (case.id, verdict)
        writer.record(case_entry(case, obs, verdict, model(case, stack)))
    writer.finish()
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["compare", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def pair(tmp_path: Path):
    def make(base: dict[Case, str], head: dict[Case, str], **kw) -> tuple[str, str]:
        b = write_results(tmp_path / "base.json", base, seed=1, **kw.get("base_kw", {}))
        h = write_results(tmp_path / "head.json", head, seed=2, **kw.get("head_kw", {}))
        return str(b), str(h)

    return make


def section(out: str, title: str) -> str:
    """The lines of one text section (title line up to the next blank line)."""
    m = re.search(re.escape(title) + r"[^\n]*\n(.*?)(?:\n\n|\Z)", out, re.S)
    return m.group(1) if m else ""


# --------------------------------------------------------------------------- outcomes


def test_regression_names_case_and_check_and_exits_1(pair, capsys):
    base, head = pair({A: "works", B: "broken"}, {A: "broken", B: "broken"})
    code, out, _ = run_cli(capsys, base, head)
    assert code == 1
    reg = section(out, "Regressions")
    assert A.id in reg and B.id not in reg
    assert "outcome: works -> broken" in reg
    assert "check secondary_mac_honoured: ok -> fails" in reg
    assert "result: FAIL (regressions)" in out
    assert "1 case(s) broken on both sides, the same way" in out


def test_fix_passes_unless_asked_to_fail_on_fixes(pair, capsys):
    base, head = pair({A: "broken", B: "works"}, {A: "works", B: "works"})
    code, out, _ = run_cli(capsys, base, head)
    assert code == 0
    assert A.id in section(out, "Fixes")
    assert "check secondary_mac_honoured: fails -> ok" in out
    assert run_cli(capsys, base, head, "--fail-on", "fixes")[0] == 1
    # regressions are always gated, whatever --fail-on lists
    base2, head2 = pair({A: "works"}, {A: "broken"})
    assert run_cli(capsys, base2, head2, "--fail-on", "fixes")[0] == 1


def test_changed_checks_with_same_outcome(pair, capsys):
    base, head = pair({A: "broken"}, {A: "status-lies"})
    code, out, _ = run_cli(capsys, base, head)
    assert code == 0
    changed = section(out, "Changed checks")
    assert A.id in changed
    assert "check secondary_mac_honoured: fails -> ok" in changed
    assert "check status_matches_kernel: ok -> fails" in changed
    assert run_cli(capsys, base, head, "--fail-on", "changes")[0] == 1
    assert run_cli(capsys, base, head, "--fail-on", "fixes")[0] == 0


def test_infra_errors_listed_apart_never_regressions(pair, capsys):
    base, head = pair(
        {A: "works", B: "infra", C: "works"},
        {A: "infra", B: "broken", C: "works"},
        head_kw={"reasons": {A: "kind: node not ready after 120s"}},
    )
    code, out, _ = run_cli(capsys, base, head)
    assert code == 0
    assert "Regressions" not in out
    infra = section(out, "Infra errors")
    assert A.id in infra and B.id in infra and C.id not in infra
    assert "head: infra-error (kind: node not ready after 120s)" in infra
    assert "0 regression(s)" in out and "2 infra error(s)" in out
    assert run_cli(capsys, base, head, "--fail-on", "infra")[0] == 3


def test_unsupported_listed_apart(pair, capsys):
    base, head = pair({A: "works", KOVN: "unsupported"}, {A: "unsupported", KOVN: "unsupported"})
    code, out, _ = run_cli(capsys, base, head)
    assert code == 0
    sec = section(out, "Unsupported on one side")
    assert A.id in sec and KOVN.id not in sec
    assert "outcome: works -> unsupported (needs Kube-OVN)" in sec
    assert run_cli(capsys, base, head, "--fail-on", "unsupported")[0] == 1


def test_random_macs_and_timings_are_not_changes(pair, capsys):
    base, head = pair({A: "broken", D: "works", B: "works"}, {A: "broken", D: "works", B: "works"})
    b, h = json.loads(Path(base).read_text()), json.loads(Path(head).read_text())
    # the two runs really differ in MACs and timings...
    assert b["cases"][0]["pods"] != h["cases"][0]["pods"]
    code, out, _ = run_cli(capsys, base, head, "--fail-on", "all")
    # ...and none of that is a change
    assert code == 0
    assert "3 shared case(s)" in out and "3 unchanged" in out


def test_disjoint_matrices_compare_on_shared_cases(pair, capsys):
    base, head = pair({A: "works", B: "works", C: "broken"}, {B: "broken", C: "broken", D: "works"})
    code, out, _ = run_cli(capsys, base, head)
    assert code == 1  # B regressed; A and D are only listed
    assert "2 shared case(s)" in out
    assert section(out, "Only in base").split() == [A.id]
    assert section(out, "Only in head").split() == [D.id]
    assert A.id not in section(out, "Regressions")


def test_fully_disjoint_matrices(pair, capsys):
    """Comparing nothing is not a pass (issue 12, section 6): exit 2 unless --allow-empty."""
    base, head = pair({A: "works"}, {D: "status-lies"})
    code, out, err = run_cli(capsys, base, head)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "share no case" in lines[0] and "--allow-empty" in lines[0]
    code, out, _ = run_cli(capsys, base, head, "--allow-empty")
    assert code == 0 and "0 shared case(s)" in out
    assert run_cli(capsys, base, head, "--allow-empty", "--fail-on", "matrix")[0] == 1


def test_an_empty_run_is_not_a_pass(pair, capsys):
    base, head = pair({A: "works", B: "works"}, {})
    assert run_cli(capsys, base, head)[0] == 2


def test_flaky_cases_in_head_are_listed(pair, capsys):
    base, head = pair({A: "works", B: "works"}, {A: "works", B: "works"}, head_kw={"flaky": (B,)})
    code, out, _ = run_cli(capsys, base, head)
    assert code == 0
    assert section(out, "Flaky in head").split() == [B.id]


def test_stack_change_and_incomplete_run_are_said(tmp_path, capsys):
    base = write_results(tmp_path / "b.json", {A: "works"})
    new_stack = {**STACK, "cni_plugins": "v1.4.0"}
    head = tmp_path / "h.json"
    writer = ResultsWriter(head, new_stack, "e2e/matrix.yaml", [A, B])
    obs = observe(A, "works", random.Random(3))
    writer.record(case_entry(A, obs, judge(A, obs), None))  # B never finishes
    code, out, _ = run_cli(capsys, str(base), str(head))
    assert code == 0
    assert "stack changed: cni_plugins: v1.1.1 -> v1.4.0" in out
    assert "head is from an incomplete run (1 case(s) never finished)" in out


# --------------------------------------------------------------------------- markdown


def test_markdown_is_a_pr_comment(pair, capsys):
    base, head = pair(
        {A: "works", B: "works", C: "broken", D: "works"},
        {A: "broken", B: "infra", C: "works", D: "works"},
        head_kw={"reasons": {B: "exec failed | pipe in reason, err <nil>"}},
    )
    code, out, _ = run_cli(capsys, base, head, "--markdown")
    assert code == 1
    assert out.startswith("### macmatrix compare: ❌ 1 regression\n")
    assert "| regressions (works → broken) | 1 |" in out
    assert "| fixes (broken → works) | 1 |" in out
    assert f"| `{A.id}` | outcome: works → broken; check secondary_mac_honoured: ok → fails" in out
    assert "exec failed \\| pipe in reason, err &lt;nil&gt;" in out
    # every table row keeps its column count once escaped pipes are ignored
    for line in out.splitlines():
        if line.startswith("| `"):
            assert line.replace("\\|", "").count("|") == 4, line
    assert "<details>" in out and "<summary>Infra errors" in out
    assert "result:" not in out  # no plain-text leftovers


def test_markdown_ok(pair, capsys):
    base, head = pair({A: "works"}, {A: "works"})
    code, out, _ = run_cli(capsys, base, head, "--markdown")
    assert code == 0
    assert out.startswith("### macmatrix compare: ✅ no regressions")


# --------------------------------------------------------------------------- bad input


def one_line_exit_2(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_truncated_results_file(pair, capsys, tmp_path):
    base, head = pair({A: "works"}, {A: "works"})
    cut = tmp_path / "cut.json"
    cut.write_text(Path(head).read_text()[:200])
    err = one_line_exit_2(capsys, base, str(cut))
    assert "cut.json" in err and "truncated" in err


def test_other_schema_version(pair, capsys, tmp_path):
    base, head = pair({A: "works"}, {A: "works"})
    doc = json.loads(Path(head).read_text())
    doc["schema"] = 2
    other = tmp_path / "v2.json"
    other.write_text(json.dumps(doc))
    assert "schema 2" in one_line_exit_2(capsys, str(other), base)


def test_duplicate_case_ids(pair, capsys, tmp_path):
    base, head = pair({A: "works"}, {A: "works"})
    doc = json.loads(Path(head).read_text())
    doc["cases"].append(doc["cases"][0])
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(doc))
    assert "appears twice" in one_line_exit_2(capsys, base, str(dup))


def test_usage_mistakes_are_one_line(pair, capsys):
    base, head = pair({A: "works"}, {A: "works"})
    assert "--fail-on" in one_line_exit_2(capsys, base, head, "--fail-on", "regresions")
    one_line_exit_2(capsys, base)  # HEAD missing
    one_line_exit_2(capsys, base, "/nonexistent/head.json")


# --------------------------------------------------------------------------- pure parts


def test_classify_table():
    works = compare.Behaviour(Outcome.WORKS, {"x": True})
    broken = compare.Behaviour(Outcome.BROKEN, {"x": False})
    infra = compare.Behaviour(Outcome.INFRA_ERROR, reason="boom")
    unsup = compare.Behaviour(Outcome.UNSUPPORTED)
    assert compare.classify(works, broken)[0] == compare.REGRESSION
    assert compare.classify(broken, works)[0] == compare.FIX
    assert compare.classify(works, works) == (None, [])
    assert compare.classify(broken, compare.Behaviour(Outcome.BROKEN, {"x": False, "y": False}))[
        1
    ] == ["check y: absent -> fails"]
    assert compare.classify(infra, broken)[0] == compare.INFRA
    assert compare.classify(works, infra)[0] == compare.INFRA
    assert compare.classify(unsup, broken)[0] == compare.UNSUPPORTED_MOVE
    assert compare.classify(unsup, unsup) == (None, [])


# --------------------------------------------------------------------------- upgrade gate


def test_committed_baseline_as_base_gates_an_upgrade(tmp_path, capsys):
    """compare BASELINE RESULTS: regressions fail, fixes pass, as with two results files."""
    old = write_results(tmp_path / "old.json", {A: "works", B: "broken", C: "infra"}, seed=1)
    assert cli.main(["baseline", "update", str(old), "--out", str(tmp_path / "bl.json")]) == 0
    capsys.readouterr()
    new_stack = {**STACK, "cni_plugins": "v1.4.0"}
    head = write_results(
        tmp_path / "new.json", {A: "broken", B: "works", C: "works"}, stack=new_stack, seed=2
    )
    code, out, _ = run_cli(capsys, str(tmp_path / "bl.json"), str(head))
    assert code == 1
    assert out.startswith(f"base: baseline {tmp_path / 'bl.json'} (netns, cni_plugins v1.1.1")
    assert "stack changed: cni_plugins: v1.1.1 -> v1.4.0" in out
    assert A.id in section(out, "Regressions") and B.id in section(out, "Fixes")
    # the infra-error case was never written to the baseline: not shared, not a regression
    assert section(out, "Only in head").split() == [C.id]
    head_ok = write_results(tmp_path / "ok.json", {A: "works", B: "works"}, stack=new_stack)
    assert run_cli(capsys, str(tmp_path / "bl.json"), str(head_ok))[0] == 0
