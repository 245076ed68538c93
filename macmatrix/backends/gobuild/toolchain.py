"""The Go toolchain: find it, give it a cache-local environment, run it with progress lines.

Module downloads (GOMODCACHE) and compiled packages (GOCACHE) are shared by every build under
`<cache>/go/`, so a second plugins release or a rebuild only compiles what changed. Builds hold
a file lock, so concurrent runs (pytest workers, several shells) build a version once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from macmatrix.errors import InfraError

FALLBACK_GO = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
PROGRESS_EVERY_S = 10.0

Say = Callable[[str], None]


def say_stderr(line: str) -> None:
    print(f"macmatrix: {line}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """The macmatrix cache (MACMATRIX_CACHE, else ~/.cache/macmatrix), shared with kind's."""
    from macmatrix.backends.kind.stack.download import cache_dir

    return cache_dir()


def find_go() -> str | None:
    """$MACMATRIX_GO, else `go` on PATH, else the usual install places; None when absent."""
    given = os.environ.get("MACMATRIX_GO")
    if given:
        return given if os.access(given, os.X_OK) else None
    found = shutil.which("go")
    if found:
        return found
    return next((p for p in FALLBACK_GO if os.access(p, os.X_OK)), None)


def go_version(go: str) -> str:
    """`go1.26.8`, from `go env GOVERSION`."""
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise InfraError(f"go toolchain at {go} does not answer `go env GOVERSION`: {e}") from e
    return out


def go_env(cache: Path, gobin: Path | None = None) -> dict[str, str]:
    """The environment of every build: caches under `cache`, static binaries, no VCS stamping.

    GOTOOLCHAIN=local: never fetch another toolchain behind the user's back; a module that
    needs a newer Go fails with Go's own message instead.
    """
    env = dict(os.environ)
    env.update(
        GOMODCACHE=str(cache / "go" / "mod"),
        GOCACHE=str(cache / "go" / "build"),
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOFLAGS="-buildvcs=false -modcacherw",
    )
    env.pop("GOBIN", None)
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


@contextmanager
def build_lock(path: Path, what: str, say: Say) -> Iterator[None]:
    """An exclusive flock on `path`; says once when another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another process building {what} ({path})")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_DOWNLOADING = re.compile(r"^go: downloading ")


def run_go(
    argv: Sequence[str],
    env: dict[str, str],
    what: str,
    timeout_s: float,
    say: Say = say_stderr,
    cwd: Path | None = None,
) -> float:
    """Run a go command (with -v) and report progress every PROGRESS_EVERY_S; seconds taken.

    Progress counts Go's own lines: `go: downloading MOD` per module fetched and one line per
    package compiled (-v). On failure or timeout: InfraError with Go's last lines.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the whole build's process group can be ended on timeout
    )
    counts = {"modules": 0, "packages": 0}
    tail: list[str] = []

    def kill() -> None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    last = start
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if _DOWNLOADING.match(line):
                counts["modules"] += 1
            elif line and not line.startswith("go: "):
                counts["packages"] += 1
            tail = (tail + [line])[-15:]
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                say(
                    f"{what}: {counts['modules']} modules downloaded, "
                    f"{counts['packages']} packages compiled, {now - start:.0f}s"
                )
        rc = proc.wait()
    except BaseException:
        kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
    took = time.monotonic() - start
    if took >= timeout_s and rc != 0:
        raise InfraError(f"{what}: no result after {timeout_s:.0f}s; stopped the build")
    if rc != 0:
        errors = [t for t in tail if t and not _DOWNLOADING.match(t)]
        raise InfraError(f"{what} failed (exit {rc}): " + " | ".join(errors[-6:]))
    return took


def sigterm_unwinds() -> None:
    """SIGTERM (CI timeouts, `kill`) unwinds like Ctrl-C, so run_go stops the whole go build."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def dir_size_mb(path: Path) -> float:
    """Disk used under `path`, in MB (for the build's own report and doctor)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total / 1e6
