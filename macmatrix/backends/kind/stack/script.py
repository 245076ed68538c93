"""Run an install script with a real deadline: own process group, non-blocking reads, kill.

install.sh (kubeovn/kube-ovn dist/images/install.sh, all pinned tags) runs `kubectl rollout
status` and `kubectl wait` for minutes and may hang on a pull or a stuck rollout. Reading its
stdout to EOF before waiting (what the installer did) lets a hung child block forever, so here
a reader thread feeds a queue, the caller's loop stops at the deadline, and the whole process
group (the script and every kubectl it started) is killed. The script announces its phases as
`[Step N/6] <what>` (echo lines in install.sh at v1.13.15, v1.14.41, v1.15.24 and v1.16.2), so
the last such line says where it hung.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# `echo "[Step 3/6] Install Kube-OVN"` in install.sh at every pinned tag
STEP = re.compile(r"^\[Step \d+/\d+\][^\r\n]*")
# after the script exits, how long a child that still holds its stdout may keep it open
DRAIN_S = 2.0
# between SIGTERM and SIGKILL of the group
TERM_GRACE_S = 3.0


@dataclass
class ScriptResult:
    """How the script ended: exit code (None when killed), last output line, last step line."""

    returncode: int | None
    last: str
    step: str
    timed_out: bool


def step_of(line: str) -> str | None:
    """`[Step 3/6] Install Kube-OVN` when the line announces a step, else None."""
    m = STEP.match(line.strip())
    return m.group(0).strip() if m else None


def kill_group(proc: subprocess.Popen[str], grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM the process group of `proc` (its own session), SIGKILL what is left after
    `grace_s`, and reap `proc`."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            # the leader is gone; kill stragglers of the group too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    deadline_s: float,
    on_line: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] = time.monotonic,
) -> ScriptResult:
    """Run `argv` in its own session, write its output to `log_path`, call `on_line` per line,
    and kill its process group at `deadline_s` (also on Ctrl-C or any error here)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines: queue.Queue[str | None] = queue.Queue()
    last, step = "", ""
    deadline = clock() + deadline_s
    with log_path.open("w") as logf:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        out = proc.stdout
        assert out is not None

        def reader() -> None:
            try:
                for line in out:
                    lines.put(line)
            finally:
                lines.put(None)

        threading.Thread(target=reader, name="install-output", daemon=True).start()
        timed_out = False
        exited_at: float | None = None
        try:
            while True:
                now = clock()
                if now >= deadline:
                    timed_out = proc.poll() is None
                    break
                if exited_at is not None and now - exited_at >= DRAIN_S:
                    break  # the script is gone; a child still holds its stdout
                try:
                    item = lines.get(timeout=max(0.01, min(0.5, deadline - now)))
                except queue.Empty:
                    if exited_at is None and proc.poll() is not None:
                        exited_at = clock()
                    continue
                if item is None:
                    break
                logf.write(item)
                text = item.strip()
                if text:
                    last = text
                found = step_of(text)
                if found:
                    step = found
                on_line(text)
        finally:
            if timed_out or proc.poll() is None or exited_at is not None:
                kill_group(proc)
            else:
                # exited normally: no member of its group may outlive it
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=TERM_GRACE_S)
    return ScriptResult(None if timed_out else proc.returncode, last[:300], step, timed_out)
