"""Rootless netns: a non-root process becomes root over namespaces of its own, never the host's.

Linux lets an unprivileged process create a user namespace (user_namespaces(7)) and, owned by it,
a network and a mount namespace. Inside, uid 0 maps to the caller and holds CAP_NET_ADMIN and
CAP_SYS_ADMIN over those namespaces only: veths, macvlans and further network namespaces work,
the host's interfaces stay out of reach. What `unshare --user --map-root-user --net --mount` does,
done in-process (ctypes unshare(2) + uid/gid maps) so `run`, `repro` and the pytest plugin carry on
in the same process with the same code path as a root run.

Two things need the private mount namespace. The netns backend pins namespaces by bind-mounting
/proc/<tid>/ns/net onto /run/netns/<name> (what `ip netns add` and pyroute2 do), and the tuning
plugin keeps its backups in /run/cni/tuning (containernetworking/plugins v1.1.1,
plugins/meta/tuning/tuning.go, `defaultDataDir`). The host's /run belongs to the real root, so a
folder of the user's own (under $TMPDIR) is bind-mounted over /run, with a symlink for every entry
of the host's /run except netns, cni and macmatrix (run records, runs.py) - rootlesskit's
"copy-up" - so e.g. /run/docker.sock still resolves. Only this process and its children see
that; the folder is removed when the process exits, and the namespaces die with the process.

Where unprivileged user namespaces are off, `why_unavailable()` names the knob and how to turn it
on: Debian/Ubuntu's `kernel.unprivileged_userns_clone`, `user.max_user_namespaces` (0 disables),
Ubuntu 23.10+'s AppArmor `kernel.apparmor_restrict_unprivileged_userns`, or a container's seccomp.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from macmatrix.errors import InfraError

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

RUN = Path("/run")
# What the backend and the plugins write under /run: namespace pins, tuning's backups, run records
PRIVATE_RUN_ENTRIES = ("netns", "cni", "macmatrix")
ENV_MARK = "MACMATRIX_ROOTLESS"  # set once this process runs inside its own user namespace

SYSCTLS = {
    "unprivileged_userns_clone": "/proc/sys/kernel/unprivileged_userns_clone",
    "max_user_namespaces": "/proc/sys/user/max_user_namespaces",
    "apparmor": "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
}


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def active() -> bool:
    """True when this process already runs in the user namespace rootless mode made."""
    return os.environ.get(ENV_MARK) == "1"


def mode() -> str:
    """'root' (real root), 'rootless' (inside our own user namespace) or 'user' (neither yet)."""
    if active():
        return "rootless"
    return "root" if os.geteuid() == 0 else "user"


def why_unavailable(read: Callable[[str], str | None] = _read, error: str = "") -> str:
    """One line: which setting turns unprivileged user namespaces off here, and how to turn it on.

    `error` is what the attempt itself said (errno text), used when no setting explains it.
    """
    if read(SYSCTLS["unprivileged_userns_clone"]) == "0":
        return (
            "unprivileged user namespaces are off (kernel.unprivileged_userns_clone = 0); "
            "enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`, or run as root"
        )
    if read(SYSCTLS["max_user_namespaces"]) == "0":
        return (
            "user namespaces are off (user.max_user_namespaces = 0); enable them with "
            "`sudo sysctl -w user.max_user_namespaces=15000`, or run as root"
        )
    if read(SYSCTLS["apparmor"]) == "1":
        return (
            "AppArmor restricts unprivileged user namespaces "
            "(kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10+); allow them with "
            "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor "
            "profile granting `userns,` to python3), or run as root"
        )
    said = f" ({error})" if error else ""
    return (
        f"cannot create an unprivileged user namespace{said}; inside a container allow it "
        "(e.g. docker run --security-opt seccomp=unconfined --security-opt apparmor=unconfined), "
        "or run as root"
    )


def _threads() -> int:
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 1


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _private_run(libc: ctypes.CDLL) -> Path:
    """Bind a folder of the user's own over /run; symlink the host's other /run entries back."""
    own = Path(tempfile.mkdtemp(prefix="macmatrix-rootless-"))
    host = own / ".host-run"
    host.mkdir()
    _check(libc.mount(str(RUN).encode(), str(host).encode(), None, MS_BIND | MS_REC, None), "bind")
    for entry in sorted(os.listdir(host)):
        if entry not in PRIVATE_RUN_ENTRIES:
            (own / entry).symlink_to(host / entry)
    for entry in PRIVATE_RUN_ENTRIES:
        (own / entry).mkdir()
    _check(libc.mount(str(own).encode(), str(RUN).encode(), None, MS_BIND, None), "bind /run")
    return own


def enter() -> None:
    """Move this (single-threaded) process into a user + network + mount namespace of its own.

    Raises InfraError with one line naming what blocks it and how to enable it.
    """
    if active() or os.geteuid() == 0:
        return
    if _threads() > 1:
        raise InfraError(
            "rootless netns: this process already runs threads, so it cannot enter a user "
            "namespace (unshare(2) refuses); start macmatrix afresh, or run as root"
        )
    uid, gid = os.getuid(), os.getgid()
    libc = _libc()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise InfraError("rootless netns: " + why_unavailable(error=os.strerror(err)))
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
        # Mounts made here must never propagate back (none could, but say it plainly).
        _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        own = _private_run(libc)
    except OSError as e:
        # AppArmor's restriction lets unshare succeed and then denies what follows.
        raise InfraError("rootless netns: " + why_unavailable(error=str(e))) from e
    os.environ[ENV_MARK] = "1"
    atexit.register(_remove_private_run, own)


def _remove_private_run(own: Path) -> None:
    """Detach the host's /run from our folder first: rmtree must never walk into it."""
    host = own / ".host-run"
    libc = _libc()
    libc.umount2(str(RUN).encode(), MNT_DETACH)  # with the netns pins mounted under it
    libc.umount2(str(host).encode(), MNT_DETACH)
    if os.path.ismount(host):
        return  # leave the folder rather than risk the host's files
    shutil.rmtree(own, ignore_errors=True)


PROBE = (
    "import sys\n"
    "from macmatrix.backends.netns import rootless\n"
    "from macmatrix.errors import InfraError\n"
    "try:\n"
    "    rootless.enter()\n"
    "    from macmatrix.backends.netns.backend import create_netns\n"
    "    from pyroute2 import netns\n"
    "    create_netns('mm-rootless-probe')\n"
    "    netns.remove('mm-rootless-probe')\n"
    "except (InfraError, OSError) as e:\n"
    "    print(e)\n"
    "    sys.exit(3)\n"
)


def probe() -> str | None:
    """None when a rootless netns works here (tried in a child process), else why not."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=30, check=False
    )
    if proc.returncode == 0:
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[-1] if lines else f"probe exited {proc.returncode}"
