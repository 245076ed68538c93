"""The nightly's gate (workflows/ci_gate.py) and how `macmatrix run` picks its expectation.

Results files are written through the real ResultsWriter/case_entry with the real judge and model
(tests/test_compare.py's helpers); stacks and locks are small files in tmp_path.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.cli import run
from macmatrix.errors import BadInput
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec import stacks
from macmatrix.spec.cases import Case
from macmatrix.views import baseline
from macmatrix.workflows import ci_gate
from tests.test_compare import A, B, C, D, write_results

REPO = Path(__file__).resolve().parents[1]
KIND = {
    "backend": "kind",
    "name": "kube-ovn-v1.14",
    "cni_plugins": "v1.9.0",
    "kube_ovn": "v1.14.41",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A checkout: clusters/stacks.toml (the real one), an empty lock, no baselines."""
    r = tmp_path / "repo"
    (r / "clusters").mkdir(parents=True)
    (r / "e2e" / "baselines").mkdir(parents=True)
    shutil.copy(REPO / "clusters" / "stacks.toml", r / "clusters" / "stacks.toml")
    (r / "clusters" / "stacks.lock").write_text("{}\n")
    return r


def _results(tmp_path: Path, plan: dict[Case, str], name: str = "results.json") -> Path:
    return write_results(tmp_path / name, plan, stack=KIND)


# --------------------------------------------------------------------------- expect


def test_without_a_kind_baseline_the_model_is_the_expectation(root: Path) -> None:
    ex = ci_gate.expect("kube-ovn-v1.14", root)
    assert ex.outputs()["expectation"] == "model" and ex.baseline == ""
    assert "no kind baseline committed" in "\n".join(ex.describe())


def test_a_committed_kind_baseline_is_the_expectation(root: Path, tmp_path: Path) -> None:
    doc, _ = baseline.build(json.loads(_results(tmp_path, {A: "works"}).read_text()))
    (root / "e2e" / "baselines" / "kube-ovn-v1.14-kind.json").write_text(baseline.dumps(doc))
    ex = ci_gate.expect("kube-ovn-v1.14", root)
    assert ex.outputs()["baseline"] == "e2e/baselines/kube-ovn-v1.14-kind.json"
    # only that stack's own file counts: another stack still has the model
    assert ci_gate.expect("kube-ovn-v1.13", root).baseline == ""


def test_the_gate_and_macmatrix_run_name_the_same_baseline_file() -> None:
    """`expect` looks where `macmatrix run` itself looks (baseline.committed_baseline)."""
    for name in stacks.stack_names():
        ex = ci_gate.expect(name, REPO)
        path = baseline.baseline_path(stacks.get(name).as_stack_dict())
        assert path == REPO / "e2e" / "baselines" / f"{name}-kind.json"
        assert ex.baseline == (f"e2e/baselines/{name}-kind.json" if path.exists() else "")


def test_a_broken_committed_baseline_stops_before_the_run(root: Path) -> None:
    (root / "e2e" / "baselines" / "kube-ovn-v1.14-kind.json").write_text('{"cases": {}}')
    with pytest.raises(BadInput, match="not a macmatrix baseline"):
        ci_gate.expect("kube-ovn-v1.14", root)


def test_lock_is_required_once_it_has_entries_for_the_stack(root: Path) -> None:
    urls = stacks.get("kube-ovn-v1.14", root / "clusters" / "stacks.toml").downloads()
    empty = ci_gate.expect("kube-ovn-v1.14", root)
    assert not empty.require_lock and len(empty.missing) == len(urls)  # bootstrap: record
    lock = Lock(root / "clusters" / "stacks.lock")
    lock.record(urls[0], "0" * 64)
    partial = ci_gate.expect("kube-ovn-v1.14", root)
    assert partial.require_lock and partial.missing == tuple(urls[1:])
    assert any("will stop with exit 2" in line for line in partial.describe())
    assert not ci_gate.expect("kube-ovn-v1.14", root, record_lock=True).require_lock
    for url in urls[1:]:
        lock.record(url, "1" * 64)
    full = ci_gate.expect("kube-ovn-v1.14", root)
    assert full.require_lock and not full.missing
    assert full.outputs()["require_lock"] == "true" and full.outputs()["lock_missing"] == "0"


def test_expect_writes_github_outputs(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "gh_out"
    code = ci_gate.main(
        ["expect", "--stack", "kube-ovn-v1.16", "--root", str(root), "--github-output", str(out)]
    )
    assert code == 0
    assert out.read_text().splitlines() == [
        "expectation=model",
        "baseline=",
        "require_lock=false",
        f"lock_missing={len(stacks.get('kube-ovn-v1.16').downloads())}",
    ]


def test_unknown_stack_is_bad_input(root: Path) -> None:
    with pytest.raises(BadInput, match="--stack"):
        ci_gate.expect("kube-ovn-v9.99", root)


# --------------------------------------------------------------------------- verdict


def test_everything_broken_against_the_model_is_red(tmp_path: Path) -> None:
    """The nightly that was green although every case broke: now red, with why and what next."""
    path = _results(tmp_path, {A: "broken", C: "broken", D: "status-lies"})
    doc = json.loads(path.read_text())
    rc = run.exit_code(doc)
    assert rc == 1  # A and D work by the model
    gate = ci_gate.verdict("kube-ovn-v1.14", str(rc), path)
    assert not gate.ok
    text = "\n".join(gate.failures)
    assert "differ from the model" in text and "not one of 3 judged case(s) works" in text
    assert "proposed-baselines-and-lock" in gate.markdown()  # the bootstrap hint


def test_as_expected_is_green(tmp_path: Path) -> None:
    path = _results(tmp_path, {A: "works", B: "broken", C: "broken", D: "works"})
    rc = run.exit_code(json.loads(path.read_text()))
    assert rc == 0
    gate = ci_gate.verdict("kube-ovn-v1.14", str(rc), path)
    assert gate.ok, gate.failures
    assert gate.annotations()[0].startswith("::notice::")


@pytest.mark.parametrize(
    ("rc", "words"),
    [
        ("", "did not finish"),
        ("2", "bad input"),
        ("3", "infrastructure failure"),
        ("137", "exited 137"),
    ],
)
def test_a_run_that_could_not_judge_is_red(tmp_path: Path, rc: str, words: str) -> None:
    path = _results(tmp_path, {A: "works", D: "works"})
    gate = ci_gate.verdict("s", rc, path)
    assert not gate.ok and words in gate.failures[0]


def test_missing_or_incomplete_results_are_red(tmp_path: Path) -> None:
    assert "no results.json" in ci_gate.verdict("s", "0", tmp_path / "none.json").failures[0]
    path = _results(tmp_path, {A: "works"})
    doc = json.loads(path.read_text())
    doc["complete"] = False
    path.write_text(json.dumps(doc))
    assert any("incomplete" in f for f in ci_gate.verdict("s", "0", path).failures)


def test_a_regression_against_the_baseline_is_red_even_when_the_run_said_0(tmp_path: Path) -> None:
    path = _results(tmp_path, {A: "works", D: "works"})
    base = "e2e/baselines/s-kind.json"
    assert ci_gate.verdict("s", "0", path, base, compare_rc="0").ok
    gate = ci_gate.verdict("s", "0", path, base, compare_rc="1")
    assert not gate.ok and f"regressions against {base}" in gate.failures[0]
    assert not ci_gate.verdict("s", "0", path, base, compare_rc="2").ok
    # without a baseline no compare runs: an empty compare rc is fine
    assert ci_gate.verdict("s", "0", path, "", compare_rc="").ok


def test_verdict_command_exit_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _results(tmp_path, {A: "broken"})
    summary = tmp_path / "summary.md"
    argv = ["verdict", "--stack", "s", "--run-rc", "1", "--results", str(path)]
    assert ci_gate.main([*argv, "--summary", str(summary)]) == 1
    assert capsys.readouterr().out.startswith("::error::s: 1 case(s) differ from the model")
    assert summary.read_text().startswith("### Gate s: FAILED")


# --------------------------------------------------------------------------- bundle


def _proposal(where: Path, stack: str, plan: dict[Case, str], lock: dict[str, str]) -> Path:
    results_file = write_results(
        where / f"{stack}.results.json", plan, stack={**KIND, "name": stack}
    )
    doc, _ = baseline.build(json.loads(results_file.read_text()))
    d = where / f"proposed-baseline-{stack}"
    (d / "e2e" / "baselines").mkdir(parents=True)
    (d / "clusters").mkdir()
    (d / "e2e" / "baselines" / f"{stack}-kind.json").write_text(baseline.dumps(doc))
    (d / "clusters" / "stacks.lock").write_text(json.dumps(lock))
    return d


def test_bundle_merges_baselines_and_locks(root: Path, tmp_path: Path) -> None:
    shared = {"https://x/kind": "a" * 64}
    one = _proposal(tmp_path, "s1", {A: "works"}, {**shared, "https://x/p1": "b" * 64})
    two = _proposal(tmp_path, "s2", {D: "works"}, {**shared, "https://x/p2": "c" * 64})
    committed = root / "e2e" / "baselines" / "s2-kind.json"
    shutil.copy(two / "e2e" / "baselines" / "s2-kind.json", committed)
    out = tmp_path / "bundle"
    b = ci_gate.bundle([one, two, tmp_path / "absent"], out, root)
    assert b.written == {
        "e2e/baselines/s1-kind.json": "new",
        "e2e/baselines/s2-kind.json": "unchanged",
        "clusters/stacks.lock": "changed",
    }
    assert json.loads((out / "clusters" / "stacks.lock").read_text()) == {
        "https://x/kind": "a" * 64,
        "https://x/p1": "b" * 64,
        "https://x/p2": "c" * 64,
    }
    assert not b.conflicts and any("absent" in n for n in b.notes)


def test_bundle_refuses_one_url_with_two_digests(root: Path, tmp_path: Path) -> None:
    one = _proposal(tmp_path, "s1", {A: "works"}, {"https://x/kind": "a" * 64})
    two = _proposal(tmp_path, "s2", {A: "works"}, {"https://x/kind": "d" * 64})
    out = tmp_path / "bundle"
    code = ci_gate.main(["bundle", str(one), str(two), "--out", str(out), "--root", str(root)])
    assert code == 1
    assert json.loads((out / "clusters" / "stacks.lock").read_text()) == {
        "https://x/kind": "a" * 64
    }


def test_bundle_keeps_the_good_proposals_and_names_each_malformed_one(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One stack's bad baseline JSON and another's bad lock cost only those two proposals."""
    good = _proposal(tmp_path, "s1", {A: "works"}, {"https://x/p1": "b" * 64})
    bad_json = _proposal(tmp_path, "s2", {A: "works"}, {"https://x/p2": "c" * 64})
    (bad_json / "e2e" / "baselines" / "s2-kind.json").write_text('{"schema": 1, "cases": {')
    bad_lock = _proposal(tmp_path, "s3", {A: "works"}, {})
    (bad_lock / "clusters" / "stacks.lock").write_text('{"https://x/p3": "not-a-digest"}')
    out = tmp_path / "bundle"
    summary = tmp_path / "summary.md"
    argv = [str(good), str(bad_json), str(bad_lock), "--out", str(out), "--root", str(root)]
    code = ci_gate.main(["bundle", *argv, "--summary", str(summary)])
    assert code == 2
    assert sorted(p.name for p in (out / "e2e" / "baselines").iterdir()) == ["s1-kind.json"]
    assert json.loads((out / "clusters" / "stacks.lock").read_text()) == {"https://x/p1": "b" * 64}
    errors = [line for line in capsys.readouterr().out.splitlines() if "::error::" in line]
    assert len(errors) == 2, errors
    assert "proposed-baseline-s2" in errors[0] and "s2-kind.json" in errors[0]
    assert "proposed-baseline-s3" in errors[1] and "sha256" in errors[1]
    assert summary.read_text().count("left out, malformed") == 2


def test_bundle_exit_codes_say_what_went_wrong() -> None:
    assert ci_gate.Bundle().exit_code() == 0
    assert ci_gate.Bundle(conflicts=["u: a vs b"]).exit_code() == 1
    assert ci_gate.Bundle(conflicts=["u: a vs b"], rejected=["s: bad"]).exit_code() == 2


# --------------------------------------------------------------------------- macmatrix run


class StandInBackend:
    """Not a cluster: answers every case `unsupported`, so only the expectation is under test."""

    def __init__(self, stack: dict[str, Any]) -> None:
        self._stack = stack

    def __enter__(self) -> StandInBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def stack(self) -> dict[str, Any]:
        return dict(self._stack)

    def run(
        self, cases: list[Case], progress: Any = None, on_case: Any = None
    ) -> dict[str, CaseObservation]:
        out = {
            c.id: CaseObservation(c.id, "unsupported", "stand-in", [PodObservation("p")])
            for c in cases
        }
        for obs in out.values():
            if on_case is not None:
                on_case(obs)
        return out


@pytest.mark.parametrize("flag", [[], ["--no-baseline"]])
def test_run_uses_the_committed_baseline_unless_no_baseline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, flag: list[str]
) -> None:
    committed = REPO / "e2e" / "baselines" / "netns-netns.json"
    case_id = next(iter(json.loads(committed.read_text())["cases"]))
    from macmatrix import cli

    stack = {"backend": "netns", "name": "netns", "cni_plugins": "1.1.1"}
    monkeypatch.setattr(cli, "open_backend", lambda name, args: StandInBackend(stack))
    out = tmp_path / "out"
    code = run.main(["--backend", "netns", "-k", case_id, "--out", str(out), "-q", *flag])
    assert code in (0, 1)
    entry = next(e for e in json.loads((out / "results.json").read_text())["cases"])
    source = entry["expected"]["source"]
    assert source == ("model" if flag else "baseline:e2e/baselines/netns-netns.json")


def test_baseline_and_no_baseline_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--no-baseline"):
        run.main(["--baseline", str(tmp_path / "b.json"), "--no-baseline", "--dry-run"])


def test_nothing_works_is_red_for_the_matrix_but_not_for_a_narrow_selection(
    tmp_path: Path,
) -> None:
    """Every case broken as the baseline says (a bad baseline got committed) is still red; a
    hand-picked `-k` of known-broken cases is not."""
    path = _results(tmp_path, {B: "broken", C: "broken"})
    assert run.exit_code(json.loads(path.read_text())) == 0  # the model calls both broken
    gate = ci_gate.verdict("s", "0", path)
    assert not gate.ok and "not one of 2 judged case(s) works" in gate.failures[0]
    assert ci_gate.verdict("s", "0", path, selection="req-cni-args or req-annotation").ok
