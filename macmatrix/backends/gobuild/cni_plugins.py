"""Each stack's CNI plugins release, built with `go install <module>/plugins/...@<version>`.

The plugins are the official module github.com/containernetworking/plugins at the tag a stack
pins (clusters/stacks.toml `cni_plugins`), built once per version into
`<cache>/cni-plugins/<version>/bin` and reused. The about string is stamped the way the release
binaries are (upstream build_linux.sh sets pkg/utils/buildversion.BuildVersion with -ldflags -X;
a plain `go install` would print "version unknown"), and the module version itself is embedded
by Go in the binary's build info, which plugin_binaries reads back.

    python -m macmatrix.backends.gobuild.cni_plugins [--all | VERSION...] [--list]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from macmatrix.backends.gobuild import modlock, toolchain
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import BadInput, InfraError
from macmatrix.spec import plugins

MODULE = "github.com/containernetworking/plugins"
# What the matrix and `repro` run: every plugin of the registry (spec/plugins: macvlan, ipvlan,
# bridge, tuning), static and host-local IPAM. Paths as in the module at v1.1.1 .. v1.9.1
# (plugins/main, plugins/meta, plugins/ipam).
PACKAGES = (
    *(p.package for p in plugins.registry().values()),
    "ipam/static",
    "ipam/host-local",
)
BUILDVERSION_VAR = f"{MODULE}/pkg/utils/buildversion.BuildVersion"
BUILD_TIMEOUT_S = 30 * 60
MARKER = "build.json"
DEBIAN = "debian"
DEBIAN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins package
_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")


def binaries() -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in PACKAGES]


def check_version(version: str, field: str = "--plugins") -> str:
    if not _VERSION.match(version):
        raise BadInput(
            f"{field}: {version!r} is not a CNI plugins release; write a tag like v1.6.2 "
            f"or {DEBIAN!r} for Debian's /usr/lib/cni"
        )
    return version


def version_dir(version: str, cache: Path | None = None) -> Path:
    return (cache or toolchain.cache_root()) / "cni-plugins" / version


def bin_dir(version: str, cache: Path | None = None) -> Path:
    return version_dir(version, cache) / "bin"


def cached(version: str, cache: Path | None = None) -> bool:
    """Built before with every plugin we need (the marker is written last)."""
    vdir = version_dir(version, cache)
    try:
        marker = json.loads((vdir / MARKER).read_text())
    except (OSError, ValueError):
        return False
    have = set(marker.get("packages") or [])
    return set(PACKAGES) <= have and all((vdir / "bin" / b).is_file() for b in binaries())


def install_argv(go: str, version: str) -> list[str]:
    pkgs = [f"{MODULE}/plugins/{p}@{version}" for p in PACKAGES]
    return [go, "install", "-v", "-trimpath", f"-ldflags=-X={BUILDVERSION_VAR}={version}", *pkgs]


def ensure(
    version: str, cache: Path | None = None, say: toolchain.Say = toolchain.say_stderr
) -> Path:
    """The bin dir of `version`, building it first when it is not cached. InfraError without Go."""
    check_version(version)
    lock = modlock.lock_for(cache)
    cache = cache or toolchain.cache_root()
    if cached(version, cache):
        return bin_dir(version, cache)
    go = toolchain.find_go()
    if not go:
        raise InfraError(
            f"--plugins {version}: no Go toolchain (go not on PATH, /usr/local/go absent) to "
            f"build {MODULE}@{version}; install Go or use --plugins {DEBIAN}"
        )
    vdir = version_dir(version, cache)
    lockfile = vdir.parent / f"{vdir.name}.lock"
    with toolchain.build_lock(lockfile, f"CNI plugins {version}", say):
        if cached(version, cache):  # another process built it while we waited
            return bin_dir(version, cache)
        fresh = not vdir.exists()
        try:
            return _build(go, version, cache, vdir, lock, say)
        except BaseException:  # failed, timed out or interrupted: leave no empty folder, no lock
            toolchain.discard_failed(lockfile, vdir if fresh else None)
            raise


def _build(
    go: str, version: str, cache: Path, vdir: Path, lock: Lock | None, say: toolchain.Say
) -> Path:
    """go install the plugins of `version` into vdir/bin, pin its module zip in `lock`
    (clusters/stacks.lock), then write the marker (under the build lock)."""
    gover = toolchain.go_version(go)
    say(
        f"building CNI plugins {version} ({', '.join(binaries())}) with {gover}: "
        f"go install {MODULE}/plugins/...@{version} into {vdir}"
    )
    staging = vdir / f"bin.part-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        took = toolchain.run_go(
            install_argv(go, version),
            toolchain.go_env(cache, gobin=staging),
            f"go install plugins {version}",
            BUILD_TIMEOUT_S,
            say,
            cwd=vdir,  # outside any module: `go install pkg@version` ignores the cwd's go.mod
        )
        modlock.pin(MODULE, version, cache, lock, say)  # before the binaries count as built
        final = bin_dir(version, cache)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker = {
        "module": MODULE,
        "version": version,
        "packages": list(PACKAGES),
        "go": gover,
        "seconds": round(took, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    tmp = vdir / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2) + "\n")
    os.replace(tmp, vdir / MARKER)
    size = toolchain.dir_size_mb(final)
    say(f"built CNI plugins {version} in {took:.0f}s ({size:.0f} MB in {final})")
    return final


@dataclass(frozen=True)
class Choice:
    """Which plugins a netns run uses: the search path, the run's stack name, extra stack fields."""

    bin_dirs: list[str] | None  # None: the default search path (/opt/cni/bin, /usr/lib/cni)
    label: str
    notes: dict[str, str] = field(default_factory=dict)


def label_for(version: str) -> str:
    """The stack name of a run with built plugins: its report column and baseline file name."""
    return f"plugins-{version}"


def check_choice(
    plugins: str | None, stack_name: str | None, cni_bin_dirs: Sequence[str] | None
) -> None:
    """The netns plugin options, checked without effects (a --dry-run refuses what a run does).

    On netns a stack means nothing but its plugins release, so `--stack` with `--plugins` or
    `--cni-bin-dir` would name two sets of plugins for one run: refused, not silently resolved
    (results.json names either the stack or the plugins run, never a stack it did not run).
    """
    if plugins and cni_bin_dirs:
        raise BadInput("--plugins: use either --plugins or --cni-bin-dir, not both")
    if stack_name:
        from macmatrix.spec import stacks

        pinned = stacks.get(stack_name).cni_plugins  # unknown name: BadInput naming the known
        for flag, given in (("--plugins", plugins), ("--cni-bin-dir", cni_bin_dirs)):
            if given:
                raise BadInput(
                    f"{flag}: cannot be combined with --stack on netns ({stack_name} runs its "
                    f"plugins {pinned}); pass --stack {stack_name} alone, or {flag} without "
                    "--stack"
                )
    if plugins and plugins != DEBIAN:
        check_version(plugins)


def choose(
    plugins: str | None,
    stack_name: str | None,
    cni_bin_dirs: Sequence[str] | None,
    cache: Path | None = None,
    say: toolchain.Say = toolchain.say_stderr,
) -> Choice:
    """`--plugins VERSION|debian`, else the `--stack`'s cni_plugins, else the default path.

    Debian's plugins stay the default. A stack's version needs Go (or the cache): without a
    toolchain the run says so in one line and uses Debian's plugins; an explicit
    `--plugins VERSION` without one is an infrastructure failure (ensure()).
    """
    check_choice(plugins, stack_name, cni_bin_dirs)
    if plugins == DEBIAN:
        return Choice([DEBIAN_DIR], "netns", {"plugins_requested": DEBIAN})
    if plugins:
        version = check_version(plugins)
        return Choice([str(ensure(version, cache, say))], label_for(version))
    if stack_name:
        from macmatrix.spec import stacks

        version = stacks.get(stack_name).cni_plugins
        notes = {"plugins_for_stack": stack_name}
        if not cached(version, cache) and not toolchain.find_go():
            say(
                f"no Go toolchain to build {stack_name}'s CNI plugins {version}; running "
                f"Debian's plugins ({DEBIAN_DIR}) instead"
            )
            return Choice([DEBIAN_DIR], "netns", notes)
        return Choice([str(ensure(version, cache, say))], label_for(version), notes)
    return Choice(list(cni_bin_dirs) if cni_bin_dirs else None, "netns")


def stack_versions() -> list[str]:
    """Every distinct `cni_plugins` version of clusters/stacks.toml, oldest first."""
    from macmatrix import versions
    from macmatrix.spec import stacks

    found = {s.cni_plugins for s in stacks.load().values()}
    return sorted(found, key=lambda v: versions.parse(v) or (0, 0, 0))


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m macmatrix.backends.gobuild.cni_plugins", description=__doc__
    )
    p.add_argument("versions", nargs="*", metavar="VERSION", help="e.g. v1.6.2")
    p.add_argument("--all", action="store_true", help="every cni_plugins of clusters/stacks.toml")
    p.add_argument("--list", action="store_true", help="print the stacks' versions and exit")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    toolchain.sigterm_unwinds()
    try:
        if args.list:
            print(" ".join(stack_versions()))
            return 0
        wanted = stack_versions() if args.all else [check_version(v) for v in args.versions]
        if not wanted:
            raise BadInput("VERSION: name a plugins release (e.g. v1.6.2) or pass --all")
        start = time.monotonic()
        for v in wanted:
            print(ensure(v))
        cache = toolchain.cache_root()
        toolchain.say_stderr(
            f"CNI plugins {', '.join(wanted)} ready in {time.monotonic() - start:.0f}s; "
            f"go caches {toolchain.dir_size_mb(cache / 'go'):.0f} MB, "
            f"binaries {toolchain.dir_size_mb(cache / 'cni-plugins'):.0f} MB"
        )
    except BadInput as e:
        print(f"cni_plugins: {e}", file=sys.stderr)
        return 2
    except InfraError as e:
        print(f"cni_plugins: infrastructure failure: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
