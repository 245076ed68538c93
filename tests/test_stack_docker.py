"""The Docker side: finding the macvlan master NIC by the MAC Docker assigned (pure parsing),
and, where a Docker engine answers, the real thing with a registry-free busybox image."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from macmatrix.backends.kind.stack import docker
from macmatrix.errors import InfraError

_TAIL = " mtu 1500 qdisc noqueue state UP mode DEFAULT group default \\    link/ether "
IPROUTE2 = "\n".join(
    [
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT "
        "group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00",
        "9: eth0@if10: <BROADCAST,MULTICAST,UP,LOWER_UP>"
        + _TAIL
        + "02:42:AC:12:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0",
        "13: eth2@if14: <BROADCAST,MULTICAST,UP,LOWER_UP>"
        + _TAIL
        + "02:42:ac:13:00:03 brd ff:ff:ff:ff:ff:ff link-netnsid 0",
    ]
)
BUSYBOX = "\n".join(
    [
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\\    link/loopback "
        "00:00:00:00:00:00 brd 00:00:00:00:00:00",
        "6: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue \\    "
        "link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff",
    ]
)


def test_nic_by_mac_iproute2_and_busybox() -> None:
    assert docker.nic_by_mac(IPROUTE2, "02:42:ac:13:00:03") == "eth2"
    assert docker.nic_by_mac(IPROUTE2, "02-42-ac-12-00-02") == "eth0"  # case and form normalised
    assert docker.nic_by_mac(BUSYBOX, "02:42:ac:11:00:02") == "eth0"
    assert docker.nic_by_mac(BUSYBOX, "02:42:ac:11:00:09") is None
    assert docker.link_names(IPROUTE2) == ["lo", "eth0", "eth2"]


def test_network_mac_from_inspect() -> None:
    inspect = [
        {
            "NetworkSettings": {
                "Networks": {
                    "kind": {"MacAddress": "02:42:AC:12:00:02"},
                    "mm-x-macvlan": {"MacAddress": "02:42:ac:13:00:03"},
                }
            }
        }
    ]
    assert docker.network_mac(json.dumps(inspect), "mm-x-macvlan") == "02:42:ac:13:00:03"
    assert docker.network_mac(inspect, "kind") == "02:42:ac:12:00:02"
    assert docker.network_mac(inspect, "other") is None
    assert docker.network_mac("[]", "kind") is None


def test_rename_commands() -> None:
    assert docker.rename_commands("eth1", "eth1") == [["ip", "link", "set", "dev", "eth1", "up"]]
    cmds = docker.rename_commands("eth2", "eth1")
    assert cmds[1] == ["ip", "link", "set", "dev", "eth2", "name", "eth1"]
    assert cmds[-1][-1] == "up"


def test_engine_answers_is_false_without_a_docker_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker, "docker_bin", lambda: None)
    assert docker.engine_answers() is False


def test_engine_answers_is_quick_when_the_engine_hangs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setattr(docker, "docker_bin", lambda: str(fake))
    import time

    t0 = time.monotonic()
    assert docker.engine_answers(timeout=0.5) is False
    assert time.monotonic() - t0 < 5


# --------------------------------------------------------------------------- real Docker


def _static_busybox() -> str | None:
    """busybox-static's binary: the only file in an image made without a registry."""
    path = shutil.which("busybox")
    if not path:
        return None
    with open(path, "rb") as f:
        head = f.read(8192)
    return None if b"ld-linux" in head else path  # a dynamic one needs a loader we do not copy


BUSYBOX_BIN = _static_busybox()
needs_engine = pytest.mark.skipif(
    not docker.engine_answers(),
    reason="no Docker engine answers (install docker.io and start dockerd to run this test)",
)
needs_busybox = pytest.mark.skipif(
    BUSYBOX_BIN is None,
    reason="needs a static busybox (Debian busybox-static) to build an image without a registry",
)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[str]]:
    """Two containers standing in for kind nodes, from an image made by `docker import`."""
    assert BUSYBOX_BIN
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX_BIN, root / "bin" / "busybox")
    for applet in ("sh", "ip", "sleep", "cat"):
        (root / "bin" / applet).symlink_to("busybox")
    tag = f"macmatrix-test-busybox:{uuid.uuid4().hex[:8]}"
    tar = subprocess.run(
        ["tar", "-C", str(root), "-c", "."], capture_output=True, check=True
    ).stdout
    subprocess.run(["docker", "import", "-", tag], input=tar, capture_output=True, check=True)
    names = [f"mm-test-{uuid.uuid4().hex[:6]}-{i}" for i in range(2)]
    try:
        for n in names:
            subprocess.run(
                [
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    n,
                    "--cap-add",
                    "NET_ADMIN",
                    tag,
                    "/bin/sleep",
                    "600",
                ],
                capture_output=True,
                check=True,
            )
        yield names
    finally:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)


@needs_engine
@needs_busybox
def test_master_network_for_real(nodes: list[str]) -> None:
    net = docker.MasterNetwork(f"mm-test-{uuid.uuid4().hex[:6]}", master="eth1")
    try:
        macs = net.ensure(nodes)
        assert net.created and net.exists()
        for node in nodes:
            links = docker.run(["exec", node, "ip", "-o", "link", "show"])
            # the NIC Docker gave the node on our network is now named eth1 and carries that MAC
            assert docker.nic_by_mac(links, macs[node]) == "eth1"
            up = docker.run(["exec", node, "cat", "/sys/class/net/eth1/operstate"]).strip()
            assert up in ("up", "unknown")
        # idempotent: a reused cluster runs ensure() again and nothing changes
        assert net.ensure(nodes) == macs
    finally:
        net.remove(nodes)
    assert not net.exists()


@needs_engine
@needs_busybox
def test_master_network_renames_a_nic_that_is_not_eth1(nodes: list[str]) -> None:
    """Docker names the new NIC eth1 only when eth1 is free; we find it by MAC and rename it."""
    first = docker.MasterNetwork(f"mm-test-{uuid.uuid4().hex[:6]}", master="mm-first")
    second = docker.MasterNetwork(f"mm-test-{uuid.uuid4().hex[:6]}", master="eth1")
    try:
        first.ensure(nodes[:1])  # takes eth1 and renames it away...
        links = docker.run(["exec", nodes[0], "ip", "-o", "link", "show"])
        assert "mm-first" in docker.link_names(links)
        macs = second.ensure(nodes[:1])  # ...so this NIC may be eth2 or eth1: found by MAC
        links = docker.run(["exec", nodes[0], "ip", "-o", "link", "show"])
        assert docker.nic_by_mac(links, macs[nodes[0]]) == "eth1"
        assert sorted(docker.link_names(links)) == ["eth0", "eth1", "lo", "mm-first"]
    finally:
        second.remove(nodes[:1])
        first.remove(nodes[:1])
    assert not first.exists() and not second.exists()


@needs_engine
@needs_busybox
def test_master_network_failing_half_way_leaves_nothing(nodes: list[str]) -> None:
    """The second "node" does not exist: ensure() fails after creating the network and
    connecting the first node; both are undone before the error goes on."""
    name = f"mm-test-{uuid.uuid4().hex[:6]}"
    net = docker.MasterNetwork(name, master="eth1")
    missing = f"mm-test-missing-{uuid.uuid4().hex[:6]}"
    try:
        with pytest.raises(InfraError):
            net.ensure([nodes[0], missing])
        assert not net.exists()
        inspect = json.loads(docker.run(["inspect", nodes[0]]))
        assert name not in inspect[0]["NetworkSettings"]["Networks"]
        links = docker.run(["exec", nodes[0], "ip", "-o", "link", "show"])
        assert sorted(docker.link_names(links)) == ["eth0", "lo"]
    finally:
        net.remove(nodes)
