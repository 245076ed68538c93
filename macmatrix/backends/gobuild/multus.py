"""Multus (thin plugin, `cmd/multus`) at a stack's pinned version, built from its Go module.

`go install gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus@vX` needs the module's
version list for its deprecation check, which this machine's module proxy refuses (403); a
generated one-line module that requires the pinned version builds the same binary with
`go build`. Binary: `<cache>/multus/<version>/bin/multus`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from macmatrix.backends.gobuild import toolchain
from macmatrix.errors import InfraError

MODULE = "gopkg.in/k8snetworkplumbingwg/multus-cni.v4"
PACKAGE = f"{MODULE}/cmd/multus"
MARKER = "build.json"


def version_dir(version: str, cache: Path | None = None) -> Path:
    return (cache or toolchain.cache_root()) / "multus" / version


def binary(version: str, cache: Path | None = None) -> Path:
    return version_dir(version, cache) / "bin" / "multus"


def cached(version: str, cache: Path | None = None) -> bool:
    return (version_dir(version, cache) / MARKER).is_file() and binary(version, cache).is_file()


def ensure(
    version: str, cache: Path | None = None, say: toolchain.Say = toolchain.say_stderr
) -> Path:
    """The thin multus binary of `version`, building it when not cached (~100 CPU-seconds)."""
    cache = cache or toolchain.cache_root()
    if cached(version, cache):
        return binary(version, cache)
    go = toolchain.find_go()
    if not go:
        raise InfraError(f"multus {version}: no Go toolchain to build {PACKAGE}@{version}")
    vdir = version_dir(version, cache)
    with toolchain.build_lock(vdir.parent / f"{vdir.name}.lock", f"multus {version}", say):
        if cached(version, cache):
            return binary(version, cache)
        src = vdir / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "go.mod").write_text(
            f"module macmatrix.local/multus\n\ngo 1.24\n\nrequire {MODULE} {version}\n"
        )
        env = toolchain.go_env(cache)
        say(f"building multus {version} ({PACKAGE}) into {vdir}")
        start = time.monotonic()
        toolchain.run_go([go, "get", f"{PACKAGE}@{version}"], env, "resolve multus", 600, say, src)
        part = vdir / f"multus.part-{os.getpid()}"
        toolchain.run_go(
            [go, "build", "-v", "-trimpath", "-o", str(part), PACKAGE],
            env,
            f"go build multus {version}",
            60 * 60,
            say,
            src,
        )
        binary(version, cache).parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, binary(version, cache))
        took = time.monotonic() - start
        (vdir / MARKER).write_text(json.dumps({"multus": version, "seconds": round(took, 1)}))
        say(f"built multus {version} in {took:.0f}s")
        shutil.rmtree(vdir / "tmp", ignore_errors=True)
        return binary(version, cache)
