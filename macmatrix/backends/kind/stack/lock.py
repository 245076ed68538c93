"""clusters/stacks.lock: sha256 of every pinned download, recorded on first use, verified after.

The lock is JSON `{url: sha256}` so diffs are one line per download. It starts empty because the
machines that write this code cannot reach the download hosts; the first online run fills it and
CI can then demand a complete lock (`--require-lock`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from macmatrix.errors import BadInput, InfraError
from macmatrix.files import atomic_write

_HEX = frozenset("0123456789abcdef")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, flag: str) -> None:
    """A lock the user named with `flag` (--lock) can be used: missing is fine (its first use
    creates it from ours); a folder, a missing folder or a malformed file is one BadInput line
    naming `flag`."""
    if path.is_dir() or not path.parent.is_dir():
        raise BadInput(f"{flag}: {path} is not a file in an existing folder; pass a lock file path")
    try:
        Lock(path)
    except BadInput as e:
        raise BadInput(f"{flag}: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"{flag}: cannot read {path} ({e}); pass a readable JSON lock") from e


class Lock:
    """The lock file: look up, verify and record hashes (thread-safe, written atomically)."""

    def __init__(self, path: Path, require: bool = False) -> None:
        self.path = path
        self.require = require
        self._mutex = threading.Lock()
        self.entries = self._read()

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text() or "{}")
        except json.JSONDecodeError as e:
            raise BadInput(
                f"{self.path}: not valid JSON ({e.msg}); fix it or reset it to {{}}"
            ) from e
        if not isinstance(data, dict):
            raise BadInput(f"{self.path}: must be a JSON object {{url: sha256}}; reset it to {{}}")
        for url, digest in data.items():
            if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX):
                raise BadInput(
                    f"{self.path}: {url}: {digest!r} is not a lower-case sha256; "
                    "delete the entry so the next download records it"
                )
        return dict(data)

    def expected(self, url: str) -> str | None:
        return self.entries.get(url)

    def check_required(self, url: str) -> None:
        """With --require-lock a download must already have a recorded hash."""
        if self.require and url not in self.entries:
            raise BadInput(
                f"--require-lock: {self.path.name} has no sha256 for {url}; "
                "run once without --require-lock to record it, then commit the lock"
            )

    def verify(self, url: str, path: Path) -> str:
        """Check `path` against the recorded hash; record it when new. Returns the digest."""
        self.check_required(url)
        digest = sha256_file(path)
        want = self.entries.get(url)
        if want is None:
            self.record(url, digest)
        elif want != digest:
            raise InfraError(
                f"checksum mismatch for {url}: got sha256 {digest}, {self.path.name} says {want}; "
                f"the download changed upstream or was tampered with (cached at {path}); "
                "delete the cached file to retry, or update the lock only if the change is trusted"
            )
        return digest

    def record(self, url: str, digest: str) -> None:
        with self._mutex:
            fresh = self._read()  # another run may have added entries meanwhile
            fresh[url] = digest
            self.entries = fresh
            atomic_write(self.path, json.dumps(fresh, indent=2, sort_keys=True) + "\n")
