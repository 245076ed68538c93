"""MasterNetwork.ensure() leaves nothing behind when any step fails (issue 9, item 8).

The docker CLI is replaced by a stand-in that keeps the engine's state (networks, which node is
connected to which, the NIC each connection adds) and refuses `network rm` while endpoints are
connected, as dockerd does ("network ... has active endpoints"). Each test makes one step fail
and checks that the engine is back to what it was before ensure(). The real-engine version of
this is in test_stack_docker.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from macmatrix.backends.kind.stack import docker
from macmatrix.errors import InfraError

NET = "mm-kube-ovn-v1-14-macvlan"
NODES = ["mm-kube-ovn-v1-14-control-plane", "mm-kube-ovn-v1-14-worker"]


class FakeEngine:
    """The docker CLI's answers for the commands MasterNetwork runs, over an in-memory engine."""

    def __init__(self, fail: Callable[[list[str]], BaseException | None]) -> None:
        self.networks: set[str] = set()
        self.attached: dict[str, dict[str, str]] = {n: {} for n in NODES}  # node -> net -> mac
        self.renamed: dict[str, str] = {}
        self.fail = fail
        self.calls: list[list[str]] = []

    def run(self, args: Sequence[str], timeout: float = 0, what: str = "") -> str:
        argv = list(args)
        self.calls.append(argv)
        err = self.fail(argv)
        if err is not None:
            raise err
        match argv:
            case ["network", "ls", *_]:
                return "\n".join(sorted(self.networks))
            case ["network", "create", "--driver", "bridge", name]:
                self.networks.add(name)
                return name
            case ["network", "connect", name, node]:
                mac = f"02:42:ac:12:00:0{NODES.index(node) + 2}"
                self.attached[node][name] = mac
                return ""
            case ["network", "disconnect", "--force", name, node]:
                if name not in self.attached.get(node, {}):
                    raise InfraError(f"container {node} is not connected to network {name}")
                del self.attached[node][name]
                return ""
            case ["network", "rm", name]:
                if any(name in nets for nets in self.attached.values()):
                    raise InfraError(
                        f"error while removing network: network {name} has active endpoints"
                    )
                self.networks.discard(name)
                return name
            case ["inspect", node]:
                nets = {n: {"MacAddress": m} for n, m in self.attached[node].items()}
                return json.dumps([{"NetworkSettings": {"Networks": nets}}])
            case ["exec", node, "ip", "-o", "link", "show"]:
                lines = ["1: lo: <LOOPBACK,UP> mtu 65536 link/loopback 00:00:00:00:00:00"]
                lines.append("2: eth0@if9: <BROADCAST,UP> mtu 1500 link/ether 02:42:ac:11:00:02")
                for i, (_, mac) in enumerate(sorted(self.attached[node].items())):
                    lines.append(f"{3 + i}: eth{1 + i}@if{20 + i}: <BROADCAST> link/ether {mac}")
                return "\n".join(lines)
            case ["exec", node, "ip", "link", "set", "dev", nic, *rest]:
                self.renamed[node] = " ".join([nic, *rest])
                return ""
        raise AssertionError(f"unexpected docker call {argv}")

    def state(self) -> tuple[set[str], dict[str, dict[str, str]]]:
        return set(self.networks), {n: dict(v) for n, v in self.attached.items()}


def _nth(predicate: Callable[[list[str]], bool], n: int, error: BaseException) -> Any:
    seen = {"n": 0}

    def fail(argv: list[str]) -> BaseException | None:
        if predicate(argv):
            seen["n"] += 1
            if seen["n"] == n:
                return error
        return None

    return fail


def boom(what: str) -> InfraError:
    return InfraError(f"{what} failed: injected")


# every step of ensure() that can fail, for a fresh network and two nodes
FAILURE_POINTS = {
    "network create": _nth(lambda a: a[:2] == ["network", "create"], 1, boom("create")),
    "connect node 1": _nth(lambda a: a[:2] == ["network", "connect"], 1, boom("connect")),
    "inspect node 1 after connect": _nth(lambda a: a[0] == "inspect", 2, boom("inspect")),
    "ip link in node 1": _nth(lambda a: a[3:5] == ["-o", "link"], 1, boom("ip link")),
    "rename in node 1": _nth(lambda a: a[2:5] == ["ip", "link", "set"], 1, boom("rename")),
    "connect node 2": _nth(lambda a: a[:2] == ["network", "connect"], 2, boom("connect")),
    "rename in node 2 (last step)": _nth(
        lambda a: a[2:5] == ["ip", "link", "set"], 2, boom("rename")
    ),
    "Ctrl-C at connect node 2": _nth(
        lambda a: a[:2] == ["network", "connect"], 2, KeyboardInterrupt()
    ),
}


@pytest.mark.parametrize("point", sorted(FAILURE_POINTS))
def test_a_failure_at_any_step_removes_everything_ensure_created(
    point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine(FAILURE_POINTS[point])
    monkeypatch.setattr(docker, "run", engine.run)
    before = engine.state()
    net = docker.MasterNetwork(NET)
    with pytest.raises((InfraError, KeyboardInterrupt)):
        net.ensure(NODES)
    assert engine.state() == before, engine.calls
    assert not net.created and not net.connected


def test_without_a_failure_everything_stays_until_remove(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same stand-in, no failure: network and connections exist, then go."""
    engine = FakeEngine(lambda argv: None)
    monkeypatch.setattr(docker, "run", engine.run)
    net = docker.MasterNetwork(NET)
    macs = net.ensure(NODES)
    assert engine.networks == {NET} and all(NET in engine.attached[n] for n in NODES)
    assert set(macs) == set(NODES)
    net.remove(NODES)
    assert engine.state() == (set(), {n: {} for n in NODES})


def test_a_kept_clusters_network_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    """A network from an earlier --keep-cluster run, node 1 already on it: node 2's connect
    fails. Only this call's work is undone; the kept network and node 1 stay."""
    engine = FakeEngine(_nth(lambda a: a[:2] == ["network", "connect"], 1, boom("connect")))
    engine.networks.add(NET)
    engine.attached[NODES[0]][NET] = "02:42:ac:12:00:02"
    monkeypatch.setattr(docker, "run", engine.run)
    before = engine.state()
    net = docker.MasterNetwork(NET)
    with pytest.raises(InfraError, match="connect"):
        net.ensure(NODES)
    assert engine.state() == before


def test_a_refused_create_leaves_the_network_another_run_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # two runs of one stack race: ours sees no network, the other creates it, ours is refused
    def racing(argv: list[str]) -> BaseException | None:
        if argv[:2] == ["network", "create"]:
            engine.networks.add(NET)
            return InfraError(f"network with name {NET} already exists")
        return None

    engine = FakeEngine(racing)
    monkeypatch.setattr(docker, "run", engine.run)
    with pytest.raises(InfraError, match="already exists"):
        docker.MasterNetwork(NET).ensure(NODES)
    assert NET in engine.networks  # the other run's network is still there
