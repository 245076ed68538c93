"""Run a command as an unprivileged user (uid/gid 65534, `nobody`), from a test running as root.

CI runs as root, so the rootless tests make the unprivileged user themselves: `setpriv` (util-linux)
drops every privilege and capability. That user must still be able to run this interpreter and
import this checkout: where a folder on their paths is closed to others (pyenv under a 0700
/root), the command runs in a private mount namespace where a world-readable tmpfs covers the
closed folder and the needed subfolders are bind-mounted back — nothing else is exposed, and
nothing changes outside that process tree.

`user_namespaces_off=True` runs it one level down, in a user namespace made here (as root, so it
maps both root and 65534) whose `user.max_user_namespaces` is set to 0 there: the kernel then
really refuses the unprivileged user a namespace, without touching the host's setting.
"""

from __future__ import annotations

import os
import shlex
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

UID = GID = 65534
REPO = Path(__file__).resolve().parents[1]


def _needed_paths() -> list[Path]:
    paths = {Path(sys.base_prefix), Path(sys.prefix), REPO, Path(sys.executable).parent}
    paths.update(Path(p) for p in site.getsitepackages())
    return sorted(p.resolve() for p in paths if p.exists())


def _masks() -> dict[Path, set[Path]] | str:
    """{closed folder: its subfolders to bind back}, or why the user cannot be given access."""
    masks: dict[Path, set[Path]] = {}
    for path in _needed_paths():
        chain = [*reversed(path.parents), path]
        for i, folder in enumerate(chain):
            if folder.stat().st_mode & 0o005 == 0o005:
                continue
            if i + 1 >= len(chain):
                return f"{folder} is not readable by other users"
            child = chain[i + 1]
            if any(p.stat().st_mode & 0o005 != 0o005 for p in chain[i + 1 :]):
                return f"{path} has more than one folder closed to other users"
            masks.setdefault(folder, set()).add(child)
            break
    return masks


def why_not() -> str | None:
    """Why these tests cannot make an unprivileged user here, or None."""
    if os.geteuid() != 0:
        return "creating an unprivileged user needs root (CI runs as root)"
    for tool in ("setpriv", "unshare", "mount"):
        if not shutil.which(tool):
            return f"{tool} (util-linux) is not installed"
    masks = _masks()
    return masks if isinstance(masks, str) else None


@contextmanager
def home() -> Iterator[Path]:
    """A home/TMPDIR folder in /tmp that the unprivileged user owns; removed afterwards."""
    h = Path(tempfile.mkdtemp(prefix="macmatrix-unpriv-"))
    try:
        (h / "tmp").mkdir()
        for p in (h, h / "tmp"):
            os.chown(p, UID, GID)
        yield h
    finally:
        shutil.rmtree(h, ignore_errors=True)


def _script(argv: Sequence[str], home_dir: Path, off: bool) -> str:
    masks = _masks()
    assert isinstance(masks, dict), masks
    lines = ["set -eu"]
    if off:
        lines.append("echo 0 > /proc/sys/user/max_user_namespaces")
    lines.append("stash=$(mktemp -d)")
    n = 0
    for folder, children in sorted(masks.items()):
        binds = []
        for child in sorted(children):
            n += 1
            lines.append(
                f'mkdir "$stash/{n}" && mount --bind {shlex.quote(str(child))} "$stash/{n}"'
            )
            binds.append((n, child))
        lines.append(f"mount -t tmpfs -o mode=755 macmatrix-test {shlex.quote(str(folder))}")
        for i, child in binds:
            q = shlex.quote(str(child))
            lines.append(f'mkdir -p {q} && mount --bind "$stash/{i}" {q} && umount "$stash/{i}"')
    lines.append('rm -r "$stash"')
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home_dir),
        "TMPDIR": str(home_dir / "tmp"),
        "USER": "nobody",
        "LOGNAME": "nobody",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    cmd = [
        "setpriv",
        f"--reuid={UID}",
        f"--regid={GID}",
        "--clear-groups",
        "--inh-caps=-all",
        "env",
        "-i",
        *(f"{k}={v}" for k, v in env.items()),
        *argv,
    ]
    lines.append("exec " + shlex.join(cmd))
    return "\n".join(lines)


def run(
    argv: Sequence[str],
    home_dir: Path,
    *,
    cwd: Path = REPO,
    timeout: float = 300,
    user_namespaces_off: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`argv` as uid 65534 (python: pass sys.executable); output captured as text."""
    script = _script(argv, home_dir, user_namespaces_off)
    if not user_namespaces_off:
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    # Root writes the maps of the new user namespace (0 and 65534 to themselves), then lets it go.
    proc = subprocess.Popen(
        [
            "unshare",
            "--user",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            # exec again once mapped: the first exec ran unmapped, so without capabilities
            "read go; exec sh -c " + shlex.quote(script),
        ],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_unshared(proc.pid)
        for kind, ident in (("uid", UID), ("gid", GID)):
            Path(f"/proc/{proc.pid}/{kind}_map").write_text(f"0 0 1\n{ident} {ident} 1\n")
        out, err = proc.communicate("go\n", timeout=timeout)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@retry(
    retry=retry_if_result(lambda same: same),
    stop=stop_after_delay(10),
    wait=wait_fixed(0.02),
    retry_error_callback=lambda state: pytest_fail("unshare made no user namespace in 10 s"),
)
def _wait_unshared(pid: int) -> bool:
    """Until `pid` runs in a user namespace other than ours (unshare(1) has done its work)."""
    return os.readlink(f"/proc/{pid}/ns/user") == os.readlink("/proc/self/ns/user")


def pytest_fail(msg: str) -> bool:
    import pytest

    pytest.fail(msg)
