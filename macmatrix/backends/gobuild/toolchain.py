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


def _executable(path: str) -> bool:
    return os.access(path, os.X_OK)


def find_go(
    which: Callable[[str], str | None] = shutil.which,
    executable: Callable[[str], bool] = _executable,
) -> str | None:
    """$MACMATRIX_GO, else `go` on PATH, else the usual install places; None when absent.

    The one way to find Go: the builds and `doctor` (which passes its probe's `which` and
    file test, so its tests can stand in for the machine)."""
    given = os.environ.get("MACMATRIX_GO")
    if given:
        return given if executable(given) else None
    found = which("go")
    if found:
        return found
    return next((p for p in FALLBACK_GO if executable(p)), None)


_GO_LINE = re.compile(r"^go\s+(\d+)\.(\d+)(?:\.(\d+))?\s*$", re.M)
_GO_VERSION = re.compile(r"^go(\d+)\.(\d+)(?:\.(\d+))?")


def go_directive(go_mod: str) -> tuple[int, int, int] | None:
    """The `go 1.24.2` line of a go.mod: the oldest Go that builds the module (with
    GOTOOLCHAIN=local a newer one is never fetched, go_env)."""
    found = _GO_LINE.search(go_mod)
    return tuple(int(x or 0) for x in found.groups()) if found else None  # type: ignore[return-value]


def parse_go_version(version: str) -> tuple[int, int, int] | None:
    """`go1.26.8` (go env GOVERSION) as (1, 26, 8); None for a devel build or garbage."""
    found = _GO_VERSION.match(version)
    return tuple(int(x or 0) for x in found.groups()) if found else None  # type: ignore[return-value]


def module_proxy(environ: dict[str, str] | None = None) -> str | None:
    """The first proxy URL the builds use (GOPROXY as go_env passes it: the environment, else
    the go env file, else Go's default); None when it is `off` or `direct` only."""
    environ = dict(os.environ) if environ is None else environ
    value = environ.get("GOPROXY") or user_go_env_file(environ).get("GOPROXY") or DEFAULT_PROXY
    for entry in re.split(r"[,|]", value):
        if entry.startswith(("https://", "http://")):
            return entry.rstrip("/")
        if entry in ("off", "direct"):
            return None
    return None


def cached_go_mod(cache: Path, module: str, version: str) -> Path:
    """Where Go keeps a downloaded module version's go.mod in the module cache (GOMODCACHE);
    module paths here are lower case, so Go's case escaping is not needed."""
    return cache / "go" / "mod" / "cache" / "download" / module / "@v" / f"{version}.mod"


def go_version(go: str) -> str:
    """`go1.26.8`, from `go env GOVERSION`."""
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise InfraError(f"go toolchain at {go} does not answer `go env GOVERSION`: {e}") from e
    return out


# Settings that switch off or narrow the checksum database's verification of downloads (go help
# module-auth, go help environment): dropped, whether set in the environment or by `go env -w`.
UNVERIFIED = ("GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GOINSECURE")
SUMDB = "sum.golang.org"  # the go command's default (GOROOT/go.env)
DEFAULT_PROXY = "https://proxy.golang.org,direct"  # the go command's default (GOROOT/go.env)
BUILD_GOFLAGS = "-buildvcs=false -modcacherw"
_said: set[str] = set()  # each dropped setting is said once per process, not once per build


def user_go_env_file(environ: dict[str, str] | None = None) -> dict[str, str]:
    """KEY=VALUE lines of the user's go env file (`go env -w`): $GOENV, else
    $XDG_CONFIG_HOME/go/env, else ~/.config/go/env (os.UserConfigDir, as the go command)."""
    environ = dict(os.environ) if environ is None else environ
    path = environ.get("GOENV") or ""
    if path == "off":
        return {}
    if not path:
        base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or "~") / ".config")
        path = str(Path(base).expanduser() / "go" / "env")
    try:
        text = Path(path).read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        key, eq, value = line.strip().partition("=")
        if eq and key and not key.startswith("#"):
            found[key] = value
    return found


def go_env(cache: Path, gobin: Path | None = None, say: Say = say_stderr) -> dict[str, str]:
    """The environment of every build: caches under `cache`, static binaries, no VCS stamping,
    and every download checked against the checksum database.

    GOTOOLCHAIN=local: never fetch another toolchain behind the user's back; a module that
    needs a newer Go fails with Go's own message instead. GOSUMDB is forced to sum.golang.org
    and GONOSUMDB, GONOSUMCHECK, GOPRIVATE, GOINSECURE are dropped, and GOFLAGS is ours (no
    `-insecure`, no `-mod=mod`): none can silently switch verification off. GOENV=off keeps the
    user's go env file (`go env -w`) from setting them again (an empty variable does not
    override it); its GOPROXY, a mirror, is kept, since downloads through it are still checked.
    Whatever is dropped is said in one progress line.
    """
    env = dict(os.environ)
    from_file = user_go_env_file(env)
    dropped = []
    for where, values in (("", env), (" (go env file)", from_file)):
        dropped += [
            f"{k}={values[k]}{where}"
            for k in UNVERIFIED
            if values.get(k) and not (k == "GOSUMDB" and values[k] == SUMDB)
        ]
        if not set(values.get("GOFLAGS", "").split()) <= set(BUILD_GOFLAGS.split()):
            dropped.append(f"GOFLAGS={values['GOFLAGS']}{where}")
    for k in UNVERIFIED:
        env.pop(k, None)
    if from_file.get("GOPROXY") and not env.get("GOPROXY"):
        env["GOPROXY"] = from_file["GOPROXY"]
    env.update(
        GOMODCACHE=str(cache / "go" / "mod"),
        GOCACHE=str(cache / "go" / "build"),
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOFLAGS=BUILD_GOFLAGS,
        GOSUMDB=SUMDB,
        GOENV="off",
    )
    env.pop("GOBIN", None)
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    line = ", ".join(dropped)
    if dropped and line not in _said:
        _said.add(line)
        say(
            f"ignoring {line}: Go downloads are always checked against {SUMDB} "
            f"(GOSUMDB={SUMDB}, GOFLAGS={BUILD_GOFLAGS})"
        )
    return env


@contextmanager
def build_lock(path: Path, what: str, say: Say) -> Iterator[None]:
    """An exclusive flock on `path`; says once when another process holds it.

    A failed build removes its lock file while holding it (discard_failed): whoever waited
    on that file then holds a lock on a removed file, so it opens `path` again and locks that
    one, and two builders never run at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        f = open(path, "a")  # noqa: SIM115 -- closed below, or on leaving
        try:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    say(f"waiting for another process building {what} ({path})")
                    waited = True
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                current = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                current = False
        except BaseException:
            f.close()
            raise
        if current:
            break
        f.close()  # the lock of a removed file: try the file now at `path`
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def discard_failed(lock: Path, created: Path | None) -> None:
    """After a failed or interrupted build, under its lock: remove the folder the build created
    (`created`; None when it existed before) and the lock file, so a failure leaves nothing."""
    if created is not None:
        shutil.rmtree(created, ignore_errors=True)
    with suppress(FileNotFoundError):
        lock.unlink()


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
