"""The Docker side of the kind backend: is an engine there, and the macvlan master network.

macvlan needs a master NIC on every node. kind nodes have only eth0 (Kube-OVN's underlay), so a
second Docker network is connected to every node; Docker does not promise the new NIC's name,
so it is found by the MAC Docker assigned and renamed to the name the NADs use (`eth1`).
The parsing is pure and unit-tested; the commands are thin wrappers.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from macmatrix import macs
from macmatrix.errors import InfraError

ENGINE_TIMEOUT_S = 2.0
CMD_TIMEOUT_S = 120.0
# an `ip -o link` line: "7: eth1@if8: <BROADCAST,...> ... link/ether 02:42:ac:12:00:02 brd ..."
_LINK = re.compile(r"^\d+:\s+([^:@\s]+)(?:@[^:\s]+)?:.*?link/ether\s+([0-9a-fA-F:]{17})")


def docker_bin() -> str | None:
    return shutil.which("docker")


def engine_answers(timeout: float = ENGINE_TIMEOUT_S) -> bool:
    """Whether a Docker engine answers within `timeout` seconds (for `--backend auto`)."""
    exe = docker_bin()
    if not exe:
        return False
    try:
        proc = subprocess.run(
            [exe, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def run(args: Sequence[str], timeout: float = CMD_TIMEOUT_S, what: str = "") -> str:
    """Run `docker ARGS`; InfraError with the command and its last stderr line on failure."""
    exe = docker_bin()
    if not exe:
        raise InfraError("no docker CLI on PATH; install Docker (see `macmatrix doctor`)")
    try:
        proc = subprocess.run(
            [exe, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise InfraError(f"docker {' '.join(args)} did not finish in {timeout:.0f}s") from e
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no error output"])[-1]
        raise InfraError(f"{what or 'docker ' + ' '.join(args)} failed: {last}")
    return proc.stdout


# ----------------------------------------------------------------------------- pure parsing


def network_mac(inspect_json: str | list[Any], network: str) -> str | None:
    """The MAC Docker assigned to a container on `network`, from `docker inspect CONTAINER`."""
    data = json.loads(inspect_json) if isinstance(inspect_json, str) else inspect_json
    if isinstance(data, list):
        data = data[0] if data else {}
    nets = ((data or {}).get("NetworkSettings") or {}).get("Networks") or {}
    entry = nets.get(network) or {}
    return macs.normalise(entry.get("MacAddress")) if entry.get("MacAddress") else None


def nic_by_mac(ip_link_output: str, mac: str) -> str | None:
    """The interface name carrying `mac` in `ip -o link` output (busybox or iproute2)."""
    want = macs.normalise(mac)
    for line in ip_link_output.splitlines():
        m = _LINK.match(line.strip())
        if m and macs.normalise(m.group(2)) == want:
            return m.group(1)
    return None


def link_names(ip_link_output: str) -> list[str]:
    names = []
    for line in ip_link_output.splitlines():
        m = re.match(r"^\d+:\s+([^:@\s]+)", line.strip())
        if m:
            names.append(m.group(1))
    return names


def rename_commands(current: str, wanted: str) -> list[list[str]]:
    """`ip` commands that give the new NIC the NADs' master name and bring it up."""
    if current == wanted:
        return [["ip", "link", "set", "dev", wanted, "up"]]
    return [
        ["ip", "link", "set", "dev", current, "down"],
        ["ip", "link", "set", "dev", current, "name", wanted],
        ["ip", "link", "set", "dev", wanted, "up"],
    ]


# ----------------------------------------------------------------------------- the network


@dataclass
class MasterNetwork:
    """A Docker bridge network connected to every node; its NIC is the macvlan master.

    `ensure` is all or nothing: when any step fails (or Ctrl-C lands), what *this* call
    created is removed again before the error goes on — the nodes it connected are
    disconnected and the network is removed if it created it. What was there before (a kept
    cluster's network) is left as it was.
    """

    name: str
    master: str = "eth1"
    created: bool = False
    connected: list[str] = field(default_factory=list)

    def plan(self, nodes: Sequence[str]) -> list[list[str]]:
        """The docker commands `ensure` runs (for --dry-run)."""
        cmds = [["docker", "network", "create", "--driver", "bridge", self.name]]
        for node in nodes:
            cmds.append(["docker", "network", "connect", self.name, node])
            cmds.append(["docker", "inspect", node])
            cmds.append(["docker", "exec", node, "ip", "-o", "link", "show"])
            cmds.append(
                [
                    "docker",
                    "exec",
                    node,
                    *["ip", "link", "set", "dev", "<nic-with-that-mac>", "name", self.master],
                ]
            )
        return cmds

    def exists(self) -> bool:
        out = run(["network", "ls", "--filter", f"name=^{self.name}$", "--format", "{{.Name}}"])
        return self.name in out.split()

    def ensure(self, nodes: Sequence[str]) -> dict[str, str]:
        """Create the network if needed, connect each node, name its NIC `master`. Node -> MAC."""
        try:
            if not self.exists():
                self.created = True  # before the call: Ctrl-C during the create is undone
                try:
                    run(
                        ["network", "create", "--driver", "bridge", self.name],
                        what=f"creating docker network {self.name}",
                    )
                except InfraError:
                    # refused (e.g. another run made the same name first): not ours to remove
                    self.created = False
                    raise
            return {node: self.attach(node) for node in nodes}
        except BaseException:
            self.undo()
            raise

    def undo(self) -> None:
        """Remove what this object created: its connections, then the network if it made it."""
        connected, self.connected = self.connected, []
        for node in connected:
            with contextlib.suppress(InfraError):
                run(["network", "disconnect", "--force", self.name, node])
        if self.created:
            self.created = False
            with contextlib.suppress(InfraError):
                if self.exists():
                    run(["network", "rm", self.name], what=f"removing docker network {self.name}")

    def attach(self, node: str) -> str:
        mac = network_mac(run(["inspect", node]), self.name)
        if mac is None:
            self.connected.append(node)  # before the call, as with create
            run(
                ["network", "connect", self.name, node],
                what=f"connecting {node} to docker network {self.name}",
            )
            mac = network_mac(run(["inspect", node]), self.name)
        if mac is None:
            raise InfraError(f"docker assigned no MAC to {node} on network {self.name}")
        links = run(["exec", node, "ip", "-o", "link", "show"])
        nic = nic_by_mac(links, mac)
        if nic is None:
            raise InfraError(f"{node}: no interface carries {mac} from network {self.name}")
        if nic != self.master and self.master in link_names(links):
            raise InfraError(
                f"{node}: {self.master} already exists and is not the {self.name} NIC ({nic}); "
                "remove it or use another master name"
            )
        for cmd in rename_commands(nic, self.master):
            run(["exec", node, *cmd], what=f"{node}: {' '.join(cmd)}")
        return mac

    def remove(self, nodes: Sequence[str] = ()) -> None:
        """Disconnect the nodes and remove the network (teardown; errors are not fatal here)."""
        for node in nodes:
            with contextlib.suppress(InfraError):
                run(["network", "disconnect", "--force", self.name, node])
        self.connected = []
        self.created = False
        try:
            if self.exists():
                run(["network", "rm", self.name], what=f"removing docker network {self.name}")
        except InfraError:
            pass
