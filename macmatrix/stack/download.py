"""Pinned downloads into a cache (default ~/.cache/macmatrix), verified against the lock.

A cached file is re-verified on every use, so a corrupted cache fails loudly instead of running a
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

from ..errors import InfraError
from .lock import Lock

TIMEOUT_S = 60


def cache_dir() -> Path:
    """$MACMATRIX_CACHE, else $XDG_CACHE_HOME/macmatrix, else ~/.cache/macmatrix."""
    if os.environ.get("MACMATRIX_CACHE"):
        return Path(os.environ["MACMATRIX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "macmatrix"


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
    lock.verify(url, dest)
    if executable:
        dest.chmod(0o755)
    return dest


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
