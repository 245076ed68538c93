"""Go module zips in clusters/stacks.lock (backends/gobuild/modlock.py): recorded only when the
go command verified them, refused when they change, and present for every stack's pins."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from macmatrix import data
from macmatrix.backends.gobuild import cni_plugins, control_plane, modlock, multus, toolchain
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import InfraError
from macmatrix.spec import stacks

PLUGINS = (cni_plugins.MODULE, "v1.9.1")


def test_the_proxy_case_encoding_marks_upper_case_letters() -> None:
    assert modlock.escape("github.com/BurntSushi/toml") == "github.com/!burnt!sushi/toml"
    assert modlock.zip_url("k8s.io/kubernetes", "v1.35.1") == (
        "https://proxy.golang.org/k8s.io/kubernetes/@v/v1.35.1.zip"
    )


def test_only_the_shared_cache_uses_the_projects_lock(tmp_path: Path) -> None:
    assert modlock.lock_for(tmp_path) is None  # a test's private cache never writes the lock
    shared = modlock.lock_for(None)
    assert shared is not None and shared.path == data.lock_path()


def test_the_committed_lock_pins_every_stacks_go_modules() -> None:
    """A stack added to stacks.toml without building it once (which records its zips) fails
    here, so its pins reach review with their hashes."""
    entries = json.loads(data.lock_to_read().read_text())
    missing = []
    for name in stacks.stack_names():
        s = stacks.get(name)
        wanted = [(cni_plugins.MODULE, s.cni_plugins), (multus.MODULE, s.multus)]
        if s.kubernetes not in control_plane.REFUSED_BY_PROXY:
            wanted.append((control_plane.KUBERNETES, s.kubernetes))
        missing += [f"{name}: {m}@{v}" for m, v in wanted if modlock.zip_url(m, v) not in entries]
    assert not missing, f"build these once to record them in clusters/stacks.lock: {missing}"


@pytest.fixture
def cached_zip(tmp_path: Path) -> Path:
    """A private cache holding the real plugins zip and the .ziphash the go command wrote."""
    real = modlock.zip_path(toolchain.cache_root(), *PLUGINS)
    if not real.is_file():
        pytest.skip(f"{PLUGINS[0]}@{PLUGINS[1]} not downloaded yet (.ci/run builds it first)")
    cache = tmp_path / "cache"
    dst = modlock.zip_path(cache, *PLUGINS)
    dst.parent.mkdir(parents=True)
    shutil.copy(real, dst)
    shutil.copy(real.with_suffix(".ziphash"), dst.with_suffix(".ziphash"))
    return cache


def test_h1_is_the_hash_the_go_command_verified(cached_zip: Path) -> None:
    path = modlock.zip_path(cached_zip, *PLUGINS)
    assert modlock.h1(path) == path.with_suffix(".ziphash").read_text().strip()


def test_pin_records_once_then_refuses_a_changed_hash(cached_zip: Path, tmp_path: Path) -> None:
    lock = Lock(tmp_path / "stacks.lock")
    digest = modlock.pin(*PLUGINS, cached_zip, lock, say=lambda _: None)
    url = modlock.zip_url(*PLUGINS)
    assert json.loads(lock.path.read_text()) == {url: digest}
    assert modlock.pin(*PLUGINS, cached_zip, Lock(lock.path), say=lambda _: None) == digest
    lock.path.write_text(json.dumps({url: "0" * 64}))
    with pytest.raises(InfraError, match="checksum mismatch"):
        modlock.pin(*PLUGINS, cached_zip, Lock(lock.path), say=lambda _: None)


def test_pin_records_nothing_the_go_command_did_not_verify(
    cached_zip: Path, tmp_path: Path
) -> None:
    path = modlock.zip_path(cached_zip, *PLUGINS)
    path.with_suffix(".ziphash").write_text("h1:" + "A" * 43 + "=\n")
    lock = Lock(tmp_path / "stacks.lock")
    with pytest.raises(InfraError, match="not the one the go command verified"):
        modlock.pin(*PLUGINS, cached_zip, lock, say=lambda _: None)
    assert not lock.path.exists()


def test_pin_without_a_zip_says_how_to_recover(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="left no module zip"):
        modlock.pin(*PLUGINS, tmp_path, Lock(tmp_path / "l"), say=lambda _: None)
