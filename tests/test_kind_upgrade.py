"""The kind side of the upgrade check (KindUpgrade): for_upgrade(), a fresh cluster of its own,
pods kept across run() (no teardown) and released later, upgrade() driving the installer with
TO's pins, stack() before and after. Cluster, installer and matrix are stand-ins; the API
clients the release uses are create_autospec stand-ins of the pinned client's classes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client

from macmatrix.backends.kind import backend as kind_mod
from macmatrix.backends.kind import session as session_mod
from macmatrix.backends.kind.backend import KindBackend
from macmatrix.backends.kind.kube.matrix import SUBNETS
from macmatrix.backends.kind.session import KindCluster
from macmatrix.backends.kind.stack.cluster import Tools
from macmatrix.backends.kind.upgrade_session import KindUpgrade
from macmatrix.errors import BadInput
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import DEFAULTS, Case

CASE = Case(**{**DEFAULTS, "request": "none"})


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Stand-ins for the lifecycle, installer, matrix and API; returns what they record."""
    rec: dict[str, Any] = {"calls": [], "installers": []}
    calls = rec["calls"]
    monkeypatch.setenv("MACMATRIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(session_mod, "lock_path", lambda: tmp_path / "stacks.lock")
    monkeypatch.setattr(
        session_mod, "ensure_tools", lambda s, lock: Tools(tmp_path / s.kind, tmp_path / "kubectl")
    )

    class Lifecycle:
        def __init__(self, stack: Any, tools: Any, workdir: Path, keep: bool, log: Any) -> None:
            rec["cluster_name"] = stack.cluster_name()
            self.keep, self.kubeconfig, self.workdir = keep, workdir / "kubeconfig", workdir

        def up(self, fresh: bool = False) -> bool:
            calls.append(f"up fresh={fresh}")
            return False

        def nodes(self) -> list[str]:
            return ["cp", "w"]

        def down(self) -> None:
            calls.append("down")

    class Inst:
        def __init__(self, stack: Any, *args: Any, **kw: Any) -> None:
            self.stack = stack
            rec["installers"].append(stack)

        def kube_ovn(self, cluster: Any, extra_env: dict[str, str] | None = None) -> None:
            calls.append(f"kube-ovn {self.stack.kube_ovn} env={extra_env}")

        def multus(self, cluster: Any) -> None:
            calls.append(f"multus {self.stack.multus}")

        def plugins(self, nodes: list[str], replace: bool = False, extra: Any = ()) -> list[str]:
            calls.append(f"plugins {self.stack.cni_plugins} replace={replace}")
            return []

        def master_network(self, nodes: list[str]) -> Any:
            return type("Net", (), {"remove": lambda self, nodes: calls.append("net-rm")})()

    class Matrix:
        def __init__(self, core: Any, custom: Any, namespace: str, image: str, *a: Any, **k: Any):
            calls.append(f"matrix {image.rsplit(':', 1)[1]}")
            self.core, self.namespace = core, namespace
            self.subnets = ["s-1"]
            self.stats, self.waves = type("S", (), {"calls": 1})(), 1

        def setup(self, cases: Any) -> None:
            pass

        def run(self, cases: Any) -> dict[str, CaseObservation]:
            pod = PodObservation("p", interfaces={"net1": "02:00:00:00:00:01"})
            pod.network_status = [{"interface": "net1", "mac": "02:00:00:00:00:01"}]
            return {CASE.id: CaseObservation(CASE.id, pods=[pod])}

        def teardown(self) -> None:
            calls.append("teardown")

    core = create_autospec(client.CoreV1Api, instance=True)  # stand-in for the API
    custom = create_autospec(client.CustomObjectsApi, instance=True)  # stand-in
    rec["core"], rec["custom"] = core, custom
    monkeypatch.setattr(session_mod, "KindLifecycle", Lifecycle)
    monkeypatch.setattr(session_mod, "Installer", Inst)
    monkeypatch.setattr(kind_mod, "MatrixRun", Matrix)
    monkeypatch.setattr(session_mod, "new_api_client", lambda path: client.ApiClient())
    monkeypatch.setattr(kind_mod.client, "CoreV1Api", lambda api=None: core)
    monkeypatch.setattr(kind_mod.client, "CustomObjectsApi", lambda api=None: custom)
    return rec


def test_for_upgrade_names_its_own_cluster_and_reports_both_stacks(tmp_path: Path) -> None:
    b = KindUpgrade.for_upgrade("kube-ovn-v1.13", "kube-ovn-v1.14", False, tmp_path)
    s = b.stack()
    assert s["name"] == "kube-ovn-v1.13" and s["upgrade_to"] == "kube-ovn-v1.14"
    assert s["kube_ovn"] == "v1.13.15"
    with pytest.raises(BadInput, match="downgrade"):
        KindUpgrade.for_upgrade("kube-ovn-v1.14", "kube-ovn-v1.13", False, tmp_path)
    # a plain matrix backend cannot be upgraded: the upgrade is KindUpgrade's alone (item 8)
    plain = KindBackend(KindCluster.from_options("kube-ovn-v1.14", None, False, tmp_path))
    assert not hasattr(plain, "upgrade") and not hasattr(plain, "keep_pods")


def test_kept_pods_upgrade_and_release(wired: dict[str, Any], tmp_path: Path) -> None:
    calls = wired["calls"]
    b = KindUpgrade.for_upgrade(
        "kube-ovn-v1.13", "kube-ovn-v1.14", False, tmp_path / "out", log=io.StringIO()
    )
    b.keep_pods = True
    b.run([CASE])
    assert wired["cluster_name"] == "mm-up-kube-ovn-v1-13-to-v1-14-41"
    assert calls[:5] == [
        "up fresh=True",  # never a cluster an earlier check already upgraded
        "kube-ovn v1.13.15 env=None",
        "multus v4.1.3",
        "plugins v1.6.2 replace=False",
        "matrix v1.13.15",
    ]
    assert "teardown" not in calls and len(b.kept) == 1
    namespace = b.kept[0][0]
    b.keep_pods = False
    b.upgrade()
    assert calls[5:8] == [
        "kube-ovn v1.14.41 env={'DEL_NON_HOST_NET_POD': 'false'}",
        "multus v4.2.1",
        "plugins v1.9.0 replace=True",
    ]
    assert {"upgrade_kube_ovn", "upgrade_multus", "upgrade_tuning"} <= set(b.phases())
    s = b.stack()
    assert (s["name"], s["upgraded_from"], s["kube_ovn"]) == (
        "kube-ovn-v1.14",
        "kube-ovn-v1.13",
        "v1.14.41",
    )
    b.upgrade()  # once only
    assert sum(c.startswith("kube-ovn") for c in calls) == 2
    b.run([CASE])  # TO's pod image, torn down as usual
    assert calls[-2:] == ["matrix v1.14.41", "teardown"]
    b.release_kept()
    wired["core"].delete_namespace.assert_called_once_with(namespace)
    wired["custom"].delete_cluster_custom_object.assert_called_once_with(*SUBNETS, "s-1")
    assert b.kept == []
    b.close()
    assert calls[-2:] == ["down", "net-rm"]


def test_close_releases_kept_pods_only_when_the_cluster_stays(
    wired: dict[str, Any], tmp_path: Path
) -> None:
    b = KindUpgrade.for_upgrade(
        "kube-ovn-v1.15", "kube-ovn-v1.16", True, tmp_path / "out", log=io.StringIO()
    )
    b.keep_pods = True
    b.run([CASE])
    b.upgrade()
    assert "plugins v1.9.1 replace=False" in wired["calls"]  # same plugins release: kept
    b.close()  # kept cluster: the kept pods are deleted, the cluster is not
    wired["core"].delete_namespace.assert_called_once()
    assert wired["calls"][-1] == "down"  # says it keeps it
