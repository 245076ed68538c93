"""Multus (thin plugin, `cmd/multus`) at a stack's pinned version, built from its Go module.

`go install gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus@vX` needs the module's
version list for its deprecation check, which this machine's module proxy refuses (403); a
generated module that requires the pinned version builds the same binary with `go build`.
Binary: `<cache>/multus/<version>/bin/multus`.

Two things the generated module must carry, because Go reads them only from the main module:

- Multus' own `replace` directives. v4.1.3's go.mod requires `k8s.io/client-go v1.5.2` (a 2016
  tag without `discovery`, `util/flowcontrol`, ...) and replaces it, and every other k8s.io
  module, with v0.29.0; a module that only requires Multus ignores those replaces and fails with
  "cannot find module providing package k8s.io/client-go/discovery". They are read at build
  time from the Multus go.mod that `go mod download` verified (`go mod edit -json`), so the
  build list is the one upstream builds with (multus-cni go.mod at v4.1.3; none at v4.2.x).
- go.sum lines for a version the checksum database proxy does not answer (GO_SUMS). The go
  command checks a module against go.sum before it asks sum.golang.org, and refuses a download
  whose hash differs ("SECURITY ERROR"), so a pinned line keeps the check: nothing is exempted
  with GONOSUMDB/GOFLAGS=-insecure.

    python -m macmatrix.backends.gobuild.multus VERSION... | --stack NAME... | --newest | --all

prints each binary's path (building what is not cached); exit 2 on a bad version or stack name,
3 when the build fails (no Go toolchain, the proxy refuses a module).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from macmatrix.backends.gobuild import modlock, toolchain
from macmatrix.errors import BadInput, InfraError

MODULE = "gopkg.in/k8snetworkplumbingwg/multus-cni.v4"
PACKAGE = f"{MODULE}/cmd/multus"
MARKER = "build.json"
_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")  # a release tag; also what reaches `go get`


def check_version(version: str, field: str = "VERSION") -> str:
    if not _VERSION.match(version):
        raise BadInput(
            f"{field}: {version!r} is not a Multus release; write a tag like v4.2.4 "
            "(clusters/stacks.toml `multus`)"
        )
    return version


# go.sum lines for Multus versions whose checksum-database lookup this machine's module proxy
# answers with 404 (`.../sumdb/sum.golang.org/lookup/gopkg.in/k8snetworkplumbingwg/
# multus-cni.v4@v4.2.1`, empty body, 2026-11-30) while it serves the module itself. Taken from
# public go.sum files that the go command wrote after checking sum.golang.org, two agreeing
# sources: rh-ecosystem-edge/eco-goinfra go.sum at 5637213ebbbb92234f7e934d91a1187ffff78d81 and
# openshift-kni/eco-gotests go.sum at 933d46ed76e9d75e6bd2755acfeffd1dedefcdf9.
GO_SUMS: dict[str, tuple[str, str]] = {
    "v4.2.1": (
        "h1:aO8KrO7hSay2mEBwKnDZHSNWGE1Nr15f5AVO6FJDngM=",  # the module zip
        "h1:IPE00mREyPTa4XtNSuDY21CWqw8qM+jcycD3EObzhFY=",  # its go.mod
    ),
}


def version_dir(version: str, cache: Path | None = None) -> Path:
    return (cache or toolchain.cache_root()) / "multus" / version


def binary(version: str, cache: Path | None = None) -> Path:
    return version_dir(version, cache) / "bin" / "multus"


def cached(version: str, cache: Path | None = None) -> bool:
    return (version_dir(version, cache) / MARKER).is_file() and binary(version, cache).is_file()


def generated_go_mod(version: str) -> str:
    """The generated module before Multus' replaces are added: it requires Multus alone."""
    return f"module macmatrix.local/multus\n\ngo 1.24\n\nrequire {MODULE} {version}\n"


def go_sum_seed(version: str) -> str:
    """The go.sum the build starts with: the pinned lines of GO_SUMS, else empty."""
    pinned = GO_SUMS.get(version)
    if not pinned:
        return ""
    return f"{MODULE} {version} {pinned[0]}\n{MODULE} {version}/go.mod {pinned[1]}\n"


def replace_args(go_mod: dict[str, Any], version: str) -> list[str]:
    """`go mod edit` arguments that mirror the `Replace` list of `go mod edit -json` output.

    Only module replacements can be mirrored; a directory replacement (no version) would point
    into Multus' own tree, so it is refused with the path named.
    """
    args = []
    for r in go_mod.get("Replace") or []:
        old, new = r["Old"], r["New"]
        if not new.get("Version"):
            raise InfraError(
                f"multus {version}: its go.mod replaces {old['Path']} with the directory "
                f"{new['Path']}; only module replacements can be mirrored"
            )
        left = old["Path"] + (f"@{old['Version']}" if old.get("Version") else "")
        args.append(f"-replace={left}={new['Path']}@{new['Version']}")
    return args


def _go_json(go: str, argv: list[str], env: dict[str, str], cwd: Path, what: str) -> Any:
    try:
        out = subprocess.run(
            [go, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise InfraError(f"{what}: {e}") from e
    try:
        doc = json.loads(out.stdout or "{}")
    except ValueError:
        doc = {}
    error = doc.get("Error") if isinstance(doc, dict) else None
    if out.returncode != 0 or error:
        # `go mod download -json` says why in its JSON (e.g. "checksum mismatch ... SECURITY
        # ERROR"), other commands on stderr
        lines = [t.strip() for t in (error or out.stderr).splitlines() if t.strip()]
        raise InfraError(f"{what} failed (exit {out.returncode}): {' | '.join(lines)[:600]}")
    return doc


def download(version: str, cache: Path | None = None) -> dict[str, Any]:
    """`go mod download -json` of the Multus module at `version` (GoMod, Dir, Sum), checked
    against the GO_SUMS line where one is pinned, else against sum.golang.org as usual.

    Runs in a small module of its own (`<cache>/multus/<version>/verify`) whose go.sum holds
    the pinned lines, because outside a module the go command has no go.sum to check against.
    """
    lock = modlock.lock_for(cache)
    cache = cache or toolchain.cache_root()
    go = toolchain.find_go()
    if not go:
        raise InfraError(f"multus {version}: no Go toolchain to download {MODULE}@{version}")
    d = version_dir(version, cache) / "verify"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("go.mod", "module macmatrix.local/verify\n\ngo 1.24\n"),
        ("go.sum", go_sum_seed(version)),
    ):
        if not (d / name).is_file() or (d / name).read_text() != text:
            (d / name).write_text(text)
    what = f"go mod download {MODULE}@{version}"
    doc = _go_json(
        go, ["mod", "download", "-json", f"{MODULE}@{version}"], toolchain.go_env(cache), d, what
    )
    modlock.pin(MODULE, version, cache, lock)
    return dict(doc)


def mirror_replaces(
    go: str, version: str, env: dict[str, str], src: Path, cache: Path, say: toolchain.Say
) -> list[str]:
    """Copy the Multus go.mod's replace directives into the generated go.mod in `src`."""
    what = f"read multus {version}'s go.mod"
    upstream = _go_json(
        go, ["mod", "edit", "-json", str(download(version, cache)["GoMod"])], env, src, what
    )
    args = replace_args(upstream, version)
    if args:
        toolchain.run_go([go, "mod", "edit", *args], env, what, 60, say, src)
    return args


def ensure(
    version: str, cache: Path | None = None, say: toolchain.Say = toolchain.say_stderr
) -> Path:
    """The thin multus binary of `version`, building it when not cached (~100 CPU-seconds)."""
    lock = modlock.lock_for(cache)
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
        (src / "go.mod").write_text(generated_go_mod(version))
        (src / "go.sum").write_text(go_sum_seed(version))
        env = toolchain.go_env(cache)
        say(f"building multus {version} ({PACKAGE}) into {vdir}")
        start = time.monotonic()
        replaced = mirror_replaces(go, version, env, src, cache, say)
        if replaced:
            say(f"multus {version}: its go.mod's {len(replaced)} replace directives mirrored")
        toolchain.run_go([go, "get", f"{PACKAGE}@{version}"], env, "resolve multus", 600, say, src)
        modlock.pin(MODULE, version, cache, lock, say)
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
        (vdir / MARKER).write_text(
            json.dumps({"multus": version, "seconds": round(took, 1), "replaces": len(replaced)})
        )
        say(f"built multus {version} in {took:.0f}s")
        shutil.rmtree(vdir / "tmp", ignore_errors=True)
        return binary(version, cache)


def wanted(
    versions: Sequence[str], stack_names: Sequence[str], newest: bool, every: bool = False
) -> list[str]:
    """The Multus releases the command line names, each once, in the order given: VERSIONs, then
    each --stack's pin, then the newest stack's, then every stack's, oldest stack first
    (clusters/stacks.toml `multus`)."""
    from macmatrix.spec import stacks

    found = [check_version(v) for v in versions]
    found += [stacks.get(name).multus for name in stack_names]
    if newest:
        found.append(stacks.get(stacks.newest()).multus)
    if every:
        found += [stacks.get(name).multus for name in stacks.stack_names()]
    if not found:
        raise BadInput(
            "VERSION: name a Multus release (e.g. v4.2.4), --stack NAME, --newest or --all"
        )
    return list(dict.fromkeys(found))


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m macmatrix.backends.gobuild.multus", description=__doc__
    )
    p.add_argument("versions", nargs="*", metavar="VERSION", help="e.g. v4.2.4")
    p.add_argument(
        "--stack",
        action="append",
        default=[],
        metavar="NAME",
        help="the Multus a stack of clusters/stacks.toml pins (repeatable)",
    )
    p.add_argument("--newest", action="store_true", help="the newest stack's Multus")
    p.add_argument("--all", action="store_true", help="every stack's Multus (each once)")
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    try:
        todo = wanted(args.versions, args.stack, args.newest, args.all)
        toolchain.sigterm_unwinds()  # only once there is a build to stop
        for version in todo:
            print(ensure(version))
    except BadInput as e:
        print(f"multus: {e}", file=sys.stderr)
        return 2
    except InfraError as e:
        print(f"multus: infrastructure failure: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
