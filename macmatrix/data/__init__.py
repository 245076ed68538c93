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
  user file (`stacks.lock` in the macmatrix cache) that starts as a copy of the packaged lock and
  gains the hashes the packaged one lacks.
- A user's own files win by flag: `--matrix`, `--baseline`, `--out`, `--stacks`, `--lock` (the
  nightly's matrix generator: `--stacks-file`). The stacks and the lock also by environment,
  `$MACMATRIX_STACKS` and `$MACMATRIX_LOCK` (what the pytest plugin and the `python -m` entry
  points read), below the flag. A chosen lock is treated like the installed user lock: it is
  created, or completed, from ours, so a user's lock never loses a hash we ship.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
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
STACKS_ENV = "MACMATRIX_STACKS"
LOCK_ENV = "MACMATRIX_LOCK"

# the files a command's flags chose (`chosen()`): "stacks"/"lock" -> (path, the flag's name)
_CHOSEN: dict[str, tuple[Path, str]] = {}


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


@contextmanager
def chosen(stacks: str | Path | None = None, lock: str | Path | None = None) -> Iterator[None]:
    """Inside: the user's own stacks.toml (`--stacks`) and lock (`--lock`) instead of ours, for
    every reader in the process (threads included); the previous choice comes back on leaving."""
    saved = dict(_CHOSEN)
    if stacks:
        _CHOSEN["stacks"] = (Path(stacks), "--stacks")
    if lock:
        _CHOSEN["lock"] = (Path(lock), "--lock")
    try:
        yield
    finally:
        _CHOSEN.clear()
        _CHOSEN.update(saved)


def stacks_file() -> tuple[Path, str]:
    """The stacks.toml in use and what chose it: `--stacks`, `$MACMATRIX_STACKS`, or "" (ours:
    clusters/stacks.toml of the checkout or of the package)."""
    return _choice("stacks", STACKS_ENV) or (root() / STACKS, "")


def _choice(kind: str, env: str) -> tuple[Path, str] | None:
    if kind in _CHOSEN:
        return _CHOSEN[kind]
    value = os.environ.get(env)
    return (Path(value), f"${env}") if value else None


def lock_path() -> Path:
    """The lock the kind path reads and records first-download hashes in: `--lock` or
    `$MACMATRIX_LOCK` (created or completed from ours), else clusters/stacks.lock in a checkout,
    else the user's lock in the macmatrix cache, seeded from the package.

    Our hashes are never lost: entries the user file lacks are added to it before use (a URL both
    name keeps the user's hash; a mismatch with the download is refused either way).
    """
    picked = _choice("lock", LOCK_ENV)
    if picked is not None:
        return _seeded(*picked)
    found = checkout()
    if found is not None:
        return found / LOCK
    return _seeded(_user_lock(), "")


def lock_to_read() -> Path:
    """The lock a plan shows (dry runs write nothing): a chosen or the user's lock once it
    exists, else ours."""
    picked = _choice("lock", LOCK_ENV)
    if picked is not None:
        return picked[0] if picked[0].exists() else _our_lock()
    found = checkout()
    if found is not None:
        return found / LOCK
    user = _user_lock()
    return user if user.exists() else packaged() / LOCK


def lock_label() -> str:
    """How a plan names the lock in use: clusters/stacks.lock for ours, else its path."""
    path = lock_to_read()
    return LOCK.as_posix() if path == _our_lock() else str(path)


def _our_lock() -> Path:
    return (checkout() or packaged()) / LOCK


def _seeded(user: Path, flag: str) -> Path:
    """`user`, made to hold every entry of our lock it lacks (created when missing)."""
    shipped = _read_json(_our_lock(), "")
    mine = _read_json(user, flag) if user.exists() else {}
    missing = {url: digest for url, digest in shipped.items() if url not in mine}
    if missing or not user.exists():
        try:
            atomic_write(user, json.dumps({**shipped, **mine}, indent=2, sort_keys=True) + "\n")
        except OSError as e:
            where = f"{flag}: " if flag else ""
            raise BadInput(
                f"{where}cannot write the lock {user} ({e.strerror}); pass a writable file"
            ) from e
    return user


def _user_lock() -> Path:
    """stacks.lock in the macmatrix cache (files.cache_dir)."""
    return cache_dir() / "stacks.lock"


def _read_json(path: Path, flag: str) -> dict[str, str]:
    where = f"{flag} {path}" if flag else str(path)
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError) as e:
        raise BadInput(
            f"{where}: not a readable JSON lock ({e}); fix it or reset it to {{}}"
        ) from e
    if not isinstance(data, dict):
        raise BadInput(f"{where}: must be a JSON object {{url: sha256}}; reset it to {{}}")
    return data
