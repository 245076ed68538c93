"""The kind backend: a real kind cluster with Kube-OVN and Multus, the matrix on it, diagnostics.

Thin glue: stack/ brings the cluster up (or reuses a kept one, or takes --kubeconfig), kube/
runs the matrix in bounded waves and collects diagnostics. The cluster is created lazily in
run(), so constructing the backend (and --dry-run) touches nothing.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import urllib3
from kubernetes import client

from macmatrix import data
from macmatrix.backends.base import AttachmentLike, CaseSink, Progress, no_progress
from macmatrix.backends.kind.kube import snapshot
from macmatrix.backends.kind.kube.client import (
    ExecResult,
    ThreadClients,
    exec_in_pod,
    new_api_client,
)
from macmatrix.backends.kind.kube.diagnostics import Diagnostics
from macmatrix.backends.kind.kube.matrix import CONTAINER, WAVE_PODS, MatrixRun, delete_run
from macmatrix.backends.kind.kube.single import PodSpec, SinglePod
from macmatrix.backends.kind.stack import inventory, upgrade
from macmatrix.backends.kind.stack.cluster import KindLifecycle, ensure_tools
from macmatrix.backends.kind.stack.docker import MasterNetwork
from macmatrix.backends.kind.stack.download import cache_dir
from macmatrix.backends.kind.stack.install import Installer, first_image, image_tag
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.backends.kind.stack.plan import render
from macmatrix.errors import BadInput, InfraError
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec import stacks
from macmatrix.spec.cases import Case


def lock_path() -> Path:
    """clusters/stacks.lock of the checkout; installed, the user's copy (macmatrix/data)."""
    return data.lock_path()


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


class KindBackend:
    """Backend protocol (backends/base.py) on a kind cluster, or on an existing one."""

    name = "kind"

    def __init__(
        self,
        stack: stacks.Stack,
        kubeconfig: str | None,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
        log: TextIO = sys.stderr,
    ) -> None:
        self._stack = stack
        self.external_kubeconfig = kubeconfig
        self.keep_cluster = keep_cluster
        self.out_dir = Path(out_dir)
        self.require_lock = require_lock
        self.log = log
        self._phases: dict[str, float] = {}
        self._detected: dict[str, str] = {}
        self._cluster: KindLifecycle | None = None
        self._network: MasterNetwork | None = None
        self._nodes: list[str] = []
        self._kubeconfig: Path | None = Path(kubeconfig) if kubeconfig else None
        self._ready = False
        self._pod_image = stack.pod_image
        self.wave_pods = wave_pods()
        self.api_calls = 0
        self.waves = 0
        # upgrade check: keep the pods of run() (namespace, Subnets) until release_kept()
        self.keep_pods = False
        self._kept: list[tuple[str, list[str]]] = []
        self._upgrade: upgrade.UpgradePlan | None = None
        self._upgraded = False
        self._fresh = False
        self._extra_plugins: list[str] = []  # a repro's pasted types (need_plugins)

    @classmethod
    def from_options(
        cls,
        stack_name: str,
        kubeconfig: str | None,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
    ) -> KindBackend:
        stack = stacks.get(stack_name)
        if kubeconfig and not Path(kubeconfig).is_file():
            raise BadInput(f"--kubeconfig: {kubeconfig} is not a file; pass a readable kubeconfig")
        if kubeconfig and keep_cluster:
            raise BadInput(
                "--keep-cluster: an existing cluster (--kubeconfig) is never deleted; "
                "drop --keep-cluster"
            )
        return cls(stack, kubeconfig, keep_cluster, out_dir, require_lock)

    @classmethod
    def for_upgrade(
        cls,
        from_name: str,
        to_name: str,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
    ) -> KindBackend:
        """A backend for the in-place upgrade check: a fresh cluster of its own running FROM;
        upgrade() moves it to TO (see stack/upgrade.py and stack/upgrade_check.py)."""
        plan = upgrade.plan(stacks.get(from_name), stacks.get(to_name))
        backend = cls(plan.old, None, keep_cluster, out_dir, require_lock)
        backend._upgrade = plan
        backend._fresh = True
        return backend

    # ------------------------------------------------------------------ protocol
    def stack(self) -> dict[str, Any]:
        if self._upgrade is not None and self._upgraded:
            out = self._upgrade.as_stack_dict()
        else:
            out = self._stack.as_stack_dict()
            if self._upgrade is not None:
                out["name"] = self._upgrade.from_name
                out["upgrade_to"] = self._upgrade.to_name
        out.update(self._detected)
        return out

    def phases(self) -> dict[str, float]:
        """Seconds per phase: tools, cluster_create|cluster_reuse, kube_ovn_ready, multus_ready,
        nodes_ready (CNI plugins + master network), to_matrix (run() start -> first pod), matrix."""
        return dict(self._phases)

    def run(
        self,
        cases: Sequence[Case],
        progress: Progress = no_progress,
        on_case: CaseSink | None = None,
    ) -> dict[str, CaseObservation]:
        started = time.monotonic()
        if not self.external_kubeconfig:  # our nodes: every plugin a case names must be there
            inventory.check_cases(inventory.inventory(self._stack), cases)
        self._prepare()
        api, threads, exec_fn = self._clients()
        namespace = f"mm-{time.strftime('%m%d%H%M')}-{secrets.token_hex(3)}"
        matrix = MatrixRun(
            client.CoreV1Api(api),
            client.CustomObjectsApi(api),
            namespace,
            self._pod_image,
            exec_fn,
            progress=progress,
            wave_pods=self.wave_pods,
            log=self.log,
        )
        self._phases["to_matrix"] = round(time.monotonic() - started, 3)
        t0 = time.monotonic()
        try:
            print(
                f"macmatrix: matrix: {len(cases)} case(s) in namespace {namespace}",
                file=self.log,
                flush=True,
            )
            matrix.setup(cases)
            observations = matrix.run(cases)
            diag = Diagnostics(matrix.core, namespace, exec_fn, self.out_dir, matrix.stats)
            for case in cases:
                obs = observations[case.id]
                if needs_diagnostics(case, obs):
                    obs.diagnostics = diag.collect(case, obs)
                if on_case:  # the cluster observes in waves: cases are final once it ends
                    on_case(obs)
            return observations
        finally:
            if self.keep_pods:
                self._kept.append((namespace, list(matrix.subnets)))
                print(f"macmatrix: keeping the pods in {namespace}", file=self.log, flush=True)
            else:
                matrix.teardown()
            threads.close()
            api.close()
            self._phases["matrix"] = round(time.monotonic() - t0, 3)
            self.api_calls += matrix.stats.calls
            self.waves += matrix.waves

    def _clients(self) -> tuple[client.ApiClient, ThreadClients, snapshot.ExecFn]:
        """An API client, per-thread clients for exec, and exec into a pod's container; the
        caller closes both clients (run, kept_snapshot, run_pod)."""
        assert self._kubeconfig is not None
        kubeconfig = str(self._kubeconfig)
        api = new_api_client(kubeconfig)
        threads = ThreadClients(lambda: new_api_client(kubeconfig))

        def exec_fn(namespace: str, pod: str, argv: list[str]) -> ExecResult:
            return exec_in_pod(threads.get(), namespace, pod, argv, container=CONTAINER)

        return api, threads, exec_fn

    # ------------------------------------------------------------------ upgrade check
    def kept_snapshot(self) -> dict[str, snapshot.PodSnapshot]:
        """Every kept pod as it is now: uid, state, kernel MACs, MAC-reporting annotations."""
        if not self._kept:
            return {}
        api, threads, exec_fn = self._clients()
        try:
            return snapshot.take(client.CoreV1Api(api), [ns for ns, _ in self._kept], exec_fn)
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
        up = self._upgrade
        if up is None:
            raise BadInput("upgrade: this backend was not made with KindBackend.for_upgrade")
        if self._upgraded:
            return
        self._prepare()
        cluster = self._cluster
        if cluster is None or self._kubeconfig is None:
            raise BadInput("upgrade: needs the check's own kind cluster, not --kubeconfig")
        lock = Lock(lock_path(), require=self.require_lock)
        tools = ensure_tools(up.new, lock)
        api = new_api_client(str(self._kubeconfig))
        try:
            inst = Installer(up.new, tools, lock, self._kubeconfig, api, cluster.workdir, self.log)
            t0 = time.monotonic()
            inst.kube_ovn(cluster, extra_env=up.install_env())
            self._timed("upgrade_kube_ovn", t0)
            t0 = time.monotonic()
            inst.multus(cluster)  # skipped when the pin is unchanged (already ready at TO's tag)
            self._timed("upgrade_multus", t0)
            t0 = time.monotonic()
            inst.plugins(self._nodes, replace=up.cni_plugins.changed)
            self._timed("upgrade_tuning", t0)
        finally:
            api.close()
        self._stack = up.new
        self._pod_image = up.new.pod_image
        self._upgraded = True

    def release_kept(self) -> None:
        """Delete the kept runs' namespaces and Subnets (not waited for)."""
        if not self._kept or self._kubeconfig is None:
            self._kept = []
            return
        kept, self._kept = self._kept, []
        api = new_api_client(str(self._kubeconfig))
        try:
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            for namespace, subnets in kept:
                delete_run(core, custom, namespace, subnets, self.log)
        finally:
            api.close()

    # ------------------------------------------------------------------ repro
    def run_pod(
        self,
        pod_name: str,
        namespace: str,
        attachments: Sequence[AttachmentLike],
        annotations: dict[str, str],
    ) -> PodObservation:
        """One pod with the given NADs (configs exactly as given) on the cluster; everything it
        created is deleted again. Diagnostics land in OUT/diagnostics/ when it fails."""
        [got] = self.run_pods([PodSpec(pod_name, namespace, list(attachments), annotations)])
        if isinstance(got, str):
            where = f"{namespace}/{pod_name}"
            raise InfraError(got if where in got else f"repro pod {where}: {got}")
        return got

    def run_pods(self, specs: Sequence[PodSpec]) -> list[PodObservation | str]:
        """Several pods in one wave (the fix search's candidates): per spec its observation or
        the infra problem that stopped it; everything created is deleted again."""
        self._prepare()
        api, threads, exec_fn = self._clients()
        runner = SinglePod(
            client.CoreV1Api(api),
            client.CustomObjectsApi(api),
            self._pod_image,
            exec_fn,
            self.out_dir,
            log=self.log,
        )
        try:
            return runner.run_wave(specs)
        finally:
            self.api_calls += runner.stats.calls
            threads.close()
            api.close()

    def need_plugins(self, needed: Mapping[str, str]) -> str | None:
        """For a repro: the plugin types its pasted NADs name (type -> network). None when the
        nodes will have them all (those the stack's plugins release has but the nodes lack are
        copied in when the cluster is prepared), else why the input cannot run here."""
        inv = inventory.inventory(self._stack, list(needed))
        try:
            inventory.check(inv, needed)
        except inventory.MissingPlugin as e:
            return str(e)
        self._extra_plugins = sorted(needed)
        return None

    def close(self) -> None:
        """Delete the cluster and its macvlan network unless kept; never an external cluster."""
        if self._kept and (self._cluster is None or self._cluster.keep):
            try:
                self.release_kept()
            except Exception as e:  # closing must go on; say what stays behind
                print(f"macmatrix: could not delete the kept pods: {e}", file=self.log)
        if self._cluster is None:
            return
        cluster, self._cluster = self._cluster, None
        if cluster.keep:
            cluster.down()  # says it keeps it
            return
        try:
            cluster.down()
        finally:
            if self._network is not None:
                self._network.remove(self._nodes)

    # ------------------------------------------------------------------ bring-up
    def _timed(self, phase: str, t0: float) -> None:
        self._phases[phase] = round(time.monotonic() - t0, 3)
        print(
            f"macmatrix: {phase.replace('_', ' ')} in {self._phases[phase]:.1f}s",
            file=self.log,
            flush=True,
        )

    def _prepare(self) -> None:
        if self._ready:
            return
        if self.external_kubeconfig:
            self._check_external()
            self._ready = True
            return
        lock = Lock(lock_path(), require=self.require_lock)
        t0 = time.monotonic()
        tools = ensure_tools(self._stack, lock)
        self._phases["tools"] = round(time.monotonic() - t0, 3)
        t0 = time.monotonic()
        workdir = cache_dir() / "clusters" / self._stack.cluster_name()
        cluster = KindLifecycle(self._stack, tools, workdir, self.keep_cluster, self.log)
        self._cluster = cluster
        reused = cluster.up(fresh=True) if self._fresh else cluster.up()
        self._kubeconfig = cluster.kubeconfig
        self._timed("cluster_reuse" if reused else "cluster_create", t0)
        self._nodes = cluster.nodes()
        api = new_api_client(str(cluster.kubeconfig))
        try:
            inst = Installer(self._stack, tools, lock, cluster.kubeconfig, api, workdir, self.log)
            t0 = time.monotonic()
            inst.kube_ovn(cluster)
            self._timed("kube_ovn_ready", t0)
            t0 = time.monotonic()
            inst.multus(cluster)
            self._timed("multus_ready", t0)
            t0 = time.monotonic()
            inst.plugins(self._nodes, extra=self._extra_plugins)
            self._network = inst.master_network(self._nodes)
            self._timed("nodes_ready", t0)
        finally:
            api.close()
        self._ready = True

    def _check_external(self) -> None:
        """An existing cluster gets no installs: check it has what the matrix needs."""
        assert self._kubeconfig is not None
        api = new_api_client(str(self._kubeconfig))
        try:
            self._check_external_with(api)
        except (client.exceptions.ApiException, urllib3.exceptions.HTTPError, OSError) as e:
            raise InfraError(f"--kubeconfig {self._kubeconfig}: cannot use the cluster: {e}") from e
        finally:
            api.close()

    def _check_external_with(self, api: client.ApiClient) -> None:
        assert self._kubeconfig is not None
        inst = Installer(self._stack, None, Lock(lock_path()), self._kubeconfig, api, self.out_dir)
        problems = []
        for what, state in (("Kube-OVN", inst.kube_ovn_state()), ("Multus", inst.multus_state())):
            if state and "wants" in state:
                print(
                    f"macmatrix: warning: {state}; recording the cluster's versions", file=self.log
                )
            elif state:
                problems.append(f"{what}: {state}")
        self._detected = self._detect_versions(inst)
        cni = inst._workload("daemonset", "kube-ovn-cni")
        if cni and first_image(cni):
            self._pod_image = first_image(cni)  # on every node already
        if problems:
            raise InfraError(f"--kubeconfig {self._kubeconfig}: " + "; ".join(problems))

    @staticmethod
    def _detect_versions(inst: Installer) -> dict[str, str]:
        from macmatrix.backends.kind.stack import commands

        out: dict[str, str] = {"name": f"{inst.stack.name} (existing cluster)"}
        cni = inst._workload("daemonset", "kube-ovn-cni")
        if cni:
            out["kube_ovn"] = image_tag(first_image(cni))
        multus = inst._workload("daemonset", commands.MULTUS_DS)
        if multus:
            out["multus"] = image_tag(first_image(multus)).removesuffix("-thick")
        try:
            version = client.VersionApi(inst.core.api_client).get_code()
            out["kubernetes"] = str(version.git_version)
        except Exception:  # version is informative only
            pass
        return out


def needs_diagnostics(case: Case, obs: CaseObservation) -> bool:
    """Every case that is not fully fine gets diagnostics; verdict.judge decides 'fine' so the
    backend does not grow a second notion of it (it records, it does not judge the result)."""
    from macmatrix.judge.verdict import judge
    from macmatrix.types import Outcome

    return judge(case, obs).outcome != Outcome.WORKS
