"""backends/gobuild/toolchain.go_env: no setting of the user's can switch off the checksum
database's check of a Go download (GOSUMDB=off, GONOSUMDB, GOPRIVATE, GOINSECURE, GONOSUMCHECK,
GOFLAGS=-insecure/-mod=mod), neither from the environment nor from the go env file (`go env
-w`); what was dropped is said once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from macmatrix.backends.gobuild import toolchain

UNSAFE = {
    "GOSUMDB": "off",
    "GONOSUMDB": "*",
    "GONOSUMCHECK": "1",
    "GOPRIVATE": "github.com/*",
    "GOINSECURE": "*",
    "GOFLAGS": "-insecure -mod=mod",
}


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No go env file, nothing said yet, none of the settings in the environment."""
    monkeypatch.setattr(toolchain, "_said", set(), raising=False)
    for key in (*UNSAFE, "GOPROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GOENV", str(tmp_path / "no-such-go-env"))
    return tmp_path


def test_unsafe_environment_is_dropped_and_said_once(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in UNSAFE.items():
        monkeypatch.setenv(key, value)
    said: list[str] = []
    env = toolchain.go_env(clean / "cache", say=said.append)
    assert env["GOSUMDB"] == "sum.golang.org"
    assert env["GOFLAGS"] == "-buildvcs=false -modcacherw"
    assert env["GOENV"] == "off"
    for key in ("GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GOINSECURE"):
        assert key not in env
    assert len(said) == 1
    for key, value in UNSAFE.items():
        assert f"{key}={value}" in said[0]
    toolchain.go_env(clean / "cache", say=said.append)  # the next build of the process
    assert len(said) == 1


def test_a_clean_environment_says_nothing(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOSUMDB", "sum.golang.org")  # the default, set explicitly: fine
    monkeypatch.setenv("GOFLAGS", "-modcacherw")  # a subset of ours: nothing lost
    said: list[str] = []
    env = toolchain.go_env(clean / "cache", say=said.append)
    assert said == [] and env["GOSUMDB"] == "sum.golang.org"


def test_the_go_env_file_cannot_switch_it_off_either(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`go env -w GONOSUMDB=*` writes the file; an empty variable would not override it."""
    goenv = clean / "go-env"
    goenv.write_text("GONOSUMDB=*\nGOSUMDB=off\nGOPROXY=https://mirror.example/go\n")
    monkeypatch.setenv("GOENV", str(goenv))
    said: list[str] = []
    env = toolchain.go_env(clean / "cache", say=said.append)
    assert env["GOENV"] == "off"
    assert env["GOPROXY"] == "https://mirror.example/go"  # a mirror: downloads still checked
    assert len(said) == 1 and "GONOSUMDB=* (go env file)" in said[0]


def test_the_go_command_sees_the_checksum_database_on(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `go env` itself reports with the environment go_env gives it."""
    go = toolchain.find_go()
    if not go:
        pytest.skip("no Go toolchain on this machine")
    goenv = clean / "go-env"
    goenv.write_text("GONOSUMDB=example.com\nGOINSECURE=*\n")
    monkeypatch.setenv("GOENV", str(goenv))
    for key, value in UNSAFE.items():
        monkeypatch.setenv(key, value)
    env = toolchain.go_env(clean / "cache", say=lambda line: None)
    keys = ["GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GOFLAGS"]
    shown = subprocess.run(
        [go, "env", *keys], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert dict(zip(keys, shown, strict=True)) == {
        "GOSUMDB": "sum.golang.org",
        "GONOSUMDB": "",
        "GOPRIVATE": "",
        "GOINSECURE": "",
        "GOFLAGS": "-buildvcs=false -modcacherw",
    }
