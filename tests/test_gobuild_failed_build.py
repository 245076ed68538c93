"""A failed or interrupted plugins build leaves nothing behind: not the version's empty cache
folder, not its lock file, and nothing of any other version; and a process that waited on the
lock of a failed build locks the file that is there now (toolchain.build_lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from macmatrix.backends.gobuild import cni_plugins, toolchain
from macmatrix.errors import InfraError

REPO = Path(__file__).resolve().parents[1]
NO_SUCH = "v9.9.9"  # no such containernetworking/plugins release: the Go proxy refuses it fast


def other_version(cache: Path) -> Path:
    """A built-looking neighbour that must survive the failed build untouched."""
    keep = cni_plugins.version_dir("v1.6.2", cache) / "bin"
    keep.mkdir(parents=True)
    (keep / "macvlan").write_text("not ours to remove")
    return keep


def left_behind(cache: Path, version: str) -> list[str]:
    vdir = cni_plugins.version_dir(version, cache)
    return [str(p) for p in (vdir, vdir.parent / f"{vdir.name}.lock") if p.exists()]


@pytest.mark.parametrize("failure", [InfraError("go install failed (exit 1)"), KeyboardInterrupt()])
def test_a_failed_build_removes_its_folder_and_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    """go stood in by a function that fails as go does (the real go below)."""

    def failing_go(*args: object, **kwargs: object) -> float:
        raise failure

    monkeypatch.setattr(toolchain, "find_go", lambda: "/usr/bin/false")
    monkeypatch.setattr(toolchain, "go_version", lambda go: "go0.0")
    monkeypatch.setattr(toolchain, "run_go", failing_go)
    keep = other_version(tmp_path)
    with pytest.raises(type(failure)):
        cni_plugins.ensure("v1.9.1", cache=tmp_path, say=lambda line: None)
    assert left_behind(tmp_path, "v1.9.1") == []
    assert (keep / "macvlan").read_text() == "not ours to remove"


def test_a_folder_that_was_there_before_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what the failed build created goes: an older folder of that version stays."""

    def failing_go(*args: object, **kwargs: object) -> float:
        raise InfraError("go install failed (exit 1)")

    monkeypatch.setattr(toolchain, "find_go", lambda: "/usr/bin/false")
    monkeypatch.setattr(toolchain, "go_version", lambda go: "go0.0")
    monkeypatch.setattr(toolchain, "run_go", failing_go)
    older = cni_plugins.version_dir("v1.9.1", tmp_path) / "notes.txt"
    older.parent.mkdir(parents=True)
    older.write_text("the user's")
    with pytest.raises(InfraError):
        cni_plugins.ensure("v1.9.1", cache=tmp_path, say=lambda line: None)
    assert older.read_text() == "the user's"
    assert not (older.parent.parent / "v1.9.1.lock").exists()


def test_the_real_go_refusing_a_release_leaves_nothing(tmp_path: Path) -> None:
    """`macmatrix run --plugins v9.9.9`: the Go module proxy has no such version (exit 3)."""
    if not toolchain.find_go():
        pytest.skip("no Go toolchain on this machine")
    keep = other_version(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "macmatrix.cli", "run", "--backend", "netns", "--plugins", NO_SUCH],
        cwd=REPO,
        env={**os.environ, "MACMATRIX_CACHE": str(tmp_path), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 3, proc.stderr
    assert f"go install plugins {NO_SUCH} failed" in proc.stderr
    assert left_behind(tmp_path, NO_SUCH) == []
    assert (keep / "macvlan").read_text() == "not ours to remove"


def test_a_waiter_on_a_discarded_lock_locks_the_new_file(tmp_path: Path) -> None:
    """Holder A fails and removes the lock file; B, which waited on it, must not go on holding
    a lock on the removed file (C would then lock the new file and build beside B): B locks
    the file now at the path, so C's try on it is refused while B is inside."""
    import fcntl

    lock = tmp_path / "v1.lock"
    c_refused: list[bool] = []
    b_waits = threading.Event()

    def b() -> None:
        with (
            toolchain.build_lock(lock, "test", lambda line: b_waits.set()),
            open(lock, "a") as c,  # C, a third process, tries the file at the path
        ):
            try:
                fcntl.flock(c, fcntl.LOCK_EX | fcntl.LOCK_NB)
                c_refused.append(False)
            except BlockingIOError:
                c_refused.append(True)

    with toolchain.build_lock(lock, "test", lambda line: None):
        waiter = threading.Thread(target=b)
        waiter.start()
        assert b_waits.wait(30), "B never found the lock held"
        lock.unlink()  # what discard_failed does after a failed build

    waiter.join(30)
    assert not waiter.is_alive()
    assert c_refused == [True]
