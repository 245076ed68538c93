"""Where macmatrix's own files are: the one module that knows, so a wheel runs anywhere.

The default matrix, the stacks, their lock, the committed baselines, the kind cluster config and
the HTML report's CSS/JS are package data of `macmatrix.data`, read with importlib.resources. Inside
the package they keep the repository's layout (`e2e/matrix.yaml`, `e2e/baselines/*.json`,
`clusters/*`), so one relative name means the same file everywhere.

One copy, never two: in the repository `macmatrix/data/e2e/matrix.yaml`, `.../e2e/baselines` and
`macmatrix/data/clusters` are symlinks to the files the mission's layout keeps in `e2e/` and
`clusters/`; building the wheel copies their content (setuptools follows the links, .ci/run checks
the wheel). The report's assets live only here.

Reading vs writing:
- From a checkout (editable install, or PYTHONPATH at the repo root) `root()` is the repository,
  so reads and writes (`baseline update`, the lock's first-download hashes) land in the files a
  reviewer diffs and commits.
- From an installed wheel, reads come from the package, and nothing is ever written into
  site-packages: `baseline update` needs `--out FILE` (`writable_root()` says so), and the lock is a
  user file (`$MACMATRIX_LOCK`, else `stacks.lock` in the macmatrix cache) that starts as a copy of
  the packaged lock and gains the hashes the packaged one lacks.
- A user's own files win by flag: `--matrix`, `--baseline`, `--out` (the nightly's matrix
  generator: `--stacks-file`).
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from macmatrix.errors import BadInput, InfraError
from macmatrix.files import atomic_write, cache_dir

MATRIX = Path("e2e") / "matrix.yaml"
BASELINES = Path("e2e") / "baselines"
CLUSTERS = Path("clusters")
STACKS = CLUSTERS / "stacks.toml"
LOCK = CLUSTERS / "stacks.lock"


@cache
def packaged() -> Path:
    """The package's data folder (in a checkout, its symlinks lead into the repository)."""
    found = resources.files(__name__)
    if not isinstance(found, Path):
        raise InfraError(
            f"{__name__}: package data is not on a file system ({found!r}); "
            "install macmatrix with pip instead of importing it from an archive"
        )
    return found


def checkout() -> Path | None:
    """The repository root when this macmatrix is imported from a checkout, else None."""
    root = Path(__file__).resolve().parents[2]
    marks = ("pyproject.toml", MATRIX, STACKS)
    return root if all((root / m).is_file() for m in marks) else None


def root() -> Path:
    """Where the data tree starts for reading: the checkout, else the installed package."""
    return checkout() or packaged()


def writable_root(flag: str) -> Path:
    """The checkout, for the default target of a write; installed, BadInput naming `flag`."""
    found = checkout()
    if found is None:
        raise BadInput(
            f"{flag}: macmatrix runs from an installed package, not a checkout, and does not "
            f"write into it; pass {flag} FILE"
        )
    return found


def matrix() -> Path:
    return root() / MATRIX


def baselines() -> Path:
    return root() / BASELINES


def clusters() -> Path:
    return root() / CLUSTERS


def text(name: str) -> str:
    """A file that lives only in the package (the report's CSS and JS)."""
    return (packaged() / name).read_text(encoding="utf-8")


SCHEMAS = Path("schema")


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a file macmatrix writes: "results" (results.json and
    `repro --json` entries) or "baseline" (e2e/baselines/*.json). Shipped so users' tools can
    validate what they read; macmatrix's tests validate every file they make against them."""
    found = json.loads(text(str(SCHEMAS / f"{name}.schema.json")))
    if not isinstance(found, dict):
        raise InfraError(f"{name}.schema.json: not a JSON object; reinstall macmatrix")
    return found


def lock_path() -> Path:
    """clusters/stacks.lock in a checkout; installed, the user's lock seeded from the package.

    The packaged hashes are never lost: entries the user file lacks are added to it before use
    (a URL both name keeps the user's hash; a mismatch with the download is refused either way).
    """
    found = checkout()
    if found is not None:
        return found / LOCK
    user = _user_lock()
    shipped = _read_json(packaged() / LOCK)
    mine = _read_json(user) if user.exists() else {}
    missing = {url: digest for url, digest in shipped.items() if url not in mine}
    if missing or not user.exists():
        atomic_write(user, json.dumps({**shipped, **mine}, indent=2, sort_keys=True) + "\n")
    return user


def lock_to_read() -> Path:
    """The lock a plan shows (dry runs write nothing): the user's copy once it exists, else the
    packaged one."""
    found = checkout()
    if found is not None:
        return found / LOCK
    user = _user_lock()
    return user if user.exists() else packaged() / LOCK


def _user_lock() -> Path:
    """$MACMATRIX_LOCK, else stacks.lock in the macmatrix cache (files.cache_dir)."""
    return Path(os.environ.get("MACMATRIX_LOCK") or cache_dir() / "stacks.lock")


def _read_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError) as e:
        raise BadInput(f"{path}: not a readable JSON lock ({e}); fix it or reset it to {{}}") from e
    if not isinstance(data, dict):
        raise BadInput(f"{path}: must be a JSON object {{url: sha256}}; reset it to {{}}")
    return data
