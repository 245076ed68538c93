"""The kind backend's matrix runner: the cases of a run on the stack's cluster, in bounded waves.

Thin glue: session.KindCluster brings the cluster up (or reuses a kept one, or takes
--kubeconfig), kube/matrix runs the cases and kube/diagnostics collects what a failing case
left. The cluster is prepared lazily in run(), so constructing the backend (and --dry-run)
touches nothing. The same cluster also serves repro's single pods (pods.py) and the in-place
upgrade check (upgrade_session.py), each a class of its own.

Observes, never judges: which cases get diagnostics is the caller's call (diagnose_when; the
run layer passes "not works"); left alone it collects them for what failed outright.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from kubernetes import client

from macmatrix import data
from macmatrix.backends.base import CaseSink, Progress, no_progress
from macmatrix.backends.kind.kube.diagnostics import Diagnostics
from macmatrix.backends.kind.kube.matrix import WAVE_PODS, MatrixRun
from macmatrix.backends.kind.session import KindCluster
from macmatrix.backends.kind.stack import inventory
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.backends.kind.stack.plan import render
from macmatrix.errors import BadInput
from macmatrix.observe import CaseObservation
from macmatrix.spec import stacks
from macmatrix.spec.cases import Case
from macmatrix.types import Status

# diagnose_when(case, observation) -> whether to collect diagnostics before the teardown
DiagnosePredicate = Callable[[Case, CaseObservation], bool]
# keep(namespace, subnets): the run's pods stay (the upgrade check); the caller deletes them
KeepSink = Callable[[str, list[str]], None]


def wave_pods(env: Mapping[str, str] | None = None) -> int:
    """The most matrix pods started at once: MACMATRIX_WAVE_PODS, else kube/matrix.WAVE_PODS."""
    raw = (os.environ if env is None else env).get("MACMATRIX_WAVE_PODS", "").strip()
    if not raw:
        return WAVE_PODS
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise BadInput(
            f"MACMATRIX_WAVE_PODS={raw!r}: write how many pods to start at once, a whole "
            f"number >= 1 (default {WAVE_PODS})"
        )
    return int(raw)


def dry_run(cases: list[Case], stack_name: str, kubeconfig: str | None = None) -> str:
    """The full plan for `stack_name`: kind config, every command, every manifest; no effects."""
    stack = stacks.get(stack_name)
    path = data.lock_to_read()
    lock = Lock(path) if path.exists() else None
    return render(stack, cases, kubeconfig=kubeconfig, lock=lock, wave_pods=wave_pods())


def failed_outright(case: Case, obs: CaseObservation) -> bool:
    """Without a caller's predicate: diagnostics for a case that did not run or whose sandbox
    failed (what the observation itself says; MAC checks are the judge's)."""
    return obs.status != Status.RAN or any(p.error for p in obs.pods)


class KindBackend:
    """Backend protocol (backends/base.py): the matrix on a kind cluster, or on an existing one."""

    name = "kind"

    def __init__(self, cluster: KindCluster) -> None:
        """The matrix runner on `cluster` (its own, or the upgrade check's)."""
        self.cluster = cluster
        self.wave_pods = wave_pods()
        self.api_calls = 0
        self.waves = 0
        self._diagnose: DiagnosePredicate = failed_outright

    @property
    def log(self) -> TextIO:
        return self.cluster.log

    # ------------------------------------------------------------------ protocol
    def stack(self) -> dict[str, Any]:
        return self.cluster.stack_dict()

    def phases(self) -> dict[str, float]:
        """Seconds per phase: tools, cluster_create|cluster_reuse, kube_ovn_ready, multus_ready,
        nodes_ready (CNI plugins + master network), to_matrix (run() start -> first pod), matrix."""
        return dict(self.cluster.phases)

    def diagnose_when(self, predicate: DiagnosePredicate) -> None:
        """Which cases get diagnostics (run/runner.execute passes: judged not `works`)."""
        self._diagnose = predicate

    def run(
        self,
        cases: Sequence[Case],
        progress: Progress = no_progress,
        on_case: CaseSink | None = None,
        keep: KeepSink | None = None,
    ) -> dict[str, CaseObservation]:
        """The cases in waves in a namespace of their own, deleted afterwards unless `keep`
        takes it (namespace and Subnets)."""
        started = time.monotonic()
        cluster = self.cluster
        if not cluster.external_kubeconfig:  # our nodes: every plugin a case names must be there
            inventory.check_cases(inventory.inventory(cluster.stack), cases)
        cluster.prepare()
        api, threads, exec_fn = cluster.clients()
        namespace = f"mm-{time.strftime('%m%d%H%M')}-{secrets.token_hex(3)}"
        matrix = MatrixRun(
            client.CoreV1Api(api),
            client.CustomObjectsApi(api),
            namespace,
            cluster.pod_image,
            exec_fn,
            progress=progress,
            wave_pods=self.wave_pods,
            log=self.log,
        )
        cluster.phases["to_matrix"] = round(time.monotonic() - started, 3)
        t0 = time.monotonic()
        try:
            print(
                f"macmatrix: matrix: {len(cases)} case(s) in namespace {namespace}",
                file=self.log,
                flush=True,
            )
            matrix.setup(cases)
            observations = matrix.run(cases)
            diag = Diagnostics(matrix.core, namespace, exec_fn, cluster.out_dir, matrix.stats)
            for case in cases:
                obs = observations[case.id]
                if self._diagnose(case, obs):
                    obs.diagnostics = diag.collect(case, obs)
                if on_case:  # the cluster observes in waves: cases are final once it ends
                    on_case(obs)
            return observations
        finally:
            if keep is not None:
                keep(namespace, list(matrix.subnets))
                print(f"macmatrix: keeping the pods in {namespace}", file=self.log, flush=True)
            else:
                matrix.teardown()
            threads.close()
            api.close()
            cluster.phases["matrix"] = round(time.monotonic() - t0, 3)
            self.api_calls += matrix.stats.calls
            self.waves += matrix.waves

    def close(self) -> None:
        """Delete the cluster and its macvlan network unless kept; never an external cluster."""
        self.cluster.close()
