"""The kind side of the in-place upgrade check (workflows/upgrade_check.py): a fresh cluster of
its own running FROM, the matrix with its pods kept, snapshots of the kept pods, the upgrade
to TO (stack/upgrade.py decides the steps; stack/install.py runs them) and the release of the
kept pods. The cluster is session.KindCluster's, the matrix runs are backend.KindBackend's."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import urllib3
from kubernetes import client

from macmatrix.backends.base import CaseSink, Progress, no_progress
from macmatrix.backends.kind.backend import DiagnosePredicate, KindBackend
from macmatrix.backends.kind.kube import snapshot
from macmatrix.backends.kind.kube.matrix import delete_run
from macmatrix.backends.kind.session import KindCluster
from macmatrix.backends.kind.stack import upgrade
from macmatrix.errors import InfraError
from macmatrix.observe import CaseObservation
from macmatrix.spec import stacks
from macmatrix.spec.cases import Case


class KindUpgrade:
    """Backend protocol plus what the check needs (upgrade_check.UpgradableBackend)."""

    name = "kind"

    def __init__(
        self,
        plan: upgrade.UpgradePlan,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
        log: TextIO = sys.stderr,
    ) -> None:
        self.plan = plan
        # fresh: never a cluster an earlier check already upgraded
        self.cluster = KindCluster(plan.old, None, keep_cluster, out_dir, require_lock, log, True)
        self.matrix = KindBackend(self.cluster)
        self.keep_pods = False  # keep the pods of run() (namespace, Subnets) until release_kept()
        self.kept: list[tuple[str, list[str]]] = []
        self.upgraded = False

    @classmethod
    def for_upgrade(
        cls,
        from_name: str,
        to_name: str,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
        log: TextIO = sys.stderr,
    ) -> KindUpgrade:
        """The check from stack FROM to stack TO (BadInput for a pair that is no upgrade)."""
        plan = upgrade.plan(stacks.get(from_name), stacks.get(to_name))
        return cls(plan, keep_cluster, out_dir, require_lock, log)

    # ------------------------------------------------------------------ protocol
    def stack(self) -> dict[str, Any]:
        """FROM's stack (with `upgrade_to`) before the upgrade; TO's (`upgraded_from`) after."""
        if self.upgraded:
            out = self.plan.as_stack_dict()
            out.update(self.cluster.detected)
            return out
        out = self.cluster.stack_dict()
        out["name"] = self.plan.from_name
        out["upgrade_to"] = self.plan.to_name
        return out

    def phases(self) -> dict[str, float]:
        """The matrix runner's phases, and upgrade_kube_ovn, upgrade_multus, upgrade_tuning."""
        return self.matrix.phases()

    def diagnose_when(self, predicate: DiagnosePredicate) -> None:
        self.matrix.diagnose_when(predicate)

    def run(
        self,
        cases: Sequence[Case],
        progress: Progress = no_progress,
        on_case: CaseSink | None = None,
    ) -> dict[str, CaseObservation]:
        """The matrix on the current stack; its pods are kept while `keep_pods` is set."""
        keep = self._keep if self.keep_pods else None
        return self.matrix.run(cases, progress, on_case, keep=keep)

    def _keep(self, namespace: str, subnets: list[str]) -> None:
        self.kept.append((namespace, subnets))

    @property
    def api_calls(self) -> int:
        return self.matrix.api_calls

    @property
    def waves(self) -> int:
        return self.matrix.waves

    # ------------------------------------------------------------------ the check
    def kept_snapshot(self) -> dict[str, snapshot.PodSnapshot]:
        """Every kept pod as it is now: uid, state, kernel MACs, MAC-reporting annotations."""
        if not self.kept:
            return {}
        api, threads, exec_fn = self.cluster.clients()
        try:
            return snapshot.take(client.CoreV1Api(api), [ns for ns, _ in self.kept], exec_fn)
        except (client.exceptions.ApiException, urllib3.exceptions.HTTPError) as e:
            raise InfraError(f"snapshot of the kept pods failed: {e}") from e
        finally:
            threads.close()
            api.close()

    def upgrade(self) -> None:
        """Upgrade the cluster in place from FROM to TO: the new tag's install.sh (pods of
        other workloads are not restarted), Multus when its pin changes, the copied plugins
        (static, tuning; phase `upgrade_tuning`) when the plugins release changes. Later runs
        use TO's pod image and report TO's stack."""
        if self.upgraded:
            return
        up, cluster = self.plan, self.cluster
        cluster.prepare()
        with cluster.installer(up.new) as inst:
            lifecycle = cluster.lifecycle
            assert lifecycle is not None  # installer() refuses a cluster that is not ours
            t0 = time.monotonic()
            inst.kube_ovn(lifecycle, extra_env=up.install_env())
            cluster.timed("upgrade_kube_ovn", t0)
            t0 = time.monotonic()
            inst.multus(lifecycle)  # skipped when the pin is unchanged (ready at TO's tag)
            cluster.timed("upgrade_multus", t0)
            t0 = time.monotonic()
            inst.plugins(cluster.nodes, replace=up.cni_plugins.changed)
            cluster.timed("upgrade_tuning", t0)
        cluster.stack = up.new
        cluster.pod_image = up.new.pod_image
        self.upgraded = True

    def release_kept(self) -> None:
        """Delete the kept runs' namespaces and Subnets (not waited for)."""
        if not self.kept or self.cluster.kubeconfig is None:
            self.kept = []
            return
        kept, self.kept = self.kept, []
        api = self.cluster.api_client()
        try:
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            for namespace, subnets in kept:
                delete_run(core, custom, namespace, subnets, self.cluster.log)
        finally:
            api.close()

    def close(self) -> None:
        """Kept pods on a cluster that stays are deleted; then the cluster, unless kept."""
        lifecycle = self.cluster.lifecycle
        if self.kept and (lifecycle is None or lifecycle.keep):
            try:
                self.release_kept()
            except Exception as e:  # closing must go on; say what stays behind
                print(f"macmatrix: could not delete the kept pods: {e}", file=self.cluster.log)
        self.cluster.close()
