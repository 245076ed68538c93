"""A hung plugin (issue 12, section 2), with a stand-in `macvlan` that never answers.

The stand-in is a shell script put first on the plugin path: it logs each call, starts a child
that sleeps (the kind of process that used to outlive a timeout under PID 1) and then sleeps
itself. The other plugins are the real ones. Bounds are generous: they tell "about one timeout"
from "one timeout per case and try", never time the happy path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import schema_check

from macmatrix.backends.netns import backend as netns
from macmatrix.backends.netns import runs

pytestmark = pytest.mark.netns

WHY_NOT = netns.unavailable()
if WHY_NOT:
    pytest.skip(f"netns backend unavailable: {WHY_NOT}", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
SELECT = "macvlan and single and ipam-static and x1 and cni-1.0.0 and not eth0-in-pod"  # 10 cases
REAL = [d for d in netns.DEFAULT_BIN_DIRS if (Path(d) / "macvlan").exists()]


@pytest.fixture
def hung(tmp_path: Path) -> Path:
    """A plugin dir whose `macvlan` hangs; calls go to <dir>/calls, child PIDs to <dir>/children."""
    return stand_in(tmp_path / "hung-bin", "macvlan")


def stand_in(d: Path, plugin: str) -> Path:
    """Folder `d` holding a `plugin` that never answers (see the module docstring)."""
    d.mkdir()
    script = d / plugin
    script.write_text(
        "#!/bin/sh\n"
        f"# stand-in for a hung CNI plugin {plugin} (issue 12): never answers, leaves a child\n"
        '[ -n "$CNI_COMMAND" ] || exit 1\n'
        f'echo "$CNI_COMMAND" >> {d}/calls\n'
        "sleep 300 &\n"
        f"echo $! >> {d}/children\n"
        "exec sleep 300\n"
    )
    script.chmod(0o755)
    return d


def argv(hung: Path, out: Path, *extra: str) -> list[str]:
    dirs = [a for d in [hung, *REAL] for a in ("--cni-bin-dir", str(d))]
    cmd = [sys.executable, "-m", "macmatrix.cli", "run", "--backend", "netns", "-q", "-k", SELECT]
    return [*cmd, *dirs, "--out", str(out), *extra]


def calls(hung: Path) -> list[str]:
    p = hung / "calls"
    return p.read_text().split() if p.exists() else []


def children_gone(hung: Path) -> None:
    p = hung / "children"
    pids = [int(x) for x in p.read_text().split()] if p.exists() else []
    assert pids, "the stand-in never ran"
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"plugin child {pid} survived"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_hung_plugin_trips_the_breaker_and_ends_the_run_with_exit_3(
    tmp_path: Path, hung: Path
) -> None:
    start = time.monotonic()
    proc = subprocess.run(
        argv(hung, tmp_path / "o", "--plugin-timeout", "1", "--workers", "2", "--retries", "2"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    schema_check.results(doc)
    ran = [c for c in doc["cases"] if c["outcome"] != "unsupported"]
    assert len(ran) == 10 and all(c["outcome"] == "infra-error" for c in ran)
    timed_out = [c for c in ran if c["reason"].startswith("PluginTimeout")]
    not_tried = [c for c in ran if c["reason"].startswith("not tried: macvlan hung")]
    assert len(timed_out) + len(not_tried) == 10
    # the first failure is named: the ADD's timeout, not the DEL that followed it
    assert all("macvlan ADD gave no answer in 1 s" in c["reason"] for c in timed_out)
    assert 3 <= len(timed_out) <= 3 + 2 - 1  # the breaker's 3, plus what was already running
    assert not any("tries" in c for c in ran)  # never retried
    adds, dels = calls(hung).count("ADD"), calls(hung).count("DEL")
    assert calls(hung).count("VERSION") <= 1  # the version probe hung once, its group killed
    assert adds == len(timed_out) and dels == adds  # one short DEL per hung ADD, none after
    # one timeout per case and try would be 10 * 3 * (1 + 1) s; this is about the breaker's 3
    assert took < 10 * 3 * 2, f"{took:.1f} s"
    children_gone(hung)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--plugin-timeout", "0"),
        ("--plugin-timeout", "inf"),  # once an OverflowError traceback from subprocess
        ("--plugin-timeout", "1e10"),
        ("--plugin-timeout", "nan"),
        ("--workers", "-1"),  # once a ValueError traceback from ThreadPoolExecutor
        ("--workers", "0"),
    ],
)
def test_plugin_timeout_and_workers_are_checked(
    tmp_path: Path, hung: Path, option: str, value: str
) -> None:
    proc = subprocess.run(
        [*argv(hung, tmp_path / "o"), option, value],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and option in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_hang_unwinds_at_once(tmp_path: Path, hung: Path, sig: int) -> None:
    proc = subprocess.Popen(
        argv(hung, tmp_path / "o", "--plugin-timeout", "120", "--workers", "2"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "ADD" not in calls(hung):
        time.sleep(0.02)
    assert "ADD" in calls(hung), "the run never reached the plugin"
    mine = runs.find(proc.pid)
    assert mine, "the run has no record"
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 3, err
    # the plugin hangs for 120 s; CI's grace period before SIGKILL is often 10 s
    assert took < 10, f"{took:.1f} s to unwind"
    assert netns.leftover_namespaces(mine[0].prefix) == []
    assert not mine[0].path().exists() and not Path(mine[0].tmpdir).exists()
    assert calls(hung).count("DEL") == 0  # no DEL waits on a hung plugin while stopping
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    schema_check.results(doc)  # valid also when stopped: unfinished cases say so
    assert doc["complete"] is False
    children_gone(hung)
    assert os.path.exists(tmp_path / "o" / "results.json")


def test_repro_gives_up_on_a_hung_plugin_at_its_plugin_timeout(tmp_path: Path, hung: Path) -> None:
    """`repro --plugin-timeout` reaches the netns runtime: the hung ADD is named with the given
    timeout (not the default 30 s), the outcome is infra-error (exit 3), nothing is left."""
    dirs = [a for d in [hung, *REAL] for a in ("--cni-bin-dir", str(d))]
    paste = REPO / "tests" / "data" / "corpus" / "multus-macvlan-tuning.yaml"
    cmd = [sys.executable, "-m", "macmatrix.cli", "repro", str(paste), "--backend", "netns"]
    start = time.monotonic()
    proc = subprocess.run(
        [*cmd, *dirs, "--plugin-timeout", "1", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    (entry,) = json.loads(proc.stdout)["cases"]
    schema_check.entry(entry, "repro --json")
    assert entry["outcome"] == "infra-error"
    assert "macvlan ADD gave no answer in 1 s" in entry["reason"], entry["reason"]
    assert calls(hung).count("ADD") == 1 and calls(hung).count("DEL") <= 1
    # the default timeout would hold the ADD alone for 30 s
    assert took < 30, f"{took:.1f} s"
    children_gone(hung)


def test_the_fix_search_gives_up_on_a_hung_plugin_at_the_repro_plugin_timeout(
    tmp_path: Path,
) -> None:
    """The fix search's own netns runs get `repro --plugin-timeout` too. The report (macvlan
    alone, `cni-args` mac) runs on the real plugins and is broken; the candidate that adds
    tuning meets a `tuning` that hangs, and its ADD is named with the given 1 s, not 30 s."""
    hung = stand_in(tmp_path / "hung-tuning", "tuning")
    dirs = [a for d in [hung, *REAL] for a in ("--cni-bin-dir", str(d))]
    paste = REPO / "tests" / "data" / "corpus" / "cni-args-no-tuning.yaml"
    cmd = [sys.executable, "-m", "macmatrix.cli", "repro", str(paste), "--backend", "netns"]
    proc = subprocess.run(
        [*cmd, *dirs, "--plugin-timeout", "1", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # the report itself: broken, no tuning involved
    (entry,) = json.loads(proc.stdout)["cases"]
    schema_check.entry(entry, "repro --json")
    fix = entry["fix"]
    assert fix["searched"] is True and fix["best"] is None, fix
    with_tuning = [t for t in fix["tried"] if "add-tuning" in t["remedies"]]
    assert with_tuning, [t["remedies"] for t in fix["tried"]]
    for t in with_tuning:
        assert t["outcome"] == "infra-error", t
        assert "tuning ADD gave no answer in 1 s" in t["reason"], t["reason"]
    assert calls(hung).count("ADD") == len(with_tuning)
    children_gone(hung)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_repro_plugin_timeout_must_be_positive(value: str) -> None:
    paste = REPO / "tests" / "data" / "corpus" / "multus-macvlan-tuning.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "macmatrix.cli", "repro", str(paste), "--backend", "netns",
         "--plugin-timeout", value],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "--plugin-timeout" in line and "must be seconds > 0" in line
