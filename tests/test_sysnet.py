"""kube/sysnet.py: the pods' interfaces from /sys/class/net (no `ip`, which the pods cannot exec).

The script is run for real with /bin/sh in a throw-away network namespace holding a macvlan with a
requested MAC and one without, so the parsing is checked against real sysfs output.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess

import pytest

from macmatrix.backends.kind.kube import sysnet


def test_parse_and_render_name_the_macs_origin() -> None:
    out = (
        "if=lo address=00:00:00:00:00:00 addr_assign_type=0 mtu=65536 operstate=unknown "
        "ifindex=1 iflink=1 type=772\n"
        "if=net1 address=02:00:00:aa:bb:01 addr_assign_type=3 mtu=1500 operstate=up "
        "ifindex=3 iflink=2 type=1\n"
        "if=eth0 address= addr_assign_type= mtu=1400 operstate=up ifindex=2 iflink=9 type=1\n"
    )
    got = sysnet.parse(out)
    assert got["net1"]["address"] == "02:00:00:aa:bb:01"
    assert got["eth0"]["address"] == ""  # an unreadable attribute stays empty
    text = sysnet.render(got)
    assert "net1: mac 02:00:00:aa:bb:01 (set), mtu 1500, up, ifindex 3 iflink 2" in text
    assert "lo: mac 00:00:00:00:00:00 (permanent)" in text
    assert "eth0: mac ? (?)" in text
    assert sysnet.render({}) == "no interfaces read\n"
    assert sysnet.command()[:2] == ["sh", "-c"] and "ip " not in sysnet.command()[2]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a network namespace")
@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2 (ip) to build the netns")
def test_the_script_reads_real_sysfs_in_a_network_namespace() -> None:
    ns = f"mm-sysnet-{secrets.token_hex(3)}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, timeout=30)

    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True, timeout=30)
    try:
        ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        ip(
            "link",
            "add",
            "link",
            "v0",
            "name",
            "net1",
            "address",
            "02:11:22:33:44:55",
            "type",
            "macvlan",
        )
        ip("link", "add", "link", "v0", "name", "net2", "type", "macvlan")
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, *sysnet.command()],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    got = sysnet.parse(proc.stdout)
    assert set(got) == {"lo", "v0", "v1", "net1", "net2"}
    assert got["net1"]["address"] == "02:11:22:33:44:55"
    assert got["net1"]["addr_assign_type"] == "3"  # NET_ADDR_SET: the requested MAC
    assert got["net2"]["addr_assign_type"] == "1"  # NET_ADDR_RANDOM: the kernel's pick
    assert got["net1"]["iflink"] == got["v0"]["ifindex"]  # its master
    assert set(got["lo"]) == set(sysnet.ATTRS)
