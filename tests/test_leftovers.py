"""Privileges and orphans (issue 12, section 7), on the real netns backend.

- root without CAP_SYS_ADMIN/CAP_NET_ADMIN (setpriv drops them from the bounding set): `doctor`
  says not ready and `run` fails once, at once, with one line and exit 3;
- a run killed with SIGKILL leaves namespaces and a temp folder: `doctor` lists them and
  `macmatrix cleanup` removes them, never those of a run that is still alive.
A stand-in `macvlan` that hangs keeps the runs mid-case while the test acts on them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import schema_check
from pyroute2 import netns as pyroute2_netns

from macmatrix.backends.netns import backend as netns
from macmatrix.backends.netns import runs
from macmatrix.run.results import UNFINISHED

pytestmark = pytest.mark.netns

WHY_NOT = netns.unavailable()
if WHY_NOT:
    pytest.skip(f"netns backend unavailable: {WHY_NOT}", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "macmatrix.cli"]
SELECT = ["-k", "single and ipam-static and x1 and cni-1.0.0"]
NO_CAPS = ["setpriv", "--bounding-set", "-sys_admin,-net_admin", "--inh-caps=-sys_admin,-net_admin"]
needs_setpriv = pytest.mark.skipif(
    shutil.which("setpriv") is None, reason="setpriv (util-linux) drops the capabilities"
)


@pytest.fixture(autouse=True)
def own_runs_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of runs of this test's own (MACMATRIX_RUNS_DIR, inherited by the CLI it starts):
    a `macmatrix cleanup` of another job sharing the host must not remove the run this test
    killed on purpose before this test's doctor and cleanup look at it."""
    d = tmp_path_factory.mktemp("runs")
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(d))
    return d


def cli(*args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), *CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@needs_setpriv
def test_doctor_decides_by_creating_a_namespace() -> None:
    proc = cli("doctor", "--backend", "netns", prefix=NO_CAPS)
    assert proc.returncode == 3, proc.stdout
    assert "ok   mode: root (uid 0)" in proc.stdout  # root, yet...
    assert "FAIL network namespace" in proc.stdout and "=> netns: not ready" in proc.stdout


@needs_setpriv
def test_run_without_the_capabilities_fails_once_with_one_line(tmp_path: Path) -> None:
    proc = cli("run", "--backend", "netns", "-q", *SELECT, "--out", str(tmp_path), prefix=NO_CAPS)
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "Operation not permitted" in lines[0] and "CAP_SYS_ADMIN" in lines[0]
    assert "setns" not in lines[0]  # the first error, not the one restoring the namespace
    doc = json.loads((tmp_path / "results.json").read_text())
    schema_check.results(doc)
    tried = [c for c in doc["cases"] if c["outcome"] != "unsupported"]
    assert tried and all(c["reason"] == UNFINISHED for c in tried)  # none tried, none retried


def hung_run(tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], runs.RunRecord]:
    """A run whose stand-in macvlan hangs for 300 s: it sits mid-case with its namespaces."""
    d = tmp_path / f"{name}-bin"
    d.mkdir()
    (d / "macvlan").write_text(
        '#!/bin/sh\n# stand-in for a hung plugin\n[ -n "$CNI_COMMAND" ] || exit 1\nexec sleep 300\n'
    )
    (d / "macvlan").chmod(0o755)
    dirs = [a for x in [d, *netns.DEFAULT_BIN_DIRS] for a in ("--cni-bin-dir", str(x))]
    argv = [*CLI, "run", "--backend", "netns", "-q", *SELECT, *dirs, "--plugin-timeout", "300"]
    proc = subprocess.Popen(
        [*argv, "--out", str(tmp_path / name)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mine = runs.find(proc.pid)
        if mine and any(n.endswith("-p1") for n in mine[0].namespaces()):
            return proc, mine[0]
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the run never reached its first pod")


def test_sigkilled_run_is_listed_and_cleanup_removes_only_dead_runs(tmp_path: Path) -> None:
    killed, dead = hung_run(tmp_path, "killed")
    alive_proc, alive = hung_run(tmp_path, "alive")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert dead.namespaces() and Path(dead.tmpdir).exists()  # what SIGKILL leaves

        doctor = cli("doctor", "--backend", "netns")
        assert f"WARN leftovers of killed runs: run {dead.run_id} (pid {dead.pid}" in doctor.stdout
        assert f"run {alive.run_id}" not in doctor.stdout

        dry = cli("cleanup", "--dry-run")
        assert dry.returncode == 0 and f"would remove run {dead.run_id}" in dry.stdout
        assert dead.namespaces()  # a dry run removes nothing

        clean = cli("cleanup")
        assert clean.returncode == 0, clean.stderr
        assert f"removing run {dead.run_id}" in clean.stdout
        assert dead.namespaces() == [] and not Path(dead.tmpdir).exists()
        assert not dead.path().exists()
        assert not (runs.RUNS_DIR / f"{dead.run_id}.json").exists()  # recorded only in ours
        # the live run is untouched and still cleans up after itself
        assert alive.namespaces() and alive.path().exists()
    finally:
        alive_proc.send_signal(signal.SIGTERM)
        alive_proc.wait(timeout=60)
    assert alive.namespaces() == [] and not alive.path().exists()


def test_a_probe_killed_mid_probe_is_listed_and_removed_but_a_live_one_is_not() -> None:
    # namespace_probe names its namespace mm-probe-<pid>-<tid> and removes it within
    # milliseconds; a SIGKILL in between leaves it with no run record (seen on a shared host).
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead_name = f"mm-probe-{gone.pid}-1"
    live_name = f"mm-probe-{os.getpid()}-1"
    for name in (dead_name, live_name):
        netns.create_netns(name)
    try:
        assert dead_name in runs.dead_probes() and live_name not in runs.dead_probes()
        assert dead_name not in runs.unrecorded_namespaces()
        doctor = cli("doctor", "--backend", "netns")
        assert f"probe namespace {dead_name} (its process is gone)" in doctor.stdout
        assert cli("cleanup", "--dry-run").returncode == 0
        assert dead_name in netns.leftover_namespaces("mm-probe-")  # a dry run removes nothing
        clean = cli("cleanup")
        assert clean.returncode == 0, clean.stderr
        assert f"removing probe namespace {dead_name}" in clean.stdout
        left = netns.leftover_namespaces("mm-probe-")
        assert dead_name not in left and live_name in left
    finally:
        for name in (dead_name, live_name):
            with contextlib.suppress(OSError):
                pyroute2_netns.remove(name)
