"""The real-Multus tier (`--backend multus`) on the whole default matrix, case by case beside the
emulated-Multus netns tier with the same CNI plugins release.

The backend (macmatrix/backends/multus) plays the container runtime: the pod object in a real
kube-apiserver, the pod's network namespace, one `multus` ADD with containerd's CNI_ARGS. Multus
reads the networks annotation and the NAD from the API server, delegates to the stack's real
plugins and writes network-status back. Each case's verdict and checks must equal the netns
tier's (Multus emulated), and so must the shape of what was observed (which interfaces exist,
which network-status elements Multus wrote with which IPs and whether with a MAC); a difference
is an emulation bug or a finding (docs/real-multus.md). The runs leave nothing behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from macmatrix.backends.gobuild import cni_plugins, control_plane, multus
from macmatrix.backends.netns.backend import NetnsBackend, unavailable
from macmatrix.judge.verdict import judge
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec import cases, stacks
from macmatrix.types import Status

pytestmark = [pytest.mark.apiserver, pytest.mark.netns]

STACK_NAME = stacks.newest()
STACK = stacks.get(STACK_NAME)


def _needed() -> None:
    why = unavailable([cni_plugins.DEBIAN_DIR])
    if why:
        pytest.skip(f"netns backend unavailable: {why}")
    missing = [
        what
        for what, ok in (
            (f"kube-apiserver {STACK.kubernetes}", control_plane.cached(STACK.kubernetes)),
            (f"multus {STACK.multus}", multus.cached(STACK.multus)),
            (f"CNI plugins {STACK.cni_plugins}", cni_plugins.cached(STACK.cni_plugins)),
        )
        if not ok
    ]
    if missing:
        text = f"not built yet: {', '.join(missing)} (.ci/run builds them)"
        if os.environ.get("MACMATRIX_REQUIRE_APISERVER"):
            pytest.fail(text, pytrace=False)
        pytest.skip(text)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie is gone for our purposes only when reaped; stop() waits for it
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0


def _own_leftovers(prefix: str, paths: list[Path], pids: list[int]) -> list[str]:
    from pyroute2 import netns

    left = [n for n in netns.listnetns() if n.startswith(prefix)]
    left += [str(p) for p in paths if p.exists()]
    left += [f"pid {pid}" for pid in pids if not _gone(pid)]
    return left


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Any]]:
    """The default matrix through real Multus, then through the emulation; own leftovers."""
    _needed()
    from macmatrix.backends.multus.backend import MultusBackend

    picked = cases.load(cases.default_matrix_path())
    with MultusBackend(STACK_NAME) as mb:
        own = (mb.prefix, [mb.tmpdir, mb.cp.workdir], [p.pid for p in mb.cp._procs])
        real = mb.run(picked)
        stack = mb.stack()
    left = _own_leftovers(*own)
    with NetnsBackend([str(cni_plugins.bin_dir(STACK.cni_plugins))], label="emulated") as nb:
        emulated = nb.run(picked)
    yield {"cases": picked, "real": real, "emulated": emulated, "stack": stack, "left": left}


def _shape(pod: PodObservation) -> tuple[list[tuple[Any, ...]], list[str]]:
    """What must agree beyond the verdict: network-status elements of the attachments (name,
    interface, IPs, whether a MAC is reported) and the pod's interfaces other than eth0 (the
    emulation has no cluster network). MAC values may differ only where the kernel picks them."""
    status = [
        (s.get("name"), s.get("interface"), s.get("ips"), "mac" in s)
        for s in pod.network_status
        if not s.get("default")
    ]
    return status, sorted(i for i in pod.interfaces if i != "eth0")


def _compare(
    picked: list[cases.Case], real: dict[str, CaseObservation], emulated: dict[str, CaseObservation]
) -> tuple[list[str], list[str]]:
    """Per case `id: real OUTCOME, emulated OUTCOME`, and the cases whose verdict, checks or
    observed shape differ between real Multus and the emulation."""
    rows, differ = [], []
    for case in picked:
        real_obs, emu_obs = real[case.id], emulated[case.id]
        r, e = judge(case, real_obs), judge(case, emu_obs)
        rows.append(f"{case.id}: real {r.outcome}, emulated {e.outcome}")
        same = (r.outcome, {k: c.ok for k, c in r.checks.items()}) == (
            e.outcome,
            {k: c.ok for k, c in e.checks.items()},
        )
        shapes = [_shape(p) for p in real_obs.pods] == [_shape(p) for p in emu_obs.pods]
        if not (same and shapes):
            differ.append(
                f"{case.id}: real {r.outcome} {r.reason} {[_shape(p) for p in real_obs.pods]}"
                f" / emulated {e.outcome} {e.reason} {[_shape(p) for p in emu_obs.pods]}"
            )
    return rows, differ


def test_real_multus_agrees_with_the_emulation_case_by_case(runs: dict[str, Any]) -> None:
    rows, differ = _compare(runs["cases"], runs["real"], runs["emulated"])
    print("\n".join(rows))
    assert len(rows) == len(runs["cases"]) > 0
    assert not differ, "\n".join(differ)
    outcomes = {r.rsplit("real ", 1)[1].split(",")[0] for r in rows}
    assert {"works", "broken"} <= outcomes


# The older stacks: their own Multus (v4.1.3, v4.2.1) and plugins (v1.6.2, v1.9.0), on the newest
# stack's kube-apiserver where theirs cannot be built here (control_plane.REFUSED_BY_PROXY).
OLDER_STACKS = [n for n in stacks.stack_names() if n != STACK_NAME]


@pytest.mark.parametrize("stack_name", OLDER_STACKS)
def test_older_stack_real_multus_agrees_with_the_emulation(stack_name: str) -> None:
    st = stacks.get(stack_name)
    apiserver, substituted = control_plane.apiserver_for(st.kubernetes)
    missing = [
        what
        for what, ok in (
            (f"multus {st.multus}", multus.cached(st.multus)),
            (f"kube-apiserver {apiserver}", control_plane.cached(apiserver)),
            (f"CNI plugins {st.cni_plugins}", cni_plugins.cached(st.cni_plugins)),
        )
        if not ok
    ]
    if missing:
        # .ci/run builds every stack's Multus; elsewhere an unbuilt one is a skip
        text = f"{stack_name}: not built yet: {', '.join(missing)} (.ci/run builds them)"
        if os.environ.get("MACMATRIX_REQUIRE_APISERVER"):
            pytest.fail(text, pytrace=False)
        pytest.skip(text)
    _needed()
    from macmatrix.backends.multus.backend import MultusBackend

    picked = cases.load(cases.default_matrix_path())
    with MultusBackend(stack_name) as mb:
        own = (mb.prefix, [mb.tmpdir, mb.cp.workdir], [p.pid for p in mb.cp._procs])
        real = mb.run(picked)
        facts = mb.stack()
    assert _own_leftovers(*own) == []
    with NetnsBackend([str(cni_plugins.bin_dir(st.cni_plugins))], label="emulated") as nb:
        emulated = nb.run(picked)
    rows, differ = _compare(picked, real, emulated)
    print("\n".join(rows))
    assert len(rows) == len(picked) > 0
    assert not differ, "\n".join(differ)
    # what ran is what results.json says: the stack's Multus and plugins, and which apiserver
    assert st.multus in facts["multus"] and facts["cni_plugins"] == st.cni_plugins
    assert facts["kubernetes"].startswith(apiserver + " ")
    assert facts["kubernetes_in_stack"] == st.kubernetes
    assert facts["apiserver_substituted"] == substituted
    assert (substituted is None) == (apiserver == st.kubernetes)


def test_unsupported_only_where_the_tier_says_why(runs: dict[str, Any]) -> None:
    for case in runs["cases"]:
        obs = runs["real"][case.id]
        why = case.multus_unsupported()
        assert (obs.status == Status.UNSUPPORTED) == bool(why), case.id
        if why:
            assert why in obs.reason
    ran = [c for c in runs["cases"] if runs["real"][c.id].status != Status.UNSUPPORTED]
    assert len(ran) >= len(runs["cases"]) - 8  # only eth0-MAC and Kube-OVN IPAM cases


def test_network_status_was_written_by_multus_through_the_api(runs: dict[str, Any]) -> None:
    """Every pod whose sandbox came up carries Multus' own default-network element (the
    emulation never writes one): network-status was read back from the API server."""
    pods = [p for obs in runs["real"].values() for p in obs.pods if not p.error]
    assert pods
    for pod in pods:
        defaults = [s for s in pod.network_status if s.get("default")]
        assert [s.get("interface") for s in defaults] == ["eth0"], pod.name
        assert pod.interfaces.get("eth0"), pod.name
    assert runs["stack"]["backend"] == "multus"
    assert STACK.multus in runs["stack"]["multus"]


def test_the_run_leaves_nothing_behind(runs: dict[str, Any]) -> None:
    assert runs["left"] == []


def test_ctrl_c_mid_run_cleans_up() -> None:
    """KeyboardInterrupt from a worker (as SIGINT/SIGTERM unwinds a run): everything goes."""
    _needed()
    from macmatrix.backends.multus.backend import MultusBackend

    picked = cases.select(cases.load(cases.default_matrix_path()), "x1 and ipam-static")
    seen = threading.Event()

    def progress(done: int, total: int, message: str) -> None:
        seen.set()
        raise KeyboardInterrupt("test interrupt")

    with pytest.raises(KeyboardInterrupt), MultusBackend(STACK_NAME, workers=2) as mb:
        own = (mb.prefix, [mb.tmpdir, mb.cp.workdir], [p.pid for p in mb.cp._procs])
        mb.run(picked, progress)
    assert seen.is_set()
    assert _own_leftovers(*own) == []


REPRO_INPUTS = (
    "issue-4834",  # the report the project started from (kube-ovn IPAM substituted)
    "cni-args-tuning",
    "duplicate-mac",  # a failing delegate: Multus unwinds it
    "missing-cniversion",
    "nad-plus-networks",
    "whereabouts-tuning-cni-args",
)


@pytest.mark.parametrize("name", REPRO_INPUTS)
def test_repro_through_real_multus_agrees_with_netns(name: str) -> None:
    """`macmatrix repro FILE --backend multus`: the paste's NADs and pod go to the apiserver and
    real Multus runs them; same verdict and checks as the emulation with the same plugins."""
    _needed()
    from macmatrix.spec.userinput import load_paths, resolve
    from macmatrix.workflows import repro

    path = Path(__file__).resolve().parents[1] / "tests" / "data" / "corpus" / f"{name}.yaml"
    request = resolve(load_paths([str(path)]))
    plugins = [str(cni_plugins.bin_dir(STACK.cni_plugins))]
    real = repro.run(request, "multus", stack_name=STACK_NAME, fix=False)
    emu = repro.run(request, "netns", bin_dirs=plugins, fix=False)
    assert real["stack"]["backend"] == "multus" and STACK.multus in real["stack"]["multus"]
    assert real["outcome"] in ("works", "broken"), real["reason"]
    assert (real["outcome"], {k: c["ok"] for k, c in real["checks"].items()}) == (
        emu["outcome"],
        {k: c["ok"] for k, c in emu["checks"].items()},
    ), f"real: {real['reason']} / emulated: {emu['reason']}"
    multus_calls = [i for p in real["pods"] for i in p["invocations"] if i["plugin"] == "multus"]
    assert [i["command"] for i in multus_calls][:1] == ["ADD"]
    assert "K8S_POD_UID=" in multus_calls[0]["cni_args"]


_KILLED_CHILD = """
import json, sys, time
from macmatrix.backends.multus.backend import MultusBackend
mb = MultusBackend(sys.argv[1])
print(json.dumps({"run_id": mb.run_id, "prefix": mb.prefix, "tmpdir": str(mb.tmpdir),
                  "pids": [p.pid for p in mb.cp._procs]}), flush=True)
time.sleep(600)
"""


def test_sigkill_leaves_only_what_cleanup_removes() -> None:
    """A run killed with SIGKILL cannot clean up: etcd and kube-apiserver die with it
    (PR_SET_PDEATHSIG), and its namespaces and temp folder (the control plane's inside) are
    a recorded leftover that `macmatrix cleanup` removes."""
    _needed()
    import json
    import signal
    import subprocess
    import sys

    from macmatrix.backends.kind.kube.wait import wait_for
    from macmatrix.backends.netns import runs

    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, STACK_NAME],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # the kernel delivers PDEATHSIG at once; this only waits for the processes to exit
    alive = wait_for(
        lambda: [p for p in info["pids"] if not _gone(p)],
        lambda left: not left,
        30,
        "etcd and kube-apiserver of the killed run to exit",
        interval_s=0.2,
    )
    assert alive == []
    mine = [left for left in runs.leftovers() if left.record.run_id == info["run_id"]]
    assert len(mine) == 1 and mine[0].namespaces and mine[0].tmpdir
    runs.remove(mine[0])
    assert _own_leftovers(info["prefix"], [Path(info["tmpdir"])], info["pids"]) == []
