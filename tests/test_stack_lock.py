"""stacks.lock: record on first download, verify after, refuse mismatches and (with
--require-lock) unrecorded downloads; the download path itself, with a local file:// URL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from macmatrix.backends.kind.stack import download
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import BadInput, InfraError


def _file(tmp_path: Path, data: bytes = b"#!/bin/sh\necho pinned\n") -> tuple[str, str]:
    src = tmp_path / "upstream" / "tool"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(data)
    return src.as_uri(), hashlib.sha256(data).hexdigest()


def test_the_repo_lock_is_a_valid_json_object() -> None:
    from macmatrix.backends.kind.session import lock_path

    lock = Lock(lock_path())
    assert isinstance(lock.entries, dict)


def test_first_download_records_then_verifies(tmp_path: Path) -> None:
    url, digest = _file(tmp_path)
    lock_file = tmp_path / "stacks.lock"
    lock = Lock(lock_file)
    path = download.fetch(url, lock, tmp_path / "cache", executable=True)
    assert path.read_bytes().startswith(b"#!/bin/sh")
    assert path.stat().st_mode & 0o111
    assert json.loads(lock_file.read_text()) == {url: digest}
    # second use: no download, verified against the recorded hash
    again = download.fetch(url, Lock(lock_file), tmp_path / "cache")
    assert again == path


def test_a_changed_cached_file_is_a_checksum_mismatch(tmp_path: Path) -> None:
    url, _ = _file(tmp_path)
    lock = Lock(tmp_path / "stacks.lock")
    path = download.fetch(url, lock, tmp_path / "cache")
    path.write_bytes(b"something else")
    with pytest.raises(InfraError, match="checksum mismatch for file://") as e:
        download.fetch(url, Lock(tmp_path / "stacks.lock"), tmp_path / "cache")
    assert "\n" not in str(e.value)


def test_a_lock_entry_that_disagrees_with_the_download(tmp_path: Path) -> None:
    url, _ = _file(tmp_path)
    (tmp_path / "stacks.lock").write_text(json.dumps({url: "0" * 64}))
    with pytest.raises(InfraError, match="says 0000"):
        download.fetch(url, Lock(tmp_path / "stacks.lock"), tmp_path / "cache")


def test_require_lock_refuses_an_unrecorded_download_before_fetching(tmp_path: Path) -> None:
    url, digest = _file(tmp_path)
    lock = Lock(tmp_path / "stacks.lock", require=True)
    with pytest.raises(BadInput, match="--require-lock: stacks.lock has no sha256 for file://"):
        download.fetch(url, lock, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
    (tmp_path / "stacks.lock").write_text(json.dumps({url: digest}))
    assert download.fetch(url, Lock(tmp_path / "stacks.lock", require=True), tmp_path / "cache")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"u": "abc"}', "not a lower-case sha256"),
    ],
)
def test_a_broken_lock_is_bad_input(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "stacks.lock").write_text(text)
    with pytest.raises(BadInput, match=message):
        Lock(tmp_path / "stacks.lock")


def test_offline_download_is_one_infra_line(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/kind-linux-amd64"  # discard port: nothing listens
    with pytest.raises(
        InfraError, match=r"download failed: http://127.0.0.1:9/kind-linux-amd64: .*offline"
    ) as e:
        download.fetch(url, Lock(tmp_path / "stacks.lock"), tmp_path / "cache")
    assert "\n" not in str(e.value)
    assert not download.cached_path(url, tmp_path / "cache").exists()
    assert list((tmp_path / "cache").rglob("*.part-*")) == []


def test_cache_dir_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MACMATRIX_CACHE", str(tmp_path / "c"))
    assert download.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MACMATRIX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert download.cache_dir() == tmp_path / "x" / "macmatrix"


def test_cached_paths_differ_per_url_but_keep_the_name(tmp_path: Path) -> None:
    a = download.cached_path("https://h/v1/kubectl", tmp_path)
    b = download.cached_path("https://h/v2/kubectl", tmp_path)
    assert a != b and a.name == b.name == "kubectl"
