"""Installable anywhere: package data is the repository's files, writes never go into an
install, the pytest plugin registers once (entry point or root conftest), no _pytest imports.

The real wheel, in a fresh venv, from an empty folder, is .ci/run's job (it needs PyPI).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from macmatrix import cli, data
from macmatrix.spec import cases, stacks

try:  # the crafted-results helper lives beside the compare tests
    from test_compare import STACK, A, B, write_results
except ImportError:  # tests/ imported as a package
    from tests.test_compare import STACK, A, B, write_results

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """macmatrix as from a wheel: no checkout; the cache (user lock) in tmp_path."""
    monkeypatch.setattr(data, "checkout", lambda: None)
    monkeypatch.setenv("MACMATRIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MACMATRIX_LOCK", raising=False)
    return tmp_path


def test_a_checkout_reads_and_writes_the_repository_files() -> None:
    assert data.checkout() == REPO
    assert cases.default_matrix_path() == REPO / "e2e" / "matrix.yaml"
    assert stacks.clusters_dir() == REPO / "clusters"
    assert data.lock_path() == REPO / "clusters" / "stacks.lock"


def test_packaged_files_are_the_repository_files_not_copies() -> None:
    """macmatrix/data's e2e/ and clusters/ entries lead to the one copy in the repository, and
    pyproject's package-data takes every such file into the wheel."""
    pkg = data.packaged()
    repo_files = sorted(
        p.relative_to(REPO)
        for p in [REPO / "e2e" / "matrix.yaml", *(REPO / "e2e" / "baselines").glob("*.json")]
        + [p for p in (REPO / "clusters").iterdir() if p.is_file()]
    )
    assert repo_files
    for rel in repo_files:
        assert (pkg / rel).resolve() == REPO / rel, f"{rel}: the package must not hold a copy"
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["macmatrix.data"]
    shipped = sorted({p.relative_to(pkg) for g in globs for p in pkg.glob(g)})
    assert [p for p in repo_files if p not in shipped] == [], "package-data misses these"
    assert {"report/report.css", "report/report.js"} <= {str(p) for p in shipped}
    excluded = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["exclude"]
    assert excluded == ["macmatrix.data.*"]  # e2e/ holds tests: never ship them as modules


def test_installed_reads_come_from_the_package(installed: Path) -> None:
    pkg = data.packaged()
    assert data.root() == pkg
    assert cases.default_matrix_path() == pkg / "e2e" / "matrix.yaml"
    assert cases.load(cases.default_matrix_path()) == cases.load(REPO / "e2e" / "matrix.yaml")
    assert stacks.load() == stacks.load(REPO / "clusters" / "stacks.toml")
    from macmatrix.views import baseline

    doc = baseline.committed_baseline({"backend": "netns", "cni_plugins": "v1.1.1"})
    assert doc is not None and doc["path"] == "e2e/baselines/netns-netns.json"


def test_installed_baseline_update_needs_out(installed: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = write_results(installed / "r.json", {A: "works", B: "broken"}, stack=STACK)
    code = cli.main(["baseline", "update", str(src)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--out: macmatrix runs from an installed package" in err
    assert not list(data.packaged().glob("e2e/baselines/*.json.*"))  # no temp file left either
    assert cli.main(["baseline", "update", str(src), "--out", str(installed / "b.json")]) == 0
    assert json.loads((installed / "b.json").read_text())["cases"][A.id]["outcome"] == "works"


def test_installed_lock_is_a_user_file_seeded_from_the_package(
    installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped_url, mine_url = "https://example.invalid/shipped", "https://example.invalid/mine"
    pkg_lock = installed / "pkg" / data.LOCK
    pkg_lock.parent.mkdir(parents=True)
    pkg_lock.write_text(json.dumps({shipped_url: "a" * 64}))
    monkeypatch.setattr(data, "packaged", lambda: installed / "pkg")
    user = installed / "cache" / "stacks.lock"
    assert data.lock_to_read() == pkg_lock and not user.exists()  # a plan writes nothing
    assert data.lock_path() == user
    assert json.loads(user.read_text()) == {shipped_url: "a" * 64}
    user.write_text(json.dumps({shipped_url: "b" * 64, mine_url: "c" * 64}))
    pkg_lock.write_text(
        json.dumps({shipped_url: "a" * 64, "https://example.invalid/new": "d" * 64})
    )
    data.lock_path()  # a newer package's hashes join; the user's own are kept
    assert json.loads(user.read_text()) == {
        shipped_url: "b" * 64,
        mine_url: "c" * 64,
        "https://example.invalid/new": "d" * 64,
    }
    assert data.lock_to_read() == user
    monkeypatch.setenv("MACMATRIX_LOCK", str(installed / "chosen.lock"))
    assert data.lock_path() == installed / "chosen.lock"


def test_only_the_data_module_finds_files_beside_the_package() -> None:
    """Every other module asks macmatrix.data; no __file__ or parents[] path arithmetic."""
    offenders = []
    for path in sorted((REPO / "macmatrix").rglob("*.py")):
        if path.is_relative_to(REPO / "macmatrix" / "data"):
            continue
        text = path.read_text()
        if "__file__" in text or ".parents[" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_the_library_never_imports_pytest_internals() -> None:
    offenders = []
    for path in sorted((REPO / "macmatrix").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "_pytest" or n.startswith("_pytest.") for n in names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


# --------------------------------------------------------------------------- the pytest plugin


def _dist_info(site: Path) -> None:
    """A dist-info for macmatrix carrying pyproject's entry points, as pip would install it."""
    info = site / "macmatrix-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: macmatrix\nVersion: 0.1.0\n")
    groups = PYPROJECT["project"]["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
            for g, eps in groups.items()
        )
    )


def _pytest(cwd: Path, site: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    path = [str(site)] if site else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(REPO)])}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("entry_point", [True, False], ids=["entry-point", "conftest-only"])
def test_plugin_registers_once_from_the_repo_root(tmp_path: Path, entry_point: bool) -> None:
    site = tmp_path / "site" if entry_point else None
    if site:
        _dist_info(site)
    proc = _pytest(REPO, site, "e2e/test_mac_matrix.py", "--backend", "netns", "--collect-only")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n = len(cases.load(cases.default_matrix_path()))
    assert f"{n} tests collected" in proc.stdout


def test_plugin_runs_the_matrix_from_an_empty_folder(tmp_path: Path) -> None:
    """The entry point alone (no conftest, no pyproject) gives the options, markers and the
    matrix test shipped in the package (`--pyargs macmatrix.e2e`)."""
    _dist_info(tmp_path / "site")
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _pytest(
        empty, tmp_path / "site", "--backend", "netns", "--pyargs", "macmatrix.e2e",
        "--collect-only", "-q", "-m", "e2e", "-W", "error::pytest.PytestUnknownMarkWarning",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [ln.split("[", 1)[1][:-1] for ln in proc.stdout.splitlines() if "test_mac_case[" in ln]
    assert ids == [c.id for c in cases.load(cases.default_matrix_path())]
    assert list(empty.iterdir()) == []
    blocked = _pytest(empty, tmp_path / "site", "-p", "no:macmatrix", "--backend", "netns")
    assert blocked.returncode == 4 and "unrecognized arguments: --backend" in blocked.stderr
