"""The netns backend: real CNI plugin binaries in real network namespaces, no cluster.

Per run there is one "node" namespace holding the macvlan masters (veths whose peers live in a
"lan" namespace of the run; which links a plugin needs comes from spec/plugins) and any bridge a
bridge plugin makes, and one namespace per pod. Plugins execute inside the node namespace
through nsenter, so the host's own interfaces are never looked up or touched. All replicas of a
case exist at once on the same masters, like pods on one kind worker. Everything is removed in
close(), which the context manager, the CLI and the pytest fixture call also on errors and signals.
Not root, the process first enters a user namespace of its own (rootless.py) and runs the very
same code there.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netns import setns

from macmatrix import macs
from macmatrix.backends import plugin_binaries
from macmatrix.backends.base import (
    DEFAULT_PLUGIN_TIMEOUT_S,
    AttachmentLike,
    CaseSink,
    Progress,
    check_plugin_timeout,
    check_workers,
    no_progress,
    run_pool,
)
from macmatrix.backends.netns import rootless, runs, state_paths
from macmatrix.backends.netns.runs import NS_PREFIX, TUNING_STATE_DIR
from macmatrix.build import ipam_substitute, manifests
from macmatrix.build.cni import (
    DEFAULT_BIN_DIRS,
    Cancelled,
    CNIError,
    CNIRuntime,
    Invocation,
    PluginTimeout,
    delegate_conf,
    element_ifname,
    multus_runtime_conf,
)
from macmatrix.errors import BadInput, InfraError
from macmatrix.observe import CaseObservation, PodObservation, network_status_entries
from macmatrix.spec.cases import Case
from macmatrix.spec.netconf import is_reported_key, plugin_types, plugins_of
from macmatrix.spec.plugins import node_links
from macmatrix.types import Status

NETNS_DIR = Path("/run/netns")
NEEDS_CAPS = (
    "the netns backend needs CAP_SYS_ADMIN and CAP_NET_ADMIN: run as root outside a restricted "
    "container (or with --cap-add SYS_ADMIN --cap-add NET_ADMIN)"
)
# DEL after a failed or hung ADD: the pod is torn down anyway (its namespace goes), so a DEL that
# hangs too must not cost a second full timeout.
DEL_AFTER_FAILURE_S = 5.0
# A plugin that hung on this many cases is not called again in this run (circuit breaker): the
# rest of its cases are infra-error "not tried", never retried, and the run ends in about one
# timeout instead of one per case.
BREAKER_CASES = 3
NAMESPACE = "macmatrix"  # the Kubernetes namespace the pods pretend to live in


@dataclass
class Attachment:
    """One networks element with its NAD config, as written (never normalised)."""

    network: str  # "<namespace>/<nad name>"
    config: dict[str, Any]
    element: dict[str, Any]


@dataclass
class _PodState:
    name: str
    namespace: str
    netns_name: str
    container_id: str
    uid: str
    attachments: list[Attachment]
    annotations: dict[str, str]
    added: list[tuple[str, dict[str, Any], Any, dict[str, Any] | None]]  # network, conf, rt, result
    invocations: list[Invocation]
    error: str | None = None


def find_bin_dirs(bin_dirs: Sequence[str] | None) -> list[str]:
    """The plugin search path, checked for the plugins the matrix needs."""
    dirs = [str(d) for d in (bin_dirs or DEFAULT_BIN_DIRS)]
    if not any((Path(d) / "macvlan").exists() for d in dirs):
        raise BadInput(
            f"--cni-bin-dir: no macvlan plugin in {', '.join(dirs)}; install the CNI plugins "
            "(apt-get install containernetworking-plugins) or pass --cni-bin-dir DIR"
        )
    return dirs


def require_root() -> None:
    """Root, or a user namespace of our own when not root (rootless.py; InfraError if off)."""
    if os.geteuid() != 0:
        rootless.enter()


def unavailable(bin_dirs: Sequence[str] | None = None) -> str | None:
    """Why the netns backend cannot run here (no plugins, no namespaces), or None.

    Not root: whether a rootless netns works, tried in a child process so that this one stays
    as it is (callers decide when to enter the user namespace).
    """
    try:
        find_bin_dirs(bin_dirs)
    except BadInput as e:
        return str(e)
    if os.geteuid() != 0:
        return rootless.probe()
    return namespace_probe()


def namespace_probe() -> str | None:
    """Create a namespace, add a veth pair inside it and remove it all: None when that works,
    else why (a missing CAP_SYS_ADMIN or CAP_NET_ADMIN shows here, not as uid 0 would suggest)."""
    probe = f"{NS_PREFIX}probe-{os.getpid()}-{threading.get_native_id()}"
    try:
        create_netns(probe)
    except OSError as e:
        return f"cannot create a network namespace here ({e}); {NEEDS_CAPS}"
    try:
        with in_netns(probe), IPRoute() as ns:
            ns.link("add", ifname="mmprobe0", kind="veth", peer={"ifname": "mmprobe1"})
    except (OSError, NetlinkError) as e:
        return f"cannot create a veth in a network namespace ({e}); {NEEDS_CAPS}"
    finally:
        with suppress(OSError):
            netns.remove(probe)
    return None


def _ns_path(name: str) -> str:
    return str(NETNS_DIR / name)


# pyroute2's NetNS and netns.create fork a helper process; forking a threaded Python process can
# deadlock the child, and the backend runs cases on threads. Network namespaces are per thread
# in Linux, so instead the calling thread enters the namespace itself and comes back.
@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the block with this thread (only) inside namespace `name`."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(name, flags=0, fork=False)  # if this fails we never left: nothing to restore
    except BaseException:
        os.close(own)
        raise
    try:
        yield
    finally:
        setns(own, flags=0, fork=False)
        os.close(own)


_CLONE_NEWNET = 0x40000000


def create_netns(name: str) -> None:
    """Create /run/netns/<name> without forking: unshare this thread, pin it, come back."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(_CLONE_NEWNET) != 0:
            # still in our own namespace: report this error, not a failing setns back
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}")
        try:
            netns.attach(name, f"{os.getpid()}/task/{threading.get_native_id()}")
        except BaseException:
            with suppress(OSError):  # attach may leave the empty mount point behind
                (NETNS_DIR / name).unlink()
            raise
        finally:
            setns(own, flags=0, fork=False)
    finally:
        os.close(own)


class NetnsBackend:
    """Cases -> observations with the real plugins. Use as a context manager."""

    name = "netns"

    def __init__(
        self,
        cni_bin_dirs: Sequence[str] | None = None,
        workers: int | None = None,
        timeout: float = DEFAULT_PLUGIN_TIMEOUT_S,
        label: str = "netns",
        notes: dict[str, Any] | None = None,
    ):
        """`label` names the run's stack (results.json stack.name, the report column, the
        committed baseline's file); `notes` are extra stack fields, e.g. why these plugins."""
        require_root()
        self.label = label
        self.notes = dict(notes or {})
        self.timeout = check_plugin_timeout(timeout)
        self.del_budget = min(DEL_AFTER_FAILURE_S, self.timeout)
        self._hung: dict[str, set[str]] = {}  # plugin -> ids of the cases it hung on
        self._current = threading.local()  # the case a worker thread runs (for _note_hang)
        self.bin_dirs = find_bin_dirs(cni_bin_dirs)
        self.run_id = secrets.token_hex(3)
        self.prefix = f"{NS_PREFIX}{self.run_id}-"
        self.node = self.prefix + "node"
        self.lan = self.prefix + "lan"
        self.runtime = CNIRuntime(
            self.bin_dirs,
            timeout=self.timeout,
            exec_prefix=["nsenter", f"--net={_ns_path(self.node)}"],
        )
        self.workers = check_workers(workers) or max(2, min(8, 2 * (os.cpu_count() or 1)))
        self._lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._namespaces: list[str] = []
        self._masters: set[str] = set()
        self._container_ids: list[str] = []
        self._closed = False
        self._cancel = threading.Event()
        self._pod_counter = 0
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"macmatrix-{self.run_id}-"))
        self.confined: list[dict[str, str]] = []  # state paths a config set and the run overrode
        self._plugins: dict[str, Any] | None = None
        # before any namespace exists: a SIGKILLed run is then found by `doctor`/`cleanup`
        try:
            self.record = runs.register(self.run_id, self.prefix, self.tmpdir)
        except BaseException:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> NetnsBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every namespace, tuning state file and temp file this run created."""
        self._cancel.set()
        self.runtime.cancel()  # a plugin still running (hung) is killed, with its children
        with self._lock:
            self._closed = True
            names = list(reversed(self._namespaces))
            self._namespaces.clear()
            cids = list(self._container_ids)
        for name in names:
            with suppress(OSError):
                netns.remove(name)
        # Every container id starts with the run id: one listing, not one glob per pod (a
        # 2,000-case run has ~3,000 pods).
        if cids:
            for f in TUNING_STATE_DIR.glob(f"{self.run_id}*_*.json"):
                f.unlink(missing_ok=True)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if not self.record.namespaces():  # else keep the record: `cleanup` finds what is left
            runs.unregister(self.record)

    def _create_ns(self, name: str) -> None:
        with self._lock:
            if self._closed or self._cancel.is_set():
                raise InfraError("the run was stopped")
            create_netns(name)
            self._namespaces.append(name)

    def _remove_ns(self, name: str) -> None:
        with self._lock:
            if name in self._namespaces:
                self._namespaces.remove(name)
            else:
                return
        netns.remove(name)

    def ensure_masters(self, names: Sequence[str]) -> None:
        """The node namespace with one up veth per master name; peers sit in the lan namespace."""
        with self._setup_lock:
            self._ensure_masters(names)

    def _ensure_masters(self, names: Sequence[str]) -> None:
        missing = sorted(set(names) - self._masters)
        if not missing and self.node in self._namespaces:
            return
        if self.node not in self._namespaces:
            self._create_ns(self.node)
            self._create_ns(self.lan)
            with in_netns(self.node), IPRoute() as ns:
                ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        for i, master in enumerate(missing):
            if len(master) > 15 or not master or "/" in master:
                raise BadInput(f"master: {master!r} is not a valid interface name (1-15 chars)")
            peer = f"up{len(self._masters) + i}"
            with in_netns(self.node), IPRoute() as ns:
                ns.link(
                    "add", ifname=master, kind="veth", peer={"ifname": peer, "net_ns_fd": self.lan}
                )
                ns.link("set", index=ns.link_lookup(ifname=master)[0], state="up")
            with in_netns(self.lan), IPRoute() as ns:
                ns.link("set", index=ns.link_lookup(ifname=peer)[0], state="up")
        self._masters.update(missing)

    # ------------------------------------------------------------------ facts

    def plugins(self) -> dict[str, Any]:
        """The plugins actually run, asked of the binaries (plugin_binaries.describe)."""
        if self._plugins is None:
            self._plugins = plugin_binaries.describe(self.bin_dirs)
        return self._plugins

    def plugins_version(self) -> str:
        return str(self.plugins()["cni_plugins"])

    def stack(self) -> dict[str, Any]:
        return {
            "name": self.label,
            "backend": "netns",
            **self.plugins(),
            **self.notes,
            "cni_bin_dirs": self.bin_dirs,
            "kernel": os.uname().release,
            "netns_mode": rootless.mode(),  # root, or rootless (a user namespace of its own)
            "multus": "emulated (v4 delegate conventions)",
            "state_paths": state_paths.NOTE,
            "kube_ovn": None,
            "kubernetes": None,
            "kind": None,
        }

    # ------------------------------------------------------------------ pods

    def _confine_state(self, network: str, conf: dict[str, Any]) -> dict[str, Any]:
        """Plugin state (host-local allocations, tuning's saved MACs) goes into this run's temp
        folder whatever the config says (state_paths.py); overridden values are kept in
        `self.confined` for the report. It does not touch MAC handling."""
        overridden = state_paths.confine(conf, self.tmpdir)
        with self._lock:
            for o in overridden:
                if {**o, "network": network} not in self.confined:
                    self.confined.append({**o, "network": network})
        return conf

    def _add_pod(
        self, name: str, namespace: str, attachments: list[Attachment], annotations: dict[str, str]
    ) -> _PodState:
        with self._lock:
            self._pod_counter += 1
            ns_name = f"{self.prefix}p{self._pod_counter}"
        cid = (self.run_id + uuid.uuid4().hex)[:32]  # tuning files then name their run
        with self._lock:
            self._container_ids.append(cid)
        pod = _PodState(
            name, namespace, ns_name, cid, str(uuid.uuid4()), attachments, annotations, [], []
        )
        self._create_ns(ns_name)
        try:
            self._pod_masters(ns_name, attachments)
        except BaseException:
            with suppress(OSError):
                self._remove_ns(ns_name)
            raise
        for index, att in enumerate(attachments, start=1):
            nad = att.network.split("/")[-1]
            conf = self._confine_state(att.network, delegate_conf(att.config, nad, att.element))
            ifname = element_ifname(att.element, index)
            rt = multus_runtime_conf(
                att.element,
                namespace=namespace,
                pod_name=name,
                pod_uid=pod.uid,
                container_id=cid,
                netns=_ns_path(ns_name),
                ifname=ifname,
            )
            try:
                result = self.runtime.add(att.network, conf, rt, pod.invocations)
            except CNIError as e:
                # Multus stops at the first failing delegate and the sandbox fails.
                pod.error = f"{att.network}: {e}"
                pod.added.append((att.network, conf, rt, None))  # DEL it too, as Multus does
                self._unwind(pod)
                break
            except BaseException as e:
                # A hung plugin or Ctrl-C: undo this pod now (a short DEL; none once the run is
                # cancelled: close() removes it all), the caller never sees its state. The ADD's
                # error stays the one raised, whatever the DEL does.
                if isinstance(e, PluginTimeout):
                    # counted now, not after the DEL: cases that hung at the same moment must
                    # see each other before their workers pick the next case (breaker)
                    self._note_hang(e.plugin)
                pod.added.append((att.network, conf, rt, None))
                self._del_pod(pod, short=True)
                raise
            pod.added.append((att.network, conf, rt, result))
        return pod

    def _unwind(self, pod: _PodState) -> None:
        """Multus' answer to a failed delegate: DEL every delegate it added, the failed one too,
        newest first, before it returns the error (multus-cni pkg/multus/multus.go CmdAdd ->
        delPlugins(..., idx, ...), v4.1.3 to v4.2.4), so the sandbox keeps none of their
        interfaces. Errors are ignored there ("DEL must be idempotent"); the container runtime's
        teardown DELs once more (_del_pod). Seen against real Multus: docs/real-multus.md."""
        try:
            for network, conf, rt, result in reversed(pod.added):
                if self._cancel.is_set():
                    return
                self.runtime.delete(network, conf, rt, result, pod.invocations, self.del_budget)
        except Cancelled:
            pass

    def _pod_masters(self, ns_name: str, attachments: list[Attachment]) -> None:
        """The pod's own master for `linkInContainer` plugins (Kube-OVN e2e: master eth0).

        In a cluster the primary CNI made that interface (Kube-OVN's eth0, a veth to the node);
        here the harness plays the primary CNI: an up veth of that name in the pod namespace,
        its peer in the run's lan namespace. Removing the pod namespace removes both ends.
        """
        names = sorted(
            {
                str(p["master"])
                for att in attachments
                for p in plugins_of(att.config)
                if p.get("linkInContainer") and p.get("master")
            }
        )
        for i, master in enumerate(names):
            if len(master) > 15 or "/" in master:
                raise BadInput(f"master: {master!r} is not a valid interface name (1-15 chars)")
            peer = f"{ns_name.rsplit('-', 1)[-1]}m{i}"[:15]
            with in_netns(ns_name), IPRoute() as ns:
                ns.link(
                    "add", ifname=master, kind="veth", peer={"ifname": peer, "net_ns_fd": self.lan}
                )
                ns.link("set", index=ns.link_lookup(ifname=master)[0], state="up")
            with in_netns(self.lan), IPRoute() as ns:
                ns.link("set", index=ns.link_lookup(ifname=peer)[0], state="up")

    def _observe(self, pod: _PodState) -> PodObservation:
        interfaces: dict[str, str | None] = {}
        with in_netns(pod.netns_name), IPRoute() as ns:
            for link in ns.get_links():
                ifname = link.get("ifname")
                if ifname and ifname != "lo":
                    interfaces[ifname] = macs.normalise(link.get("address"))
        status = [
            entry
            for network, _conf, rt, result in pod.added
            if result is not None
            for entry in network_status_entries(network, result, rt.ifname)
        ]
        reported = {k: v for k, v in pod.annotations.items() if is_reported_key(k)}
        return PodObservation(
            name=pod.name,
            interfaces=interfaces,
            network_status=status,
            annotations=reported,
            error=pod.error,
        )

    def _del_pod(self, pod: _PodState, short: bool = False) -> list[CNIError | PluginTimeout]:
        """Multus DEL: delegates in reverse order, each with its cached result.

        After a failed ADD (`short`, or the pod's sandbox error) each DEL gets DEL_AFTER_FAILURE_S.
        """
        errors: list[CNIError | PluginTimeout] = []
        budget = self.del_budget if short or pod.error else None
        try:
            for network, conf, rt, result in reversed(pod.added):
                if self._cancel.is_set():
                    break  # stopping: close() removes the namespace and tuning state
                errors += self.runtime.delete(network, conf, rt, result, pod.invocations, budget)
        except Cancelled:
            pass
        finally:
            self._remove_ns(pod.netns_name)
        return errors

    def run_pods(
        self, pods: Sequence[tuple[str, str, list[Attachment], dict[str, str]]]
    ) -> list[PodObservation]:
        """ADD every pod (they coexist on the masters), read them all, then DEL them all."""
        # Each plugin says which links its entry needs on the node (spec/plugins: macvlan and
        # ipvlan a master; bridge makes its bridge itself, in the node namespace it runs in).
        masters = {
            name for _n, _ns, atts, _a in pods for att in atts for name in node_links(att.config)
        }
        self.ensure_masters(sorted(masters))
        states: list[_PodState] = []
        try:
            for name, namespace, atts, annotations in pods:
                states.append(self._add_pod(name, namespace, atts, annotations))
            observations = [self._observe(s) for s in states]
        finally:
            for s in reversed(states):
                # DEL failures are cleanup problems, not findings: they stay in the invocations.
                self._del_pod(s)
        for obs, s in zip(observations, states, strict=True):
            obs.invocations = [inv.to_json() for inv in s.invocations]
        return observations

    def run_pod(
        self,
        pod_name: str,
        namespace: str,
        attachments: Sequence[AttachmentLike],
        annotations: dict[str, str] | None = None,
    ) -> PodObservation:
        atts = [
            a if isinstance(a, Attachment) else Attachment(a.network, a.config, a.element)
            for a in attachments
        ]
        return self.run_pods([(pod_name, namespace, atts, annotations or {})])[0]

    # ------------------------------------------------------------------ cases

    def _note_hang(self, plugin: str) -> None:
        """Count a hang of `plugin` against the case this worker thread runs."""
        case_id = getattr(self._current, "case_id", None) or "(no case)"
        with self._lock:
            self._hung.setdefault(plugin, set()).add(case_id)

    def tripped(self, plugins: Sequence[str]) -> str | None:
        """The first of `plugins` that hung on BREAKER_CASES cases of this run, or None."""
        with self._lock:
            return next((p for p in plugins if len(self._hung.get(p, ())) >= BREAKER_CASES), None)

    def _not_tried(self, case_id: str, plugin: str) -> CaseObservation:
        with self._lock:
            n = len(self._hung.get(plugin, ()))
        return CaseObservation(
            case_id,
            Status.INFRA_ERROR,
            f"not tried: {plugin} hung (no answer in {self.timeout:g} s on {n} cases)",
            attempts=0,
            retryable=False,
        )

    def run_case(self, case: Case) -> CaseObservation:
        start = time.monotonic()
        why = case.netns_unsupported()
        if why:
            return CaseObservation(case.id, Status.UNSUPPORTED, f"netns backend: {why}")
        network = f"{NAMESPACE}/{manifests.nad_name(case)}"
        config = manifests.nad_config(case, NAMESPACE)
        self._current.case_id = case.id
        hung = self.tripped(plugin_types(config))
        if hung:
            return self._not_tried(case.id, hung)
        pods = []
        substituted: list[dict[str, Any]] = []
        for r in range(case.n_replicas):
            element = manifests.networks_element(case, NAMESPACE, r)
            pod_config = config
            if case.substitute_ipam:
                # the matrix asked: kube-ovn IPAM runs as static with this replica's address,
                # a free one of the case's Subnet (manifests.subnet: gateway .1 excluded)
                address = manifests.replica_ip(case, r)
                where = f"replica {r}'s address in the case's Subnet {manifests.cidr(case)}"
                pod_config, subs = ipam_substitute.substitute_config(
                    network, config, ipam_substitute.static_for(address, where)
                )
                substituted += [s.to_json() for s in subs]
            pods.append(
                (
                    manifests.pod_name(case, r),
                    NAMESPACE,
                    [Attachment(network, pod_config, element)],
                    manifests.pod_annotations(case, NAMESPACE, r),
                )
            )
        try:
            observed = self.run_pods(pods)
        except PluginTimeout as e:
            self._note_hang(e.plugin)
            return CaseObservation(
                case.id,
                Status.INFRA_ERROR,
                f"PluginTimeout: {e}",
                duration_s=time.monotonic() - start,
                retryable=self.tripped([e.plugin]) is None,
            )
        except (InfraError, OSError, NetlinkError) as e:
            if _denied(e):
                raise NoPrivilege(f"{type(e).__name__}: {e}; {NEEDS_CAPS}") from e
            return CaseObservation(
                case.id,
                Status.INFRA_ERROR,
                f"{type(e).__name__}: {e}",
                duration_s=time.monotonic() - start,
            )
        return CaseObservation(
            case.id,
            pods=observed,
            duration_s=time.monotonic() - start,
            ipam_substituted=substituted,
        )

    def run(
        self,
        cases: Sequence[Case],
        progress: Progress = no_progress,
        on_case: CaseSink | None = None,
    ) -> dict[str, CaseObservation]:
        """All cases on a bounded thread pool (base.run_pool); Ctrl-C cancels what has not
        started and kills the plugins that run; close() then removes everything they made."""
        out = run_pool(
            cases,
            self.run_case,
            workers=self.workers,
            cancel=self._cancel,
            stop=self.runtime.cancel,
            name="netns",
            progress=progress,
            on_case=on_case,
        )
        # A case that hung before its plugin tripped the breaker is not retried either.
        for case_id, obs in out.items():
            if obs.status == Status.INFRA_ERROR and obs.retryable:
                by_plugin = [p for p, ids in self._hung.items() if case_id in ids]
                if self.tripped(by_plugin):
                    obs.retryable = False
                    if on_case:
                        on_case(obs)
        return out


class NoPrivilege(InfraError):
    """The kernel refused a namespace or link operation: no retry can fix that (exit 3, once)."""


def _denied(e: BaseException) -> bool:
    code = e.errno if isinstance(e, OSError) else getattr(e, "code", None)
    return code in (errno.EPERM, errno.EACCES)


def leftover_namespaces(prefix: str = NS_PREFIX) -> list[str]:
    """Namespaces that look like ours (for tests and `doctor`)."""
    return sorted(n for n in netns.listnetns() if n.startswith(prefix))
