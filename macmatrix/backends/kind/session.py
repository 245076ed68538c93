"""The kind cluster's life: bring it up once (or reuse a kept one, or take --kubeconfig), hand
out API clients, take it down. Shared by the three users of a cluster, each its own module:
the matrix runner (backend.py), the single-pod runner of repro and the fix search (pods.py) and
the in-place upgrade check (upgrade_session.py).

The cluster is brought up lazily by prepare(), so constructing a session (and --dry-run)
touches nothing.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import urllib3
from kubernetes import client

from macmatrix import data
from macmatrix.backends.kind.kube import snapshot
from macmatrix.backends.kind.kube.client import (
    ExecResult,
    ThreadClients,
    exec_in_pod,
    new_api_client,
)
from macmatrix.backends.kind.kube.matrix import CONTAINER
from macmatrix.backends.kind.stack.cluster import KindLifecycle, ensure_tools
from macmatrix.backends.kind.stack.docker import MasterNetwork
from macmatrix.backends.kind.stack.download import cache_dir
from macmatrix.backends.kind.stack.install import Installer, first_image, image_tag
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import BadInput, InfraError
from macmatrix.spec import stacks


def lock_path() -> Path:
    """clusters/stacks.lock of the checkout; installed, the user's copy (macmatrix/data)."""
    return data.lock_path()


class KindCluster:
    """One cluster for one stack: ours (kind, created or a kept one reused) or --kubeconfig's."""

    def __init__(
        self,
        stack: stacks.Stack,
        kubeconfig: str | None,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
        log: TextIO = sys.stderr,
        fresh: bool = False,
    ) -> None:
        """`fresh`: delete a cluster of the same name first (the upgrade check)."""
        self.stack = stack
        self.external_kubeconfig = kubeconfig
        self.keep_cluster = keep_cluster
        self.out_dir = Path(out_dir)
        self.require_lock = require_lock
        self.log = log
        self.fresh = fresh
        self.phases: dict[str, float] = {}
        self.detected: dict[str, str] = {}  # an existing cluster's own versions
        self.lifecycle: KindLifecycle | None = None
        self.network: MasterNetwork | None = None
        self.nodes: list[str] = []
        self.kubeconfig: Path | None = Path(kubeconfig) if kubeconfig else None
        self.ready = False
        self.pod_image = stack.pod_image
        self.extra_plugins: list[str] = []  # a repro's pasted types (KindPods.need_plugins)

    @classmethod
    def from_options(
        cls,
        stack_name: str,
        kubeconfig: str | None,
        keep_cluster: bool,
        out_dir: Path,
        require_lock: bool = False,
    ) -> KindCluster:
        """The command line's choice, checked: one line and exit 2 for what cannot be."""
        stack = stacks.get(stack_name)
        if kubeconfig and not Path(kubeconfig).is_file():
            raise BadInput(f"--kubeconfig: {kubeconfig} is not a file; pass a readable kubeconfig")
        if kubeconfig and keep_cluster:
            raise BadInput(
                "--keep-cluster: an existing cluster (--kubeconfig) is never deleted; "
                "drop --keep-cluster"
            )
        return cls(stack, kubeconfig, keep_cluster, out_dir, require_lock)

    def stack_dict(self) -> dict[str, Any]:
        """results.json `stack`: the stack's pins, and what an existing cluster really runs."""
        out = self.stack.as_stack_dict()
        out.update(self.detected)
        return out

    # ------------------------------------------------------------------ clients
    def api_client(self) -> client.ApiClient:
        """A new API client on the prepared cluster; the caller closes it."""
        assert self.kubeconfig is not None
        return new_api_client(str(self.kubeconfig))

    def clients(self) -> tuple[client.ApiClient, ThreadClients, snapshot.ExecFn]:
        """An API client, per-thread clients for exec, and exec into a pod's container; the
        caller closes both clients."""
        assert self.kubeconfig is not None
        kubeconfig = str(self.kubeconfig)
        api = new_api_client(kubeconfig)
        threads = ThreadClients(lambda: new_api_client(kubeconfig))

        def exec_fn(namespace: str, pod: str, argv: list[str]) -> ExecResult:
            return exec_in_pod(threads.get(), namespace, pod, argv, container=CONTAINER)

        return api, threads, exec_fn

    @contextmanager
    def installer(self, stack: stacks.Stack) -> Iterator[Installer]:
        """An installer of `stack`'s pins into our own cluster (the upgrade installs TO's)."""
        if self.lifecycle is None or self.kubeconfig is None:
            raise BadInput("upgrade: needs the check's own kind cluster, not --kubeconfig")
        lock = Lock(lock_path(), require=self.require_lock)
        tools = ensure_tools(stack, lock)
        api = new_api_client(str(self.kubeconfig))
        try:
            yield Installer(
                stack, tools, lock, self.kubeconfig, api, self.lifecycle.workdir, self.log
            )
        finally:
            api.close()

    # ------------------------------------------------------------------ bring-up
    def timed(self, phase: str, t0: float) -> None:
        """Record seconds since `t0` as `phase` and say it."""
        self.phases[phase] = round(time.monotonic() - t0, 3)
        print(
            f"macmatrix: {phase.replace('_', ' ')} in {self.phases[phase]:.1f}s",
            file=self.log,
            flush=True,
        )

    def prepare(self) -> None:
        """Bring the cluster up once: tools, cluster, Kube-OVN, Multus, node plugins, master
        network (phases tools, cluster_create|cluster_reuse, kube_ovn_ready, multus_ready,
        nodes_ready); an existing cluster is only checked."""
        if self.ready:
            return
        if self.external_kubeconfig:
            self._check_external()
            self.ready = True
            return
        lock = Lock(lock_path(), require=self.require_lock)
        t0 = time.monotonic()
        tools = ensure_tools(self.stack, lock)
        self.phases["tools"] = round(time.monotonic() - t0, 3)
        t0 = time.monotonic()
        workdir = cache_dir() / "clusters" / self.stack.cluster_name()
        cluster = KindLifecycle(self.stack, tools, workdir, self.keep_cluster, self.log)
        self.lifecycle = cluster
        reused = cluster.up(fresh=True) if self.fresh else cluster.up()
        self.kubeconfig = cluster.kubeconfig
        self.timed("cluster_reuse" if reused else "cluster_create", t0)
        self.nodes = cluster.nodes()
        api = new_api_client(str(cluster.kubeconfig))
        try:
            inst = Installer(self.stack, tools, lock, cluster.kubeconfig, api, workdir, self.log)
            t0 = time.monotonic()
            inst.kube_ovn(cluster)
            self.timed("kube_ovn_ready", t0)
            t0 = time.monotonic()
            inst.multus(cluster)
            self.timed("multus_ready", t0)
            t0 = time.monotonic()
            inst.plugins(self.nodes, extra=self.extra_plugins)
            self.network = inst.master_network(self.nodes)
            self.timed("nodes_ready", t0)
        finally:
            api.close()
        self.ready = True

    def close(self) -> None:
        """Delete the cluster and its macvlan network unless kept; never an external cluster."""
        if self.lifecycle is None:
            return
        cluster, self.lifecycle = self.lifecycle, None
        if cluster.keep:
            cluster.down()  # says it keeps it
            return
        try:
            cluster.down()
        finally:
            if self.network is not None:
                self.network.remove(self.nodes)

    # ------------------------------------------------------------------ --kubeconfig
    def _check_external(self) -> None:
        """An existing cluster gets no installs: check it has what the matrix needs."""
        assert self.kubeconfig is not None
        api = new_api_client(str(self.kubeconfig))
        try:
            self._check_external_with(api)
        except (client.exceptions.ApiException, urllib3.exceptions.HTTPError, OSError) as e:
            raise InfraError(f"--kubeconfig {self.kubeconfig}: cannot use the cluster: {e}") from e
        finally:
            api.close()

    def _check_external_with(self, api: client.ApiClient) -> None:
        assert self.kubeconfig is not None
        inst = Installer(self.stack, None, Lock(lock_path()), self.kubeconfig, api, self.out_dir)
        problems = []
        for what, state in (("Kube-OVN", inst.kube_ovn_state()), ("Multus", inst.multus_state())):
            if state and "wants" in state:
                print(
                    f"macmatrix: warning: {state}; recording the cluster's versions", file=self.log
                )
            elif state:
                problems.append(f"{what}: {state}")
        self.detected = self._detect_versions(inst)
        cni = inst._workload("daemonset", "kube-ovn-cni")
        if cni and first_image(cni):
            self.pod_image = first_image(cni)  # on every node already
        if problems:
            raise InfraError(f"--kubeconfig {self.kubeconfig}: " + "; ".join(problems))

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
