"""The netns backend with the real plugins: host untouched, cleanup on signals, parallel runs.

Needs root and Debian's containernetworking-plugins; skips saying so otherwise.
"""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from macmatrix.backends.netns import runs
from macmatrix.backends.netns.backend import (
    Attachment,
    NetnsBackend,
    leftover_namespaces,
    unavailable,
)
from macmatrix.spec import cases

pytestmark = pytest.mark.netns

WHY_NOT = unavailable()
if WHY_NOT:
    pytest.skip(f"netns backend unavailable: {WHY_NOT}", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]


# Links that other runs on a shared host create and change while this test runs (Docker's
# bridges and veths from a concurrent Docker-network test): not ours to judge.
OTHERS = ("docker", "br-", "veth")


def host_links() -> dict[int, tuple[str, str, str]]:
    """ifindex -> (name, MAC, operstate) of every link in the host's namespace."""
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, check=True).stdout
    return {
        link["ifindex"]: (link["ifname"], link.get("address", ""), link["operstate"])
        for link in json.loads(out)
    }


def assert_host_untouched(before: dict[int, tuple[str, str, str]]) -> None:
    """Every host link from before is still there, unchanged, and no new one appeared (the
    backend builds everything inside namespaces); Docker's links, which other runs on a shared
    host add and change meanwhile, are left out."""
    after = host_links()
    kept = {i: v for i, v in before.items() if not v[0].startswith(OTHERS)}
    assert {i: after.get(i) for i in kept} == kept
    assert not [v for i, v in after.items() if i not in before and not v[0].startswith(OTHERS)]


def test_host_links_are_the_same_before_and_after_a_run() -> None:
    before = host_links()
    cs = cases.select(cases.load(cases.default_matrix_path()), "x1 and ipam-static")
    with NetnsBackend() as nb:
        obs = nb.run(cs)
    assert len(obs) == len(cs) and any(o.pods for o in obs.values())
    assert_host_untouched(before)
    assert not leftover_namespaces(nb.prefix)


def test_run_pod_honours_the_element_mac_with_the_real_plugin() -> None:
    conf = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth7", "ipam": {"type": "static"}}
    element = {"name": "mv", "mac": "02:12:34:56:78:9a", "ips": ["10.5.0.2/24"]}
    with NetnsBackend() as nb:
        obs = nb.run_pod("p", "ns", [Attachment("ns/mv", conf, element)])
        prefix = nb.prefix
    assert obs.error is None
    assert obs.interfaces == {"net1": "02:12:34:56:78:9a"}
    assert obs.network_status[0]["mac"] == "02:12:34:56:78:9a"
    add, dele = obs.invocations[0], obs.invocations[-1]
    assert add["command"] == "ADD" and "MAC=02:12:34:56:78:9a" in add["cni_args"]
    assert add["stdin"]["name"] == "mv"  # Multus fills the name from the NAD
    assert "runtimeConfig" not in add["stdin"]  # no capabilities.mac declared
    assert dele["command"] == "DEL" and dele["error"] is None
    assert not [n for n in leftover_namespaces() if n.startswith(prefix)]


def test_a_failed_delegate_leaves_no_interface_as_multus_unwinds_it() -> None:
    """Multus DELs every delegate it added, the failed one too, before it answers the error
    (multus-cni pkg/multus/multus.go CmdAdd -> delPlugins); seen against real Multus."""
    conf = {
        "cniVersion": "1.0.0",
        "plugins": [
            {"type": "macvlan", "master": "eth7", "ipam": {"type": "static"}},
            {"type": "tuning", "mac": "not-a-mac"},
        ],
    }
    element = {"name": "mv", "ips": ["10.5.0.3/24"]}
    with NetnsBackend() as nb:
        obs = nb.run_pod("p", "ns", [Attachment("ns/mv", conf, element)])
    assert obs.error and "tuning" in obs.error
    assert obs.interfaces == {}  # macvlan's net1 went with the unwinding DEL
    assert obs.network_status == []
    calls = [(i["plugin"], i["command"]) for i in obs.invocations]
    assert calls[:4] == [
        ("macvlan", "ADD"),
        ("tuning", "ADD"),
        ("tuning", "DEL"),
        ("macvlan", "DEL"),
    ]


def test_two_runs_at_once_do_not_collide() -> None:
    cs = cases.select(cases.load(cases.default_matrix_path()), "tuning-capmac and cni-1.0.0")
    results: list[dict] = []

    def one() -> None:
        with NetnsBackend(workers=2) as nb:
            results.append(nb.run(cs))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2
    for r in results:
        assert all(o.status != "infra-error" for o in r.values()), [o.reason for o in r.values()]


def interrupt_once_namespaces_exist(argv: list[str], sig: int) -> subprocess.Popen[bytes]:
    """Start `argv`, send `sig` as soon as its run has made a namespace, wait for it to exit.

    Looks only at the child's own run (its run record names the prefix): other runs on this
    host may create and remove `mm-` namespaces meanwhile.
    """
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    mine: list[runs.RunRecord] = []
    while time.monotonic() < deadline and not (mine and mine[0].namespaces()):
        mine = runs.find(proc.pid)
        time.sleep(0.005)
    assert mine and mine[0].namespaces(), "the run never created its namespaces"
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert leftover_namespaces(mine[0].prefix) == []
    assert not mine[0].path().exists()  # the run's record went with it
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_namespace_behind(tmp_path: Path, sig: int) -> None:
    argv = [sys.executable, "-m", "macmatrix.cli", "run", "--backend", "netns", "-q"]
    proc = interrupt_once_namespaces_exist([*argv, "--out", str(tmp_path), "--workers", "2"], sig)
    assert proc.returncode == 3
    doc = json.loads((tmp_path / "results.json").read_text())  # still a valid file
    assert doc["complete"] is False
    reasons = collections.Counter((c["outcome"], c["reason"][:60]) for c in doc["cases"])
    # (failed once in a loaded CI run, not reproduced since: the counts say what the run recorded)
    assert any(c["reason"].startswith("unfinished") for c in doc["cases"]), reasons


def test_sigterm_to_pytest_run_leaves_no_namespace_behind(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pytest", "e2e/test_mac_matrix.py", "--backend", "netns"]
    argv += ["-q", "-p", "no:cacheprovider", "--out", str(tmp_path), "--workers", "2"]
    proc = interrupt_once_namespaces_exist(argv, signal.SIGTERM)
    assert proc.returncode != 0
