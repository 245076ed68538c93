"""Kube-OVN, Multus thick and the missing CNI plugins onto the cluster, as Kube-OVN's Makefile
does it (plus static and tuning, which neither kind nor Kube-OVN ship: stack/inventory.py).

Success is decided from the workloads' readiness, never from install.sh's exit code alone: its
last step copies kubectl-ko into /usr/local/bin and fails without write access there, *after*
Kube-OVN is installed. The readiness rules and the tarball extraction are pure and unit-tested.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from kubernetes import client

from macmatrix.backends.kind.kube.client import call
from macmatrix.backends.kind.kube.matrix import to_dict
from macmatrix.backends.kind.kube.podstate import IMAGE_REASONS
from macmatrix.backends.kind.kube.wait import wait_for
from macmatrix.backends.kind.stack import commands, images, inventory, script
from macmatrix.backends.kind.stack.cluster import KindLifecycle, Tools, sh
from macmatrix.backends.kind.stack.docker import MasterNetwork
from macmatrix.backends.kind.stack.download import fetch
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import InfraError
from macmatrix.spec.stacks import Stack

INSTALL_TIMEOUT_S = 1800.0
READY_TIMEOUT_S = 600.0
READY_POLL_S = 5.0
# Image pulls that keep failing for this many polls end the wait early with the image's name.
PULL_FAIL_POLLS = 12


# ----------------------------------------------------------------------------- pure rules


def image_tag(image: str) -> str:
    """`docker.io/kubeovn/kube-ovn:v1.14.41@sha256:..` -> `v1.14.41`."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def deployment_ready(dep: dict[str, Any]) -> bool:
    want = (dep.get("spec") or {}).get("replicas", 1)
    status = dep.get("status") or {}
    return (
        bool(want)
        and status.get("readyReplicas", 0) >= want
        and status.get("updatedReplicas", 0) >= want
    )


def daemonset_ready(ds: dict[str, Any]) -> bool:
    s = ds.get("status") or {}
    desired = s.get("desiredNumberScheduled", 0)
    return (
        desired > 0
        and s.get("numberReady", 0) >= desired
        and s.get("updatedNumberScheduled", desired) >= desired
    )


def first_image(workload: dict[str, Any]) -> str:
    containers = (((workload.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "containers"
    ) or [{}]
    return str(containers[0].get("image", ""))


def pull_failures(pods: list[dict[str, Any]]) -> list[str]:
    """`namespace/pod: image: reason` for every container that cannot get its image."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        for c in (status.get("initContainerStatuses") or []) + (
            status.get("containerStatuses") or []
        ):
            reason = ((c.get("state") or {}).get("waiting") or {}).get("reason")
            if reason in IMAGE_REASONS:
                out.append(
                    f"{meta.get('namespace')}/{meta.get('name')}: {c.get('image')}: {reason}"
                )
    return out


def untainted(taints: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The node's taints without the control-plane NoSchedule, or None when nothing changes.

    Kube-OVN's `make kind-install` untaints the control plane; we do too, so the matrix pods
    spread over both nodes (110 pods per node is the kubelet default).
    """
    taints = taints or []
    kept = [t for t in taints if t.get("key") not in commands.CONTROL_PLANE_TAINTS]
    return kept if len(kept) != len(taints) else None


def extract_member(tarball: Path, member: str, dest: Path) -> Path:
    """Extract one plugin binary (`./tuning` or `tuning`) from a CNI plugins tarball
    (containernetworking/plugins .github/workflows/release.yaml tars `bin/` as `.`)."""
    with tarfile.open(tarball, "r:gz") as tar:
        for info in tar.getmembers():
            if info.isfile() and info.name.lstrip("./") == member:
                src = tar.extractfile(info)
                if src is None:
                    break
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(src.read())
                dest.chmod(0o755)
                return dest
    raise InfraError(f"{tarball.name} has no {member!r}; is the CNI plugins release pinned right?")


# ----------------------------------------------------------------------------- the installer


class Installer:
    """Runs the install phases against one cluster; each phase is skipped when already done."""

    def __init__(
        self,
        stack: Stack,
        tools: Tools | None,
        lock: Lock,
        kubeconfig: Path,
        api: client.ApiClient,
        work: Path,
        log: TextIO = sys.stderr,
        cache: Path | None = None,
    ) -> None:
        self.stack, self.tools, self.lock = stack, tools, lock
        self.kubeconfig = kubeconfig
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.work = work
        self.log = log
        self.cache = cache
        self._pull_polls = 0

    def say(self, text: str) -> None:
        print(f"macmatrix: {text}", file=self.log, flush=True)

    # ------------------------------------------------------------------ readiness
    def _workload(self, kind: str, name: str) -> dict[str, Any] | None:
        read: Callable[..., Any] = (
            self.apps.read_namespaced_deployment
            if kind == "deployment"
            else self.apps.read_namespaced_daemon_set
        )
        try:
            return to_dict(call(read, name, commands.KUBE_SYSTEM))
        except client.exceptions.ApiException as e:
            if e.status == 404:
                return None
            raise

    def check_pulls(self) -> str:
        """What cannot pull its image in kube-system; InfraError once that has lasted a while."""
        listing = to_dict(call(self.core.list_namespaced_pod, commands.KUBE_SYSTEM))
        failing = pull_failures(listing.get("items") or [])
        self._pull_polls = self._pull_polls + 1 if failing else 0
        if failing and self._pull_polls >= PULL_FAIL_POLLS:
            raise InfraError(
                f"image pull failed: {failing[0]}; check internet access, or `docker pull` the "
                "image on the host (it is then loaded into the nodes)"
            )
        return f"image pull failing: {failing[0]}" if failing else ""

    def _waiting(self, state: Callable[[], str]) -> str:
        """A readiness state for a wait, with any image pull trouble in kube-system added."""
        missing = state()
        if not missing:
            return ""
        pulls = self.check_pulls()
        return f"{missing}; {pulls}" if pulls else missing

    def _wait_ready(self, state: Callable[[], str], what: str) -> None:
        """Poll `state` until it is '' (InfraError on timeout), saying now and then what is
        still missing; serves both Kube-OVN and Multus."""
        wait_for(
            lambda: self._waiting(state),
            lambda s: not s,
            READY_TIMEOUT_S,
            f"{what} to be ready",
            interval_s=READY_POLL_S,
            describe=str,
            say=self.say,
        )

    def kube_ovn_state(self) -> str:
        """'' when Kube-OVN at the stack's tag is ready, else what is missing."""
        for name in commands.KUBE_OVN_DEPLOYMENTS:
            dep = self._workload("deployment", name)
            if dep is None or not deployment_ready(dep):
                return f"deployment/{name} not ready"
        for name in commands.KUBE_OVN_DAEMONSETS:
            ds = self._workload("daemonset", name)
            if ds is None or not daemonset_ready(ds):
                return f"daemonset/{name} not ready"
        cni = self._workload("daemonset", "kube-ovn-cni") or {}
        tag = image_tag(first_image(cni))
        if tag != self.stack.kube_ovn:
            return f"kube-ovn-cni runs {tag}, the stack wants {self.stack.kube_ovn}"
        return ""

    def multus_state(self) -> str:
        ds = self._workload("daemonset", commands.MULTUS_DS)
        if ds is None:
            return f"daemonset/{commands.MULTUS_DS} missing"
        if not daemonset_ready(ds):
            return f"daemonset/{commands.MULTUS_DS} not ready"
        want = f"{self.stack.multus}-thick"
        tag = image_tag(first_image(ds))
        return "" if tag == want else f"Multus runs {tag}, the stack wants {want}"

    # ------------------------------------------------------------------ phases
    def untaint_control_plane(self) -> None:
        for node in self.core.list_node().items:
            new = untainted(to_dict(node).get("spec", {}).get("taints"))
            if new is not None and node.metadata and node.metadata.name:
                call(self.core.patch_node, node.metadata.name, {"spec": {"taints": new}})

    def kube_ovn(
        self, cluster: KindLifecycle | None, extra_env: dict[str, str] | None = None
    ) -> None:
        """Install (or, on a cluster running another tag, upgrade in place) Kube-OVN with the
        stack's install.sh; `extra_env` is what an upgrade adds (stack/upgrade.py)."""
        if not self.kube_ovn_state():
            self.say(f"Kube-OVN {self.stack.kube_ovn} already ready")
            return
        self.untaint_control_plane()
        self.preload(cluster, images.KUBE_OVN)
        assert self.tools is not None, "installing needs the pinned kubectl"
        script = self.install_script()
        self.say(f"installing Kube-OVN {self.stack.kube_ovn} (install.sh, several minutes)")
        env = commands.install_env(
            self.kubeconfig, self.tools.kubectl, bindir=commands.plugin_bin(self.work)
        )
        env.update(extra_env or {})
        rc, last = self._stream(commands.install_sh(script), env)
        if rc != 0:
            self.say(f"install.sh exited {rc} ({last}); deciding from the pods' readiness")
        try:
            self._wait_ready(self.kube_ovn_state, "Kube-OVN")
        except InfraError as e:
            raise InfraError(
                f"Kube-OVN never became ready: {e} (install.sh exit {rc}: {last})"
            ) from e

    def multus(self, cluster: KindLifecycle | None) -> None:
        if not self.multus_state():
            self.say(f"Multus {self.stack.multus}-thick already ready")
            return
        self.preload(cluster, images.MULTUS)
        source = fetch(self.stack.multus_yaml_url, self.lock, self.cache)
        manifest = self.work / f"multus-daemonset-thick-{self.stack.multus}.yml"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(commands.multus_manifest(source.read_text(), self.stack.multus))
        self.say(f"installing Multus {self.stack.multus}-thick")
        assert self.tools is not None, "installing needs the pinned kubectl"
        for argv in commands.multus_apply(self.tools.kubectl, self.kubeconfig, manifest):
            sh(argv, " ".join(argv[2:5]), timeout=360)
        self._wait_ready(self.multus_state, "Multus")

    def plugins(
        self, nodes: list[str], replace: bool = False, extra: Sequence[str] = ()
    ) -> list[str]:
        """Copy into every node the plugins the matrix (and `extra`, a pasted NAD's types) needs
        and kind/Kube-OVN/Multus do not ship (stack/inventory.py), from the stack's pinned
        plugins release, where missing; `replace` copies them everywhere (an upgrade to another
        plugins release: macvlan changes, so tuning and static must too). Returns their names."""
        names = list(inventory.inventory(self.stack, extra).installs)
        todo = {
            node: [n for n in names if replace or not _ok(commands.plugin_present(node, n))]
            for node in nodes
        }
        if not any(todo.values()):
            return names
        tarball = fetch(self.stack.cni_plugins_url(), self.lock, self.cache)
        local = {
            n: extract_member(tarball, n, self.work / f"cni-{self.stack.cni_plugins}" / n)
            for n in sorted({n for wanted in todo.values() for n in wanted})
        }
        for node, wanted in todo.items():
            if not wanted:
                continue
            self.say(
                f"copying {', '.join(wanted)} ({self.stack.cni_plugins}) into "
                f"{node}:{commands.CNI_BIN}"
            )
            for n in wanted:
                for argv in commands.plugin_copy(node, local[n], n):
                    sh(argv, " ".join(argv[:3]), timeout=120)
        return names

    def master_network(self, nodes: list[str]) -> MasterNetwork:
        net = MasterNetwork(commands.network_name(self.stack))
        macs = net.ensure(nodes)
        self.say(f"macvlan master eth1 on {len(macs)} node(s) via docker network {net.name}")
        return net

    def preload(self, cluster: KindLifecycle | None, phase: str) -> None:
        """Pull and `kind load` the images `phase` needs (stack/images.py) before it installs."""
        if cluster is None:
            return
        for item in images.preloads(self.stack, phase):
            cluster.preload(item.image)

    def install_script(self) -> Path:
        """The tag's install.sh (downloaded, verified) copied into the work folder with its
        kubectl-ko aimed at our bin folder: the host's /usr/local/bin is never written."""
        source = fetch(self.stack.install_sh_url, self.lock, self.cache)
        bindir = commands.plugin_bin(self.work)
        bindir.mkdir(parents=True, exist_ok=True)
        copy = commands.install_script_path(self.work, self.stack.kube_ovn)
        copy.write_text(commands.install_script_copy(source.read_text(), bindir))
        return copy

    def _stream(self, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
        """Run install.sh, echoing its `[Step N/6]` lines (progress) and keeping the last line;
        at INSTALL_TIMEOUT_S its whole process group is killed (InfraError naming the step)."""
        log_path = self.work / f"install-kube-ovn-{self.stack.kube_ovn}.log"

        def echo(line: str) -> None:
            if script.step_of(line) or "error" in line.lower():
                self.say(f"install.sh: {line}")

        try:
            res = script.run(argv, env, self.work, log_path, INSTALL_TIMEOUT_S, on_line=echo)
        except OSError as e:
            raise InfraError(f"cannot start install.sh: {e}") from e
        self.say(f"install.sh log: {log_path}")
        if res.timed_out:
            where = res.step or "its start (no [Step N/6] line yet)"
            raise InfraError(
                f"install.sh hung at {where}: killed after {INSTALL_TIMEOUT_S:.0f}s "
                f"with its process group; log: {log_path}"
            )
        return (res.returncode if res.returncode is not None else -1), res.last


def _ok(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
