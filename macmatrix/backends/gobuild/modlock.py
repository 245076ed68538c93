"""The Go modules macmatrix builds from are pinned in clusters/stacks.lock too.

Each build starts from one module at a pinned version (the CNI plugins, Multus, k8s.io/kubernetes
and the etcd it requires; the Kube-OVN and NAD-client modules whose CRDs the apiserver tier
reads). The go command checks every zip against go.sum and the checksum database (h1: hashes);
the lock adds the project's own record, one reviewed line per pin, in the format every other
download uses (`{url: sha256}`, the URL the Go module proxy protocol gives the zip). So a pin's
bytes cannot change unseen between runs, also where a user's proxy or a missing sumdb record (as
for Multus v4.2.1 here) leaves go.sum as the only check.

The lock applies to the shared cache; a private cache (a test's, a one-off build) checks none,
so tests never write the repository's lock.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from macmatrix import data
from macmatrix.backends.gobuild import toolchain
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import InfraError

PROXY = "https://proxy.golang.org"


def escape(module: str) -> str:
    """The module proxy protocol's case encoding: an upper-case letter is `!` + its lower case."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in module)


def zip_url(module: str, version: str) -> str:
    """What the lock names a module zip by: its URL on the default proxy."""
    return f"{PROXY}/{escape(module)}/@v/{version}.zip"


def zip_path(cache: Path, module: str, version: str) -> Path:
    """Where the go command keeps that zip (GOMODCACHE of toolchain.go_env)."""
    return cache / "go" / "mod" / "cache" / "download" / escape(module) / "@v" / f"{version}.zip"


def h1(path: Path) -> str:
    """The go.sum hash of a module zip (golang.org/x/mod/sumdb/dirhash Hash1: sha256 of the
    sorted "<sha256 hex>  <name>" lines of its files)."""
    with zipfile.ZipFile(path) as zf:
        lines = "".join(
            f"{hashlib.sha256(zf.read(n)).hexdigest()}  {n}\n" for n in sorted(zf.namelist())
        )
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def lock_for(cache: Path | None) -> Lock | None:
    """The project's lock when building into the shared cache (`cache` None), else none."""
    return Lock(data.lock_path()) if cache is None else None


def pin(
    module: str,
    version: str,
    cache: Path,
    lock: Lock | None,
    say: toolchain.Say = toolchain.say_stderr,
) -> str | None:
    """Verify the downloaded zip of `module@version` against `lock`, recording it when new.

    Returns its sha256 (None without a lock). A mismatch is InfraError (Lock.verify), as for
    every pinned download.
    """
    if lock is None:
        return None
    path = zip_path(cache, module, version)
    if not path.is_file():
        raise InfraError(
            f"{module}@{version}: the go command left no module zip at {path} to check against "
            f"{lock.path.name}; delete {cache / 'go' / 'mod'} and build again"
        )
    url = zip_url(module, version)
    new = lock.expected(url) is None
    if new:  # record only bytes the go command verified (go.sum/sumdb): its .ziphash says what
        checked = path.with_suffix(".ziphash")
        want = checked.read_text().strip() if checked.is_file() else "(no .ziphash)"
        if h1(path) != want:
            raise InfraError(
                f"{path}: its go.sum hash {h1(path)} is not the one the go command verified "
                f"({want}); delete {cache / 'go' / 'mod'} and build again"
            )
    digest = lock.verify(url, path)
    if new:
        say(f"{lock.path.name}: recorded sha256 {digest[:12]}… of {module}@{version}")
    return digest
