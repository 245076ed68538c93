"""`macmatrix run` from the command line: files, exit codes, bad input as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import schema_check

from macmatrix.backends.netns import backend as netns

REPO = Path(__file__).resolve().parents[1]
WHY_NOT = netns.unavailable()
needs_netns = pytest.mark.skipif(bool(WHY_NOT), reason=f"netns backend unavailable: {WHY_NOT}")


def macmatrix(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "macmatrix.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("macmatrix: --backend")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0]


def test_unknown_axis_value_in_matrix(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text("sets:\n  s:\n    request: [carrier-pigeon]\n")
    one_line_error(
        macmatrix("run", "--matrix", str(m), "--out", str(tmp_path / "o")),
        "request",
        "carrier-pigeon",
    )
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_malformed_matrix_and_empty_selection(tmp_path: Path) -> None:
    m = tmp_path / "m.yaml"
    m.write_text("sets: [\n")
    one_line_error(macmatrix("run", "--matrix", str(m)), "not valid YAML")
    one_line_error(macmatrix("run", "-k", "no-such-case-anywhere"), "selects no case")


def test_usage_errors_exit_2() -> None:
    assert macmatrix("run", "--backend", "bogus").returncode == 2
    assert macmatrix("frobnicate").returncode == 2


def test_not_root_enters_a_user_namespace_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    entered: list[bool] = []
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(netns.rootless, "enter", lambda: entered.append(True))
    netns.require_root()
    assert entered == [True]  # the real thing, as uid 65534: tests/test_rootless.py


@needs_netns
def test_no_plugins_found(tmp_path: Path) -> None:
    one_line_error(
        macmatrix("run", "--backend", "netns", "--cni-bin-dir", str(tmp_path)),
        "--cni-bin-dir",
        "containernetworking-plugins",
    )


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path: Path) -> None:
    before = set(netns.leftover_namespaces()) if os.geteuid() == 0 else set()
    proc = macmatrix(
        "run",
        "--backend",
        "netns",
        "--dry-run",
        "-k",
        "tuning-capmac",
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 0, proc.stderr
    assert '"type": "tuning"' in proc.stdout and "macvlan+capmac/tuning-capmac" in proc.stdout
    assert not (tmp_path / "o").exists()
    if os.geteuid() == 0:
        # new namespaces may only belong to other live runs on this host, never to this one
        from macmatrix.backends.netns import runs

        others = [r.prefix for r in runs.records() if r.alive()]
        new = set(netns.leftover_namespaces()) - before
        assert all(any(n.startswith(p) for p in others) for n in new), new


@needs_netns
def test_run_writes_results_markdown_and_junit(tmp_path: Path) -> None:
    proc = macmatrix(
        "run", "--backend", "netns", "-k", "single and cni-1.0.0 and x1", "--out", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    schema_check.results(doc)
    assert doc["complete"] is True and doc["stack"]["backend"] == "netns"
    assert doc["stack"]["cni_plugins"] not in ("", None)
    outcomes = {c["id"]: c["outcome"] for c in doc["cases"]}
    assert outcomes["macvlan/single/ipam-static/req-networks/cni-1.0.0/x1/eth0-auto"] == "works"
    assert outcomes["macvlan/single/ipam-static/req-cni-args/cni-1.0.0/x1/eth0-auto"] == "broken"
    assert all(c["as_expected"] for c in doc["cases"] if c["outcome"] != "unsupported")
    for c in doc["cases"]:
        for pod in c["pods"]:
            for mac in pod["interfaces"].values():
                assert mac == mac.lower() and mac.count(":") == 5
    assert (tmp_path / "results.md").read_text().strip()
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()
    assert "works" in proc.stdout  # the terminal table


@needs_netns
def test_a_changed_expectation_fails_with_exit_1(tmp_path: Path) -> None:
    case_id = "macvlan/single/ipam-static/req-cni-args/cni-1.0.0/x1/eth0-auto"
    base = tmp_path / "baseline.json"
    base.write_text(
        json.dumps(
            {
                "schema": 1,
                "cases": {
                    case_id: {"outcome": "works", "checks": {"secondary_mac_honoured": True}}
                },
            }
        )
    )
    proc = macmatrix(
        "run",
        "--backend",
        "netns",
        "-k",
        "single and req-cni-args and cni-1.0.0",
        "--baseline",
        str(base),
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    schema_check.results(doc)
    entries = {c["id"]: c for c in doc["cases"]}
    entry = entries[case_id]
    assert entry["as_expected"] is False and entry["expected"]["source"].startswith("baseline:")
    assert "outcome: expected works, observed broken" in entry["differences"]
    others = [c for c in doc["cases"] if c["id"] != case_id]
    assert others and all(c["expected"]["source"] == "model" for c in others)
