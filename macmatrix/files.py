"""Files macmatrix writes: atomic replacement and the download cache folder.

Core, because every layer writes files (data/ the user's lock, backends/kind/stack the lock's
hashes, run/ results.json, views/ junit and baselines): keeping these two here lets each of them
import downward only (DESIGN.md "Layout and layers").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cache_dir() -> Path:
    """$MACMATRIX_CACHE, else $XDG_CACHE_HOME/macmatrix, else ~/.cache/macmatrix."""
    if os.environ.get("MACMATRIX_CACHE"):
        return Path(os.environ["MACMATRIX_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "macmatrix"
