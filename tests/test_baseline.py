"""Baselines: stable bytes from a run, the baseline as the expectation, and `baseline check`."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from macmatrix import cli
from macmatrix.errors import BadInput
from macmatrix.judge.verdict import differences, judge
from macmatrix.run import results
from macmatrix.types import Outcome
from macmatrix.views import baseline

try:  # the crafted-results helper lives beside the compare tests
    from test_compare import KOVN, STACK, A, B, C, D, observe, write_results
except ImportError:  # tests/ imported as a package
    from tests.test_compare import KOVN, STACK, A, B, C, D, observe, write_results

MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
PLAN = {A: "works", B: "broken", C: "status-lies", D: "works", KOVN: "unsupported"}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["baseline", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- update


def test_same_behaviour_gives_the_same_bytes(tmp_path, capsys):
    """Two runs that differ in random MACs, timings, start times and case order: same file."""
    r1 = write_results(tmp_path / "r1.json", PLAN, seed=1)
    r2 = write_results(tmp_path / "r2.json", PLAN, seed=99)
    doc2 = json.loads(r2.read_text())
    doc2["cases"].reverse()
    r2.write_text(json.dumps(doc2))
    assert json.loads(r1.read_text())["cases"] != json.loads(r2.read_text())["cases"]
    for src, out in ((r1, "b1.json"), (r2, "b2.json")):
        assert run_cli(capsys, "update", str(src), "--out", str(tmp_path / out))[0] == 0
    b1, b2 = (tmp_path / "b1.json").read_bytes(), (tmp_path / "b2.json").read_bytes()
    assert b1 == b2
    text = b1.decode()
    assert text.endswith("}\n") and '\n  "cases": {\n' in text  # indent 2
    assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text  # sorted
    assert not MAC.search(text), "a MAC leaked into the baseline"
    assert "duration" not in text and "started" not in text and "reason" not in text


def test_baseline_content(tmp_path, capsys):
    src = write_results(tmp_path / "r.json", {**PLAN, D: "infra"})
    code, out, _ = run_cli(capsys, "update", str(src), "--out", str(tmp_path / "b.json"))
    assert code == 0
    doc = json.loads((tmp_path / "b.json").read_text())
    assert set(doc) == {"schema", "stack", "cases"} and doc["schema"] == 1
    assert doc["stack"] == STACK
    assert doc["cases"][KOVN.id] == {"outcome": Outcome.UNSUPPORTED}
    assert doc["cases"][A.id]["outcome"] == Outcome.WORKS
    assert doc["cases"][B.id] == {
        "outcome": Outcome.BROKEN,
        "checks": {
            "sandbox_created": True,
            "secondary_mac_honoured": False,
            "status_matches_kernel": True,
            "status_reports_mac": True,
        },
    }
    assert doc["cases"][C.id]["checks"]["status_matches_kernel"] is False
    # the infra-error case is not written, and the message says so and why
    assert D.id not in doc["cases"]
    assert "4 case(s) (1 works, 2 broken, 1 unsupported)" in out
    assert "not written: 1 infra-error case(s)" in out and "say nothing about behaviour" in out
    assert f"  {D.id}\n" in out


def test_update_reports_unchanged_and_drops_host_paths(tmp_path, capsys):
    stack = {**STACK, "cni_bin_dirs": ["/usr/lib/cni"]}
    src = write_results(tmp_path / "r.json", PLAN, stack=stack)
    target = tmp_path / "deep" / "b.json"
    assert "wrote" in run_cli(capsys, "update", str(src), "--out", str(target))[1]
    assert "unchanged" in run_cli(capsys, "update", str(src), "--out", str(target))[1]
    assert "cni_bin_dirs" not in json.loads(target.read_text())["stack"]
    code, out, _ = run_cli(capsys, "check", str(src), "--baseline", str(target))
    assert code == 0 and "stack changed" not in out


def test_update_defaults_to_the_stack_baseline_path(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(baseline, "repo_root", lambda: tmp_path)
    stack = {**STACK, "name": "plugins-v1.1.1"}
    src = write_results(tmp_path / "r.json", PLAN, stack=stack)
    code, out, _ = run_cli(capsys, "update", str(src))
    assert code == 0
    assert (tmp_path / "e2e/baselines/plugins-v1.1.1-netns.json").exists()
    assert out.startswith("wrote e2e/baselines/plugins-v1.1.1-netns.json")


def test_update_keep_known_keeps_last_known_entries_of_infra_cases(tmp_path, capsys):
    target = str(tmp_path / "b.json")
    run_cli(capsys, "update", str(write_results(tmp_path / "r1.json", PLAN)), "--out", target)
    before = json.loads(Path(target).read_text())["cases"]
    flaky_run = write_results(tmp_path / "r2.json", {**PLAN, B: "infra", A: "broken"}, seed=5)
    code, out, _ = run_cli(capsys, "update", str(flaky_run), "--out", target, "--keep-known")
    assert code == 0 and "kept the previous entries of 1 infra-error case(s)" in out
    after = json.loads(Path(target).read_text())["cases"]
    assert after[B.id] == before[B.id]  # last known behaviour, not dropped
    assert after[A.id]["outcome"] == Outcome.BROKEN  # real changes are still written
    # without the flag the case is dropped, and the message says it was in the baseline
    code, out, _ = run_cli(capsys, "update", str(flaky_run), "--out", target)
    assert B.id not in json.loads(Path(target).read_text())["cases"]
    assert "1 of them were in the previous baseline and are now dropped" in out
    # a corrupt previous file is simply replaced, unless its entries were asked for
    Path(target).write_text('{"cases": {')
    assert "truncated" in one_line_exit_2(
        capsys, "update", str(flaky_run), "--out", target, "--keep-known"
    )
    assert run_cli(capsys, "update", str(flaky_run), "--out", target)[0] == 0
    assert json.loads(Path(target).read_text())["schema"] == 1


def test_update_with_only_infra_errors_is_exit_3(tmp_path, capsys):
    src = write_results(tmp_path / "r.json", {A: "infra", B: "infra"})
    code, _, err = run_cli(capsys, "update", str(src), "--out", str(tmp_path / "b.json"))
    assert code == 3 and "infra" in err
    assert not (tmp_path / "b.json").exists()


# --------------------------------------------------------------------------- paths


def test_baseline_path():
    root = Path(__file__).resolve().parents[1]  # the checkout
    assert baseline.baseline_path({"name": "kind-v1.13", "backend": "kind"}) == (
        root / "e2e" / "baselines" / "kind-v1.13-kind.json"
    )
    assert baseline.baseline_path({"backend": "netns"}).name == "netns-netns.json"
    for bad in ({"name": "x"}, {"name": "../up", "backend": "kind"}, {"backend": ""}):
        with pytest.raises(BadInput, match="stack"):
            baseline.baseline_path(bad)


# --------------------------------------------------------------------------- as expectation


def test_expectation_from_baseline_makes_known_broken_pass(tmp_path, capsys):
    src = write_results(tmp_path / "r.json", PLAN, seed=1)
    run_cli(capsys, "update", str(src), "--out", str(tmp_path / "b.json"))
    doc = baseline.load(tmp_path / "b.json")
    exp = baseline.expectation_from_baseline(doc, B.id)
    assert exp is not None
    assert exp.source == f"baseline:{tmp_path / 'b.json'}"
    assert exp.outcome == Outcome.BROKEN and exp.checks["secondary_mac_honoured"] is False
    assert baseline.expectation_from_baseline(doc, "no/such/case") is None
    # A fresh run, with other random MACs, of the known-broken case: as expected against the
    # baseline, still shown broken; the same run of a now-working case is a difference.

    obs = observe(B, "broken", random.Random(7))
    verdict = judge(B, obs)
    assert verdict.outcome == Outcome.BROKEN and differences(verdict, exp) == []
    entry = results.case_entry(B, obs, verdict, exp)
    assert entry["as_expected"] is True and entry["outcome"] == Outcome.BROKEN
    fixed = judge(B, observe(B, "works", random.Random(7)))
    assert "check secondary_mac_honoured: expected ok=False, observed ok=True" in differences(
        fixed, exp
    )
    assert baseline.expectation_from_baseline(doc, KOVN.id).outcome == Outcome.UNSUPPORTED


def test_load_accepts_a_results_file_as_baseline(tmp_path):
    src = write_results(tmp_path / "r.json", {**PLAN, D: "infra"})
    doc = baseline.load(src)
    assert D.id not in doc["cases"]
    assert baseline.expectation_from_baseline(doc, A.id).source == f"baseline:{src}"


# --------------------------------------------------------------------------- check


@pytest.fixture
def committed(tmp_path, capsys):
    src = write_results(tmp_path / "old.json", PLAN, seed=1)
    assert run_cli(capsys, "update", str(src), "--out", str(tmp_path / "b.json"))[0] == 0
    return str(tmp_path / "b.json")


def test_check_same_behaviour_passes_even_when_broken(tmp_path, capsys, committed):
    head = write_results(tmp_path / "new.json", PLAN, seed=2)
    code, out, _ = run_cli(capsys, "check", str(head), "--baseline", committed)
    assert code == 0
    assert "2 case(s) broken on both sides, the same way" in out
    assert "result: ok" in out


@pytest.mark.parametrize(
    ("change", "title", "line"),
    [
        ({B: "works"}, "Fixes", "check secondary_mac_honoured: fails -> ok"),
        ({A: "broken"}, "Regressions", "check secondary_mac_honoured: ok -> fails"),
        ({C: "broken"}, "Changed checks", "check status_matches_kernel: fails -> ok"),
        ({KOVN: "works"}, "Unsupported on one side", "outcome: unsupported -> works"),
    ],
)
def test_check_fails_on_any_change(tmp_path, capsys, committed, change, title, line):
    (case,) = change
    head = write_results(tmp_path / "new.json", {**PLAN, **change}, seed=2)
    code, out, _ = run_cli(capsys, "check", str(head), "--baseline", committed)
    assert code == 1
    assert f"  {case.id}\n      " in out and line in out
    assert out.count(f"{title}") == 1
    assert "result: FAIL" in out


def test_check_infra_errors_are_not_changes(tmp_path, capsys, committed):
    head = write_results(tmp_path / "new.json", {**PLAN, A: "infra"}, seed=2)
    code, out, _ = run_cli(capsys, "check", str(head), "--baseline", committed)
    assert code == 3  # nothing changed, but a case could not be checked: re-run
    assert "Regressions" not in out and A.id in out
    head2 = write_results(tmp_path / "new2.json", {**PLAN, A: "infra", B: "works"}, seed=2)
    assert run_cli(capsys, "check", str(head2), "--baseline", committed)[0] == 1


def test_check_new_and_unrun_cases_are_noted_not_failed(tmp_path, capsys, committed):
    plan = {k: v for k, v in PLAN.items() if k is not A}
    extra = KOVN.__class__(**{**KOVN.axes, "ipam": "host-local"})
    head = write_results(tmp_path / "new.json", {**plan, extra: "works"}, seed=2)
    code, out, _ = run_cli(capsys, "check", str(head), "--baseline", committed)
    assert code == 0
    assert "1 baseline case(s) were not run" in out
    assert "1 case(s) have no baseline entry yet" in out


def test_check_markdown(tmp_path, capsys, committed):
    head = write_results(tmp_path / "new.json", {**PLAN, A: "broken"}, seed=2)
    code, out, _ = run_cli(capsys, "check", str(head), "--baseline", committed, "--markdown")
    assert code == 1
    assert out.startswith("### macmatrix baseline check: ❌ 1 regression")
    assert f"| `{A.id}` |" in out
    ok = write_results(tmp_path / "same.json", PLAN, seed=3)
    out = run_cli(capsys, "check", str(ok), "--baseline", committed, "--markdown")[1]
    assert out.startswith("### macmatrix baseline check: ✅ behaves as the baseline")


def test_check_uses_the_committed_baseline(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(baseline, "repo_root", lambda: tmp_path)
    src = write_results(tmp_path / "r.json", PLAN, seed=1)
    code, _, err = run_cli(capsys, "check", str(src))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "no committed baseline" in err and "e2e/baselines/netns-netns.json" in err
    run_cli(capsys, "update", str(src))
    head = write_results(tmp_path / "h.json", {**PLAN, D: "status-lies"}, seed=2)
    code, out, _ = run_cli(capsys, "check", str(head))
    assert code == 1
    assert "base: baseline e2e/baselines/netns-netns.json" in out


# --------------------------------------------------------------------------- bad input


def one_line_exit_2(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_bad_baseline_files(tmp_path, capsys, committed):
    head = str(write_results(tmp_path / "new.json", PLAN, seed=2))
    good = json.loads(Path(committed).read_text())
    cases = {
        "cut.json": Path(committed).read_text()[:120],
        "v9.json": json.dumps({**good, "schema": 9}),
        "infra.json": json.dumps({**good, "cases": {A.id: {"outcome": Outcome.INFRA_ERROR}}}),
        "checks.json": json.dumps({**good, "cases": {A.id: {"outcome": "works", "checks": 1}}}),
        "other.json": json.dumps({"hello": "world"}),
    }
    words = {
        "cut.json": "truncated",
        "v9.json": "schema 9",
        "infra.json": "remove the case",
        "checks.json": "true/false",
        "other.json": "not a macmatrix baseline",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        err = one_line_exit_2(capsys, "check", head, "--baseline", str(tmp_path / name))
        assert words[name] in err and name in err


def test_bad_results_and_usage(tmp_path, capsys):
    src = write_results(tmp_path / "r.json", PLAN)
    (tmp_path / "cut.json").write_text(src.read_text()[:300])
    assert "truncated" in one_line_exit_2(capsys, "update", str(tmp_path / "cut.json"))
    doc = json.loads(src.read_text())
    (tmp_path / "v3.json").write_text(json.dumps({**doc, "schema": 3}))
    assert "schema 3" in one_line_exit_2(capsys, "check", str(tmp_path / "v3.json"))
    (tmp_path / "nostack.json").write_text(json.dumps({**doc, "stack": {"kube_ovn": "v1"}}))
    assert "stack.backend" in one_line_exit_2(capsys, "update", str(tmp_path / "nostack.json"))
    run_cli(capsys, "update", str(src), "--out", str(tmp_path / "b.json"))
    assert "is a baseline" in one_line_exit_2(capsys, "check", str(tmp_path / "b.json"))
    one_line_exit_2(capsys, "frobnicate", str(src))
    one_line_exit_2(capsys)


# --------------------------------------------------------------------------- upgrade check

OLD = {"backend": "kind", "name": "kube-ovn-v1.13", "kube_ovn": "v1.13.15", "cni_plugins": "v1.6.2"}
NEW = {"backend": "kind", "name": "kube-ovn-v1.14", "kube_ovn": "v1.14.41", "cni_plugins": "v1.9.0"}


def test_plan_uses_a_committed_baseline_without_rerunning(tmp_path):
    bl = tmp_path / "old-kind.json"
    bl.write_text("{}")
    steps = baseline.plan_upgrade(OLD, NEW, "out", bl)
    assert [s.argv[:2] for s in steps] == [("macmatrix", "run"), ("macmatrix", "compare")]
    assert steps[0].argv[2:] == (
        "--backend",
        "kind",
        "--stack",
        NEW["name"],
        "--out",
        "out/" + NEW["name"],
    )
    assert steps[1].argv[2:4] == (str(bl), f"out/{NEW['name']}/results.json")
    assert "--fail-on" in steps[1].argv and steps[1].tolerate == ()


def test_plan_without_baseline_runs_the_old_stack_first(tmp_path):
    steps = baseline.plan_upgrade(OLD, NEW, "out", tmp_path / "missing.json")
    assert [s.argv[1] for s in steps] == ["run", "baseline", "run", "compare"]
    assert steps[0].argv[5] == OLD["name"] and steps[2].argv[5] == NEW["name"]
    assert steps[1].argv[-1] == str(tmp_path / "missing.json")


def test_plan_refuses_nonsense():
    with pytest.raises(BadInput, match="no upgrade"):
        baseline.plan_upgrade(OLD, OLD)
    with pytest.raises(BadInput, match="runs on"):
        baseline.plan_upgrade(OLD, {**NEW, "backend": "netns"})


SHIM = """#!/bin/sh
# stand-in for `macmatrix run` (no cluster here): copy the crafted results of --stack
if [ "$1" = run ]; then
  mkdir -p "$7" && cp "$CRAFTED/$5.json" "$7/results.json" && exit "${RUN_RC:-1}"
fi
exec "$PYTHON" -c 'import sys; from macmatrix.cli import main; sys.exit(main(sys.argv[1:]))' "$@"
"""


@pytest.mark.parametrize(
    ("new_plan", "run_rc", "want_rc", "want"),
    [
        ({A: "broken", B: "works"}, "1", 1, "❌ 1 regression"),
        ({A: "works", B: "works"}, "1", 0, "✅ no regressions"),
        ({A: "works", B: "infra"}, "3", 3, "❌ 1 infra error"),
        ({A: "works", B: "works"}, "2", 2, None),
    ],
)
def test_plan_script_runs_end_to_end(tmp_path, new_plan, run_rc, want_rc, want):
    """The rendered script, with a stand-in `macmatrix run`, gates the upgrade correctly."""
    crafted = tmp_path / "crafted"
    write_results(crafted / f"{OLD['name']}.json", {A: "works", B: "broken"}, stack=OLD, seed=1)
    write_results(crafted / f"{NEW['name']}.json", new_plan, stack=NEW, seed=2)
    (tmp_path / "bin").mkdir()
    shim = tmp_path / "bin" / "macmatrix"
    shim.write_text(SHIM)
    shim.chmod(0o755)
    bl = tmp_path / "bl" / "old.json"
    script = baseline.render_plan(OLD, NEW, baseline.plan_upgrade(OLD, NEW, "res", bl))
    assert (
        "# stack changes: cni_plugins: v1.6.2 -> v1.9.0; kube_ovn: v1.13.15 -> v1.14.41" in script
    )
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "CRAFTED": str(crafted),
        "PYTHON": sys.executable,
        "RUN_RC": run_rc,
        "PYTHONPATH": str(Path(baseline.__file__).resolve().parents[2]),
    }
    proc = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == want_rc, proc.stdout + proc.stderr
    if want is None:  # the run failed on bad input: no gate, no baseline
        assert "macmatrix compare" not in proc.stdout and not bl.exists()
        return
    written = json.loads(bl.read_text())["cases"]  # the old stack's behaviour, as a baseline
    assert (written[A.id]["outcome"], written[B.id]["outcome"]) == (Outcome.WORKS, Outcome.BROKEN)
    assert f"### macmatrix compare: {want}" in proc.stdout


def test_plan_upgrade_command(tmp_path, capsys):
    pytest.importorskip("macmatrix.spec.stacks", reason="the kind backend's stacks module")
    code, out, _ = run_cli(
        capsys,
        "plan-upgrade",
        "kube-ovn-v1.13",
        "kube-ovn-v1.14",
        "--baseline",
        str(tmp_path / "b"),
    )
    assert code == 0
    assert out.startswith("#!/bin/sh\n# macmatrix upgrade check: kube-ovn-v1.13 -> kube-ovn-v1.14")
    assert "--stack kube-ovn-v1.14" in out
    err = one_line_exit_2(capsys, "plan-upgrade", "kube-ovn-v1.13", "kube-ovn-v9")
    assert "unknown stack" in err and "kube-ovn-v9" in err


def test_check_with_no_shared_case_is_not_a_pass(tmp_path, capsys, committed):
    """An empty run (or another matrix) compares nothing: exit 2, unless --allow-empty."""
    head = write_results(tmp_path / "empty.json", {}, seed=2)
    code, out, err = run_cli(capsys, "check", str(head), "--baseline", committed)
    assert code == 2 and "result: ok" not in out
    assert "share no case" in err and "--allow-empty" in err
    code, out, _ = run_cli(capsys, "check", str(head), "--baseline", committed, "--allow-empty")
    assert code == 0 and "result: ok" in out
