"""Rootless netns: an unprivileged user gets the same matrix as root, case by case.

The unprivileged user is uid 65534 made by setpriv (tests/unprivileged.py); the root reference run
is made here too, so both see the same plugins and kernel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schema_check
import unprivileged

from macmatrix.backends.netns import rootless
from macmatrix.backends.netns.backend import unavailable

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def _skip_reason() -> str | None:
    return unavailable() or unprivileged.why_not()


WHY_NOT = _skip_reason()
needs_both = pytest.mark.skipif(bool(WHY_NOT), reason=f"rootless test cannot run: {WHY_NOT}")


def _as_root(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "macmatrix.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


MAC = re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b")


def _essence(entry: dict[str, Any]) -> dict[str, Any]:
    """What must be identical between two runs: outcome, each check's verdict, the requests.

    Random MACs (the kernel's choice where nothing was requested) differ from run to run, so
    checks are compared by `ok` and MACs in texts by shape; requested MACs are deterministic.
    """
    return {
        "outcome": entry["outcome"],
        "reason": MAC.sub("<mac>", entry["reason"]),
        "as_expected": entry.get("as_expected"),
        "checks": {n: c.get("ok") for n, c in entry["checks"].items()},
        "requested": entry["requested"],
        "pods": [(sorted(p["interfaces"]), p.get("error")) for p in entry["pods"]],
    }


def _by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: _essence(e) for e in doc["cases"]}


@pytest.fixture
def home() -> Iterator[Path]:
    with unprivileged.home() as h:
        yield h


@pytest.fixture(scope="module")
def root_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("root-run")
    proc = _as_root("run", "--backend", "netns", "-q", "--no-baseline", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    schema_check.results(doc)
    return doc


def _run_listing() -> list[str]:
    return sorted(os.listdir("/run"))


@needs_both
def test_unprivileged_run_matches_root_case_by_case(root_run: dict[str, Any], home: Path) -> None:
    out = home / "out"
    run_before = _run_listing()
    proc = unprivileged.run(
        [
            PY,
            "-m",
            "macmatrix.cli",
            "run",
            "--backend",
            "netns",
            "-q",
            "--no-baseline",
            "--out",
            str(out),
        ],
        home,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "results.json").read_text())
    schema_check.results(doc)
    assert doc["stack"]["netns_mode"] == "rootless"
    assert root_run["stack"]["netns_mode"] == "root"
    mine, root = _by_id(doc), _by_id(root_run)
    assert sorted(mine) == sorted(root)
    differing = {cid: (mine[cid], root[cid]) for cid in root if mine[cid] != root[cid]}
    assert not differing
    assert sum(e["outcome"] in ("works", "broken") for e in doc["cases"]) > 50
    # results, temp files, host-local state: all the user's, and the temp ones are gone again
    assert (out / "results.json").stat().st_uid == unprivileged.UID
    assert list((home / "tmp").iterdir()) == []
    assert _run_listing() == run_before  # nothing of the run appeared in the host's /run


@needs_both
def test_unprivileged_pytest_plugin_matches_root(root_run: dict[str, Any], home: Path) -> None:
    out = home / "out"
    proc = unprivileged.run(
        [
            PY,
            "-m",
            "pytest",
            "e2e/test_mac_matrix.py",
            "--backend",
            "netns",
            "--no-baseline",
            "-k",
            "x2",
            "-q",
            "-p",
            "no:cacheprovider",
            "--out",
            str(out),
        ],
        home,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.split("\n")[-2]
    doc = json.loads((out / "results.json").read_text())
    schema_check.results(doc)
    assert doc["stack"]["netns_mode"] == "rootless"
    mine, root = _by_id(doc), _by_id(root_run)
    assert mine and all(mine[cid] == root[cid] for cid in mine)


@needs_both
def test_unprivileged_repro_matches_root(home: Path) -> None:
    paste = REPO / "tests" / "data" / "corpus" / "issue-4834-maintainer-fix.yaml"
    args = ["repro", str(paste), "--backend", "netns", "--json"]
    root = _as_root(*args)
    mine = unprivileged.run([PY, "-m", "macmatrix.cli", *args], home)
    assert root.returncode == mine.returncode == 0, mine.stderr
    [r], [m] = json.loads(root.stdout)["cases"], json.loads(mine.stdout)["cases"]
    schema_check.entry(r, "repro --json as root")
    schema_check.entry(m, "repro --json rootless")
    assert m["outcome"] == r["outcome"] == "works"
    assert _essence(m) == _essence(r)
    assert m["pods"][0]["interfaces"] == r["pods"][0]["interfaces"]  # the requested MAC, both


@needs_both
def test_doctor_says_which_mode_and_why(home: Path) -> None:
    mine = unprivileged.run([PY, "-m", "macmatrix.cli", "doctor", "--backend", "netns"], home)
    assert mine.returncode == 0, mine.stdout + mine.stderr
    assert "ok   mode: rootless" in mine.stdout
    root = _as_root("doctor", "--backend", "netns")
    assert root.returncode == 0 and "ok   mode: root (uid 0)" in root.stdout


@needs_both
def test_user_namespaces_off_is_one_line_and_exit_3(home: Path) -> None:
    argv = [PY, "-m", "macmatrix.cli", "run", "--backend", "netns", "-q", "--out", str(home)]
    proc = unprivileged.run(argv, home, user_namespaces_off=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "user.max_user_namespaces = 0" in lines[0]
    assert "sysctl -w user.max_user_namespaces=" in lines[0]
    doctor = unprivileged.run(
        [PY, "-m", "macmatrix.cli", "doctor", "--backend", "netns"], home, user_namespaces_off=True
    )
    assert doctor.returncode == 3
    assert "FAIL mode: not root, and no rootless netns" in doctor.stdout
    assert "user.max_user_namespaces" in doctor.stdout


@pytest.mark.parametrize(
    ("knob", "value", "words"),
    [
        ("unprivileged_userns_clone", "0", "sysctl -w kernel.unprivileged_userns_clone=1"),
        ("max_user_namespaces", "0", "sysctl -w user.max_user_namespaces=15000"),
        ("apparmor", "1", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"),
    ],
)
def test_each_switch_is_named_with_its_fix(knob: str, value: str, words: str) -> None:
    path = rootless.SYSCTLS[knob]
    line = rootless.why_unavailable(lambda p: value if p == path else None)
    assert words in line and "\n" not in line


def test_no_switch_to_blame_names_the_error_and_containers() -> None:
    line = rootless.why_unavailable(lambda p: None, error="Operation not permitted")
    assert "(Operation not permitted)" in line and "seccomp" in line
