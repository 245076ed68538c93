"""The local control plane's free-port race (backends/controlplane.py): when a port picked free is
taken before etcd or kube-apiserver binds it, start() begins again on fresh ports, PORT_TRIES
times, and says so after the last. The decision is tested here on log text; e2e/
test_kube_apiserver.py holds the first port for real and starts the real binaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix.backends import controlplane
from macmatrix.backends.controlplane import PORT_TRIES, StartFailed, free_ports, retry_start
from macmatrix.errors import InfraError

# etcd v3.6.5's own last log line when its client port is taken (seen here, port held by a test)
ETCD_TAKEN = (
    '{"level":"fatal","caller":"etcdmain/etcd.go:183","msg":"discovery failed",'
    '"error":"listen tcp 127.0.0.1:51311: bind: address already in use"}'
)
OTHER = 'E1130 run.go:72] "command failed" err="failed to parse service-account-issuer-key-file"'


def test_a_taken_port_is_retried_while_tries_remain() -> None:
    failure = StartFailed("etcd", 1, "warn line\n" + ETCD_TAKEN, ETCD_TAKEN)
    assert failure.port_taken and failure.name == "etcd"
    assert isinstance(failure, InfraError)  # callers that catch InfraError still do
    assert [retry_start(failure, attempt) for attempt in range(1, PORT_TRIES + 1)] == [
        *[True] * (PORT_TRIES - 1),
        False,
    ]


def test_any_other_exit_is_not_retried() -> None:
    failure = StartFailed("kube-apiserver", 1, OTHER, OTHER)
    assert not failure.port_taken
    assert not retry_start(failure, 1)
    assert str(failure).startswith("kube-apiserver exited with 1 during start: ")


def test_free_ports_are_distinct_loopback_ports() -> None:
    for _ in range(20):
        ports = free_ports(3)
        assert len(set(ports)) == 3 and all(0 < p < 65536 for p in ports)


def test_after_the_last_try_one_line_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No binaries needed: each try's launch fails the way a taken port does."""
    tries: list[tuple[int, ...]] = []

    def launch(self: controlplane.LocalControlPlane, pki: object, *ports: int) -> None:
        tries.append(ports)
        raise StartFailed("etcd", 1, ETCD_TAKEN, ETCD_TAKEN)

    monkeypatch.setattr(controlplane.LocalControlPlane, "_launch", launch)
    cp = controlplane.LocalControlPlane(tmp_path / "bin", parent=tmp_path)
    with pytest.raises(InfraError) as e, cp:
        pass
    assert len(tries) == PORT_TRIES and len(set(tries)) == PORT_TRIES  # fresh ports each time
    text = str(e.value)
    assert len(text.splitlines()) == 1
    assert text.startswith("etcd exited with 1 during start: ")
    assert f"on each of {PORT_TRIES} tries with fresh ports" in text
    assert len(cp.port_conflicts) == PORT_TRIES - 1
    assert not cp.workdir.exists()  # stopped and removed all the same


def test_another_failure_is_raised_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[int, ...]] = []

    def launch(self: controlplane.LocalControlPlane, pki: object, *ports: int) -> None:
        calls.append(ports)
        raise StartFailed("kube-apiserver", 1, OTHER, OTHER)

    monkeypatch.setattr(controlplane.LocalControlPlane, "_launch", launch)
    with pytest.raises(StartFailed, match="failed to parse"):
        controlplane.LocalControlPlane(tmp_path / "bin", parent=tmp_path).start()
    assert len(calls) == 1
