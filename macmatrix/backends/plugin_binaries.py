"""What a set of CNI plugin binaries is, in the binaries' own words.

- The release: Go's build info embedded in every Go binary (`go version -m` shows it) names the
  main module and its version, e.g. `mod github.com/containernetworking/plugins v1.6.2 h1:...`,
  for binaries built with `go install module/...@version`. Else the about string a plugin prints
  without CNI_COMMAND ("CNI macvlan plugin v1.1.1"; skel + pkg/utils/buildversion), else the
  Debian package that owns /usr/lib/cni (Debian's build leaves the about string "version unknown").
- The CNI spec versions: `CNI_COMMAND=VERSION` prints {"cniVersion", "supportedVersions"}
  (CNI spec, "VERSION" command; skel.PluginMain).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROBE = "macvlan"  # the plugin every matrix case runs
_BUILDINFO = re.compile(
    rb"\nmod\tgithub\.com/containernetworking/plugins\t(v[^\t\n]+)\t(h1:[^\t\n]*)?"
)
_ABOUT = re.compile(rb"plugin v(\d+\.\d+\.\d+)")


def find(bin_dirs: Sequence[str], plugin: str = PROBE) -> Path | None:
    """The first `plugin` binary on the search path, as libcni's FindInPath picks it."""
    for d in bin_dirs:
        path = Path(d) / plugin
        if path.is_file():
            return path
    return None


def module_version(path: Path) -> tuple[str, str] | None:
    """(version, h1 sum) of the plugins module from Go's build info in the binary, or None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    m = _BUILDINFO.search(data)
    if not m:
        return None
    return m.group(1).decode(), (m.group(2) or b"").decode()


def about_version(path: Path) -> str | None:
    """`1.1.1` from the plugin's about string, or None ("version unknown")."""
    try:
        out = _ask(path, {}, b"")[1]
    except OSError:
        return None
    m = _ABOUT.search(out)
    return "v" + m.group(1).decode() if m else None


def debian_version(path: Path) -> str | None:
    """The version of the Debian package that owns `path` (`1.1.1+ds1-3+b5`), or None."""
    try:
        owner = subprocess.run(
            ["dpkg-query", "-S", str(path)], capture_output=True, text=True, timeout=5, check=True
        ).stdout.split(":", 1)[0]
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", owner],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def _ask(
    path: Path, env: dict[str, str], stdin: bytes, timeout: float = 5.0
) -> tuple[bytes, bytes]:
    """(stdout, stderr) of the plugin run with `env`; empty when it does not answer in time.

    Like every plugin call (cni.CNIRuntime), in a session of its own whose whole process group is
    killed on timeout: a hung plugin's children must not outlive the question.
    """
    proc = subprocess.Popen(
        [str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        return proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return b"", b""


def supported_versions(path: Path) -> list[str]:
    """The CNI spec versions the plugin accepts, from `CNI_COMMAND=VERSION` (empty if it fails)."""
    try:
        out = _ask(path, {"CNI_COMMAND": "VERSION"}, b"")[0]
        got = json.loads(out).get("supportedVersions")
    except (OSError, ValueError, AttributeError):
        return []
    return [str(v) for v in got] if isinstance(got, list) else []


def describe(bin_dirs: Sequence[str]) -> dict[str, Any]:
    """results.json's view of the plugins: `cni_plugins` (vX.Y.Z or "unknown") and its evidence."""
    path = find(bin_dirs)
    if path is None:
        return {"cni_plugins": "unknown", "cni_plugins_source": f"no {PROBE} in {list(bin_dirs)}"}
    out: dict[str, Any] = {"cni_supported_versions": supported_versions(path)}
    built = module_version(path)
    if built:
        version, h1 = built
        out["cni_plugins"] = version
        out["cni_plugins_source"] = f"go module github.com/containernetworking/plugins@{version}"
        if h1:
            out["cni_plugins_module_sum"] = h1
        return out
    about = about_version(path)
    deb = debian_version(path)
    if about:
        out["cni_plugins"] = about
    elif deb and re.match(r"(?:\d+:)?\d+\.\d+\.\d+", deb):
        out["cni_plugins"] = "v" + re.sub(r"^\d+:", "", deb).split("+")[0].split("-")[0]
    else:
        out["cni_plugins"] = "unknown"
    out["cni_plugins_source"] = (
        f"debian package containernetworking-plugins {deb}" if deb else f"binaries in {path.parent}"
    )
    return out
