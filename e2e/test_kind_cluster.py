"""The kind backend on a real kind cluster: create (or reuse), install the stack, run a few
cases, check what only a cluster can show. Skips, saying why, where no Docker engine answers or
the download hosts are unreachable (as on the project's CI machines).

    pytest e2e/test_kind_cluster.py -m kind [--stack kube-ovn-v1.14] [--keep-cluster]
    (or MACMATRIX_STACK=... MACMATRIX_KEEP_CLUSTER=1)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from macmatrix.backends.kind.stack import docker
from macmatrix.spec.cases import DEFAULTS, Case

pytestmark = pytest.mark.kind


def _reachable(host: str) -> bool:
    from macmatrix.backends.kind.stack.download import reachable

    return reachable(host)


def _why_not() -> str | None:
    if not docker.engine_answers():
        return "no Docker engine answers (kind needs one; see `macmatrix doctor --backend kind`)"
    offline = [h for h in ("github.com", "dl.k8s.io", "registry-1.docker.io") if not _reachable(h)]
    if offline:
        hosts = ", ".join(offline)
        return f"no internet: cannot reach {hosts} (kind, Kube-OVN and images are downloaded)"
    return None


def _option(config: pytest.Config, name: str, env: str, default: object) -> object:
    value = config.getoption(name, default=None)
    return value if value not in (None, False) else os.environ.get(env, default)


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    why = _why_not()
    if why:
        pytest.skip(why)
    from macmatrix.backends.kind.backend import KindBackend
    from macmatrix.backends.kind.session import KindCluster

    stack = str(_option(request.config, "--stack", "MACMATRIX_STACK", "kube-ovn-v1.14"))
    keep = bool(_option(request.config, "--keep-cluster", "MACMATRIX_KEEP_CLUSTER", ""))
    out = tmp_path_factory.mktemp("kind-out")
    b = KindBackend(KindCluster.from_options(stack, None, keep, out))
    try:
        yield b
    finally:
        b.close()


def case(**axes: str) -> Case:
    return Case(**{**DEFAULTS, **axes})


def test_macvlan_mac_and_kube_ovn_ipam_on_a_real_cluster(backend) -> None:  # type: ignore[no-untyped-def]
    plain = case()  # macvlan+capmac, networks element mac
    tuning = case(chain="conflist", tuning="capmac", request="cni-args")
    ipam = case(ipam="kube-ovn", request="networks", primary_mac="yes")
    obs = backend.run([plain, tuning, ipam])
    for c in (plain, tuning, ipam):
        o = obs[c.id]
        assert o.status == "ran", (c.id, o.reason)
        assert o.pods and o.pods[0].error is None, o.pods[0].error
        assert o.pods[0].interfaces["net1"] == c.requested_mac(0)
    eth0 = obs[ipam.id].pods[0].interfaces["eth0"]
    assert eth0 == ipam.requested_primary_mac(0)  # ovn.kubernetes.io/mac_address honoured
    assert obs[ipam.id].pods[0].annotations  # Kube-OVN annotations were recorded
    phases = backend.phases()
    assert {"kube_ovn_ready", "multus_ready", "nodes_ready", "matrix"} <= set(phases)
    assert ("cluster_create" in phases) or ("cluster_reuse" in phases)


def test_second_run_reuses_the_prepared_cluster_quickly(backend) -> None:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    obs = backend.run([case(request="none")])
    assert next(iter(obs.values())).status == "ran"
    assert backend.phases()["to_matrix"] < 10.0
    assert time.monotonic() - t0 < 120


def test_diagnostics_land_in_the_output_folder(backend) -> None:  # type: ignore[no-untyped-def]
    # cni-args without tuning: macvlan ignores args.cni, so the MAC is not honoured -> diagnostics
    c = case(request="cni-args")
    o = backend.run([c])[c.id]
    assert o.diagnostics and Path(o.diagnostics).is_dir()
    assert any(Path(o.diagnostics).glob("*.yaml"))
