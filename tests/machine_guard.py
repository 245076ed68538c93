"""For tests of things that must touch nothing (the --dry-run plans): any process, download or
connection fails the test, and the download cache points into the test's tmp_path."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest


def forbid_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, who: str) -> Path:
    """Make subprocess, urlopen and sockets raise AssertionError("<who> touched the machine");
    returns the (empty) cache directory MACMATRIX_CACHE now names."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{who} touched the machine: {args!r}")

    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    cache = tmp_path / "cache"
    monkeypatch.setenv("MACMATRIX_CACHE", str(cache))
    return cache
