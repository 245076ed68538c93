"""Run records of the netns backend: who made which namespaces, so leftovers can be found later.

A run killed with SIGKILL cannot clean up, so each run writes `/run/macmatrix/runs/<id>.json`
(its id, PID and the PID's start time, its namespace prefix and temp folder) before it creates
anything, and removes it after close(). A record whose process is gone (or whose PID now
belongs to another process: the start time differs) marks leftovers: `doctor` lists them and
`macmatrix cleanup` removes them. Namespaces of a live run are never touched, and neither are
`mm-` namespaces without a record (a run of an older macmatrix may own them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from pyroute2 import netns

RUNS_DIR = Path("/run/macmatrix/runs")
# MACMATRIX_RUNS_DIR: another registry of runs, so a test's deliberately killed run is seen only by
# that test's doctor/cleanup and never by a cleanup of another job sharing the host
RUNS_DIR_ENV = "MACMATRIX_RUNS_DIR"


def runs_root() -> Path:
    """Where run records live: $MACMATRIX_RUNS_DIR, else /run/macmatrix/runs."""
    return Path(os.environ.get(RUNS_DIR_ENV) or RUNS_DIR)


TUNING_STATE_DIR = Path("/run/cni/tuning")  # tuning saves the old MAC here, removes it on DEL
NS_PREFIX = "mm-"
_RUN_ID = re.compile(r"^[0-9a-f]{6,32}$")
# netns.namespace_probe's namespace: mm-probe-<pid>-<thread id>; it lives for milliseconds
_PROBE = re.compile(rf"^{NS_PREFIX}probe-(\d+)-\d+$")


def process_start(pid: int) -> str | None:
    """The start time of `pid` in clock ticks (proc(5) stat field 22), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    pid: int
    pid_start: str | None
    prefix: str  # every namespace of the run starts with it
    tmpdir: str

    def alive(self) -> bool:
        return self.pid_start is not None and process_start(self.pid) == self.pid_start

    def path(self, runs_dir: Path | None = None) -> Path:
        return (runs_dir or runs_root()) / f"{self.run_id}.json"

    def namespaces(self) -> list[str]:
        return sorted(n for n in netns.listnetns() if n.startswith(self.prefix))

    def tuning_files(self) -> list[Path]:
        """tuning's saved MACs: files are named <container id>_<ifname>.json and every container
        id of a run starts with the run id (NetnsBackend._add_pod)."""
        return sorted(TUNING_STATE_DIR.glob(f"{self.run_id}*_*.json"))


def register(run_id: str, prefix: str, tmpdir: Path, runs_dir: Path | None = None) -> RunRecord:
    """Record this process as the owner of run `run_id`, before it creates anything."""
    pid = os.getpid()
    rec = RunRecord(run_id, pid, process_start(pid), prefix, str(tmpdir))
    runs_dir = runs_dir or runs_root()
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = runs_dir / f".{run_id}.json.tmp"
    tmp.write_text(json.dumps(asdict(rec)) + "\n")
    os.replace(tmp, rec.path(runs_dir))
    return rec


def unregister(rec: RunRecord, runs_dir: Path | None = None) -> None:
    rec.path(runs_dir).unlink(missing_ok=True)


def records(runs_dir: Path | None = None) -> Iterator[RunRecord]:
    """Every readable run record; a damaged one is skipped (it names nothing we could trust)."""
    runs_dir = runs_dir or runs_root()
    for path in sorted(runs_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            rec = RunRecord(
                str(data["run_id"]),
                int(data["pid"]),
                None if data["pid_start"] is None else str(data["pid_start"]),
                str(data["prefix"]),
                str(data["tmpdir"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _RUN_ID.match(rec.run_id) and rec.prefix.startswith(NS_PREFIX + rec.run_id):
            yield rec


def find(pid: int, runs_dir: Path | None = None) -> list[RunRecord]:
    """The runs process `pid` owns (tests look only at their own run's objects)."""
    return [r for r in records(runs_dir) if r.pid == pid]


@dataclass
class Leftover:
    record: RunRecord
    namespaces: list[str]
    tuning_files: list[Path]
    tmpdir: Path | None

    def describe(self) -> str:
        parts = [f"{len(self.namespaces)} namespace(s)"] if self.namespaces else []
        if self.tuning_files:
            parts.append(f"{len(self.tuning_files)} tuning state file(s)")
        if self.tmpdir:
            parts.append(f"temp folder {self.tmpdir}")
        what = ", ".join(parts) or "only its record"
        return f"run {self.record.run_id} (pid {self.record.pid}, gone): {what}"


def leftovers(runs_dir: Path | None = None) -> list[Leftover]:
    """What runs whose process is gone left behind; live runs are skipped."""
    out = []
    for rec in records(runs_dir):
        if rec.alive():
            continue
        tmp = Path(rec.tmpdir)
        out.append(
            Leftover(rec, rec.namespaces(), rec.tuning_files(), tmp if tmp.is_dir() else None)
        )
    return out


def remove(left: Leftover, runs_dir: Path | None = None) -> None:
    """Remove one dead run's namespaces, tuning files, temp folder and record (re-checks life)."""
    if left.record.alive():
        return
    for name in reversed(left.namespaces):
        with suppress(OSError):
            netns.remove(name)
    for f in left.tuning_files:
        f.unlink(missing_ok=True)
    if left.tmpdir and left.tmpdir.name.startswith(f"macmatrix-{left.record.run_id}-"):
        shutil.rmtree(left.tmpdir, ignore_errors=True)
    unregister(left.record, runs_dir)


def dead_probes() -> list[str]:
    """Capability-probe namespaces whose process is gone: the probe removes its namespace at
    once, so one left behind was killed mid-probe (its PID is in the name, no record needed)."""
    out = []
    for name in netns.listnetns():
        m = _PROBE.match(name)
        if m and process_start(int(m.group(1))) is None:
            out.append(name)
    return sorted(out)


def remove_probe(name: str) -> None:
    """Remove a dead probe's namespace (re-checks that its process is still gone)."""
    m = _PROBE.match(name)
    if m and process_start(int(m.group(1))) is None:
        with suppress(OSError):
            netns.remove(name)


def unrecorded_namespaces(runs_dir: Path | None = None) -> list[str]:
    """`mm-` namespaces no record claims (an older macmatrix, or a record removed by hand);
    dead probes are listed by dead_probes() instead."""
    prefixes = [r.prefix for r in records(runs_dir)]
    probes = set(dead_probes())
    return sorted(
        n
        for n in netns.listnetns()
        if n.startswith(NS_PREFIX)
        and n not in probes
        and not any(n.startswith(p) for p in prefixes)
    )
