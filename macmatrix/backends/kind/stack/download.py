"""Pinned downloads into a cache (default ~/.cache/macmatrix), verified against the lock.

A download the lock has no hash for yet is verified against the checksum upstream publishes
beside it (stack/checksums.py: kind, kubectl, CNI plugins) before its hash is recorded; one
without a published checksum (install.sh, the Multus manifest) is trusted on first use. A cached
file is re-verified on every use, so a corrupted cache fails loudly instead of running a
different binary than the lock promises.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from macmatrix.backends.kind.stack import checksums
from macmatrix.backends.kind.stack.lock import Lock, sha256_file
from macmatrix.errors import InfraError
from macmatrix.files import cache_dir as cache_dir  # the stack modules use it from here

TIMEOUT_S = 60


def cached_path(url: str, cache: Path) -> Path:
    """Where `url` lives in the cache: readable name plus a short URL hash (versions differ)."""
    tag = hashlib.sha256(url.encode()).hexdigest()[:12]
    name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
    return cache / "downloads" / tag / name


def fetch(url: str, lock: Lock, cache: Path | None = None, executable: bool = False) -> Path:
    """The verified local copy of `url`, downloading it once."""
    dest = cached_path(url, cache or cache_dir())
    lock.check_required(url)
    if not dest.exists():
        _download(url, dest)
    if lock.expected(url) is None:
        verify_published(url, dest)
    lock.verify(url, dest)
    if executable:
        dest.chmod(0o755)
    return dest


def verify_published(url: str, path: Path) -> str | None:
    """Check `path` against the checksum upstream publishes beside `url` (None: there is none).

    A mismatch deletes the cached file (it is not what upstream released) and is an InfraError
    naming both hashes; the checksum file itself is read fresh, never cached.
    """
    checksum_url = checksums.published_for(url)
    if checksum_url is None:
        return None
    try:
        with urllib.request.urlopen(checksum_url, timeout=TIMEOUT_S) as resp:
            text = resp.read(4096).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise InfraError(
            f"download failed: {checksum_url}: {reason}; it verifies {url} before its hash is "
            "recorded in the lock; check internet access"
        ) from e
    want = checksums.parse(text, url, checksum_url)
    got = sha256_file(path)
    if got != want:
        path.unlink(missing_ok=True)
        raise InfraError(
            f"checksum mismatch for {url}: got sha256 {got}, upstream's {checksum_url} says "
            f"{want}; the download was corrupted or tampered with (deleted, retry)"
        )
    print(f"macmatrix: sha256 of {path.name} matches {checksum_url}", file=sys.stderr, flush=True)
    return want


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"macmatrix: downloading {url}", file=sys.stderr, flush=True)
    fd, tmp = tempfile.mkstemp(prefix=".part-", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        Path(tmp).unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise InfraError(
            f"download failed: {url}: {reason}; check internet access (offline?) or place the "
            f"file at {dest} by hand"
        ) from e


def reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether `host` answers on 443. Resolves the name first, so an offline machine (no DNS)
    is told apart without sending a single packet to the host."""
    try:
        socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False
