"""The matrix on a cluster: one namespace, Subnets + NADs, pods in bounded waves, then observe.

API calls grow linearly with cases (see docs/kind.md for the numbers):
- setup: 1 namespace; per case 1 NAD (+1 Subnet for kube-ovn IPAM); Subnet readiness is polled
  with one list call per poll, not one call per Subnet.
- the waves (at most `wave_pods` pods each, plan_waves()): 1 create per pod; one pod watch for
  the whole namespace (re-opened per chunk) and one event list per chunk for sandbox failures,
  whatever the number of pods.
- observe: 2 execs per running pod (eth0, net1), 1 list of Kube-OVN IP CRs for the whole run.
Cases whose pods hit an infra problem (image pull, scheduling, timeout, API errors) get one more
wave of their own; the attempts are recorded.

The waits and reads that are not about cases (settle(), sandbox_events(), wait_subnets_ready(),
observe_pod()) also serve the repro's single pod (kube/single.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

import urllib3
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from macmatrix.backends.base import Progress, no_progress
from macmatrix.backends.kind.kube import annotations as ann
from macmatrix.backends.kind.kube import podstate
from macmatrix.backends.kind.kube.client import CallStats, ExecResult, call
from macmatrix.backends.kind.kube.wait import wait_for
from macmatrix.build import manifests
from macmatrix.errors import InfraError
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import Case
from macmatrix.threads import map_all
from macmatrix.types import Status

SUBNETS = ("kubeovn.io", "v1", "subnets")
IPS = ("kubeovn.io", "v1", "ips")
NADS = ("k8s.cni.cncf.io", "v1", "network-attachment-definitions")
INTERFACES = ("eth0", "net1")
CONTAINER = manifests.CONTAINER
WATCH_CHUNK_S = 5
MAX_ATTEMPTS = 2
# Pods started at once. Starting every pod of the matrix together makes Kube-OVN's daemon wait
# for the controller's annotations (20 s per attempt, pkg/daemon/handler.go) and queues them on
# Multus' daemon, capped at 200m CPU by Kube-OVN's Makefile: transient sandbox errors. Bounded
# waves keep that load flat; MACMATRIX_WAVE_PODS overrides it (backends/kind.py).
WAVE_PODS = 30
_SERIALISER: list[client.ApiClient] = []  # one offline ApiClient, only for serialising

ExecFn = Callable[[str, str, list[str]], ExecResult]  # (namespace, pod, argv)
PodStream = Callable[[str, int], Iterable[dict[str, Any]]]  # (namespace, seconds) -> pod dicts


def plan_waves(cases: Sequence[Case], max_pods: int | None) -> list[list[Case]]:
    """Cases in order, grouped so each wave starts at most `max_pods` pods; a case is never
    split (one with more pods than that gets a wave of its own). None: one wave."""
    if not max_pods:
        return [list(cases)] if cases else []
    waves: list[list[Case]] = []
    pods = 0
    for case in cases:
        if waves and pods + case.n_replicas <= max_pods:
            waves[-1].append(case)
            pods += case.n_replicas
        else:
            waves.append([case])
            pods = case.n_replicas
    return waves


def to_dict(obj: Any) -> dict[str, Any]:
    """A client model as the API serialises it (camelCase keys), or a dict as-is."""
    if isinstance(obj, dict):
        return obj
    if not _SERIALISER:
        _SERIALISER.append(client.ApiClient())
    out = _SERIALISER[0].sanitize_for_serialization(obj)
    return out if isinstance(out, dict) else {}


def watch_pods(core: client.CoreV1Api, selector: str) -> PodStream:
    """A PodStream over a real watch; each chunk starts with the current state of every pod.

    Events are not deserialised into models (`deserialize=False`): the raw JSON already is the
    camelCase dict the pure classifiers read, and a wave of pods makes many events.
    """

    def stream(namespace: str, seconds: int) -> Iterator[dict[str, Any]]:
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_pod,
            namespace,
            label_selector=selector,
            timeout_seconds=seconds,
            deserialize=False,
        ):
            if isinstance(event, dict) and event.get("type") in ("ADDED", "MODIFIED"):
                obj = event.get("object")
                if isinstance(obj, dict):
                    yield obj

    return stream


@dataclass
class Watched:
    """A pod being waited for: its last seen object and what that means (see settle())."""

    name: str
    state: podstate.PodState = field(default_factory=lambda: podstate.PodState(podstate.PENDING))
    obj: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class PodSlot(Watched):
    """A matrix pod: one replica of one case."""

    case: Case
    replica: int


def settle(
    slots: Mapping[str, Watched],
    pod_stream: PodStream,
    namespace: str,
    deadline: float,
    sandbox_events: Callable[[], list[dict[str, Any]]],
    stats: CallStats,
    log: TextIO,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    on_settled: Callable[[str], None] = lambda name: None,
) -> None:
    """Watch until every pending pod is running, failed its sandbox, or hit an infra problem
    (a timeout at `deadline` is one); each slot's state and last object are set in place.

    One watch per chunk for all pods, then one `sandbox_events()` for those still pending.
    """
    pending = {n for n, s in slots.items() if s.state.kind == podstate.PENDING}

    def settled(name: str, state: podstate.PodState) -> None:
        slots[name].state = state
        pending.discard(name)
        on_settled(name)

    while pending:
        remaining = deadline - clock()
        if remaining <= 0:
            break
        try:
            for obj in pod_stream(namespace, max(1, min(WATCH_CHUNK_S, int(remaining)))):
                name = (obj.get("metadata") or {}).get("name", "")
                if name not in pending:
                    continue
                slots[name].obj = obj
                state = podstate.classify(obj, [], wall())
                if state.kind in (podstate.RUNNING, podstate.INFRA):
                    settled(name, state)
                if not pending:
                    break
            stats.calls += 1
        except (ApiException, OSError, urllib3.exceptions.HTTPError) as e:
            print(f"macmatrix: pod watch interrupted ({e}); re-opening", file=log)
        if not pending:
            break
        events = sandbox_events()
        for name in list(pending):
            state = podstate.classify(slots[name].obj, events, wall())
            if state.kind != podstate.PENDING:
                settled(name, state)
            else:
                slots[name].state = state  # why it still waits (a transient sandbox error?)
    for name in pending:
        obj = slots[name].obj
        why = slots[name].state.message or (podstate.pending_reason(obj) if obj else "never seen")
        slots[name].state = podstate.PodState(
            podstate.INFRA, f"timed out waiting for pod {name} to run ({why})"
        )


def sandbox_events(
    core: client.CoreV1Api, namespace: str, stats: CallStats, log: TextIO
) -> list[dict[str, Any]]:
    """The namespace's FailedCreatePodSandBox events ([] when listing fails: the wait goes on)."""
    try:
        listing = call(
            core.list_namespaced_event,
            namespace,
            field_selector=f"reason={podstate.SANDBOX_REASON}",
            stats=stats,
        )
    except ApiException as e:
        print(f"macmatrix: listing events failed: {e.status} {e.reason}", file=log)
        return []
    return [to_dict(i) for i in (to_dict(listing).get("items") or [])]


def wait_subnets_ready(
    custom: client.CustomObjectsApi,
    names: Iterable[str],
    selector: str,
    stats: CallStats,
    what: str = "Kube-OVN Subnets",
    timeout_s: float = 120.0,
    show: int | None = 3,
) -> None:
    """Poll until the named Subnets report Ready: one list call (by label) per poll."""
    want = set(names)

    def not_ready() -> set[str]:
        listing: Any = call(
            custom.list_cluster_custom_object, *SUBNETS, label_selector=selector, stats=stats
        )
        ready = {
            (i.get("metadata") or {}).get("name")
            for i in (listing or {}).get("items", [])
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in ((i.get("status") or {}).get("conditions") or [])
            )
        }
        return want - ready

    wait_for(
        not_ready,
        lambda left: not left,
        timeout_s,
        f"{what} to be Ready (check kube-ovn-controller logs)",
        describe=lambda left: f"not ready: {sorted(left)[:show]}",
    )


def observe_pod(
    name: str,
    namespace: str,
    obj: dict[str, Any],
    providers: list[str],
    ip_crs: dict[str, dict[str, Any]],
) -> PodObservation:
    """What the API says about a pod's MACs (its annotations and Kube-OVN IP CRs); the kernel's
    view (interfaces) is filled in by the caller."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return PodObservation(
        name=name,
        network_status=ann.network_status(annotations),
        annotations=ann.kube_ovn_annotations(annotations, providers),
        ip_cr_mac=ann.ip_cr_macs(name, namespace, providers, ip_crs),
    )


class MatrixRun:
    """Runs cases on a cluster in bounded waves per attempt; backends judge nothing, nor does
    this."""

    def __init__(
        self,
        core: client.CoreV1Api,
        custom: client.CustomObjectsApi,
        namespace: str,
        image: str,
        exec_fn: ExecFn,
        pod_stream: PodStream | None = None,
        progress: Progress = no_progress,
        deadline_s: float | None = None,
        exec_workers: int = 8,
        wave_pods: int | None = None,
        log: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.core, self.custom = core, custom
        self.namespace, self.image = namespace, image
        self.exec_fn = exec_fn
        self.selector = "app.kubernetes.io/managed-by=macmatrix"
        self.pod_stream = pod_stream or watch_pods(core, self.selector)
        self.progress = progress
        self.deadline_s = deadline_s
        self.exec_workers = exec_workers
        self.wave_pods = wave_pods
        self.log = log
        self.clock, self.wall = clock, wall
        self.stats = CallStats()
        self.subnets: list[str] = []
        self.waves = 0

    # ------------------------------------------------------------------ setup / teardown
    def _api(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call(fn, *args, stats=self.stats, **kwargs)

    def setup(self, cases: Sequence[Case]) -> None:
        """Namespace, the kube-ovn Subnets (ready), and one NAD per case."""
        ns = client.V1Namespace(
            metadata=client.V1ObjectMeta(name=self.namespace, labels=dict(manifests.MANAGED_BY))
        )
        self._api(self.core.create_namespace, ns)
        for case in cases:
            subnet = manifests.subnet(case, self.namespace)
            if subnet:
                self._api(self.custom.create_cluster_custom_object, *SUBNETS, subnet)
                self.subnets.append(subnet["metadata"]["name"])
        for case in cases:
            body = manifests.nad(case, self.namespace)
            self._api(
                self.custom.create_namespaced_custom_object,
                NADS[0],
                NADS[1],
                self.namespace,
                NADS[2],
                body,
            )
        if self.subnets:
            self._wait_subnets_ready()

    def _wait_subnets_ready(self, timeout_s: float = 120.0) -> None:
        wait_subnets_ready(
            self.custom, self.subnets, self.selector, self.stats, timeout_s=timeout_s
        )

    def teardown(self) -> None:
        """Delete the run's namespace and Subnets; do not wait (the next run uses a new one)."""
        delete_run(self.core, self.custom, self.namespace, self.subnets, self.log, self.stats)

    # ------------------------------------------------------------------ the run
    def run(self, cases: Sequence[Case]) -> dict[str, CaseObservation]:
        results: dict[str, CaseObservation] = {}
        todo = list(cases)
        attempts = {c.id: 0 for c in cases}
        total = len(cases)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if not todo:
                break
            if attempt > 1:
                print(f"macmatrix: retrying {len(todo)} case(s) after infra errors", file=self.log)
                self._delete_pods(todo)
            for c in todo:
                attempts[c.id] = attempt
            done = total - len(todo)
            for chunk in plan_waves(todo, self.wave_pods):
                wave = self.wave(chunk, done_before=done, total=total)
                for cid, obs in wave.items():
                    obs.attempts = attempts[cid]
                    results[cid] = obs
                done += len(chunk)
            todo = [c for c in todo if results[c.id].status == Status.INFRA_ERROR]
        return results

    def wave(
        self, cases: Sequence[Case], done_before: int = 0, total: int = 0
    ) -> dict[str, CaseObservation]:
        """Create every pod of `cases` at once, wait for each, observe. One observation per case."""
        self.waves += 1
        started = self.clock()
        slots: dict[str, PodSlot] = {}
        create_errors: dict[str, str] = {}
        for case in cases:
            for pod in manifests.pods(case, self.namespace, self.image):
                name = pod["metadata"]["name"]
                slots[name] = PodSlot(name, case=case, replica=int(name.rsplit("-", 1)[1]))
                try:
                    self._api(
                        self.core.create_namespaced_pod,
                        self.namespace,
                        client.V1Pod.model_validate(pod),
                    )
                except ApiException as e:
                    create_errors[case.id] = f"creating pod {name}: {e.status} {e.reason}"
                    # nothing to wait for: the pod does not exist
                    slots[name].state = podstate.PodState(podstate.INFRA, create_errors[case.id])
        deadline = started + (self.deadline_s or 120.0 + 2.0 * len(slots))
        self._settle(slots, deadline, done_before, total or len(cases))
        ip_crs = self._ip_crs(cases)
        running = [s for s in slots.values() if s.state.kind == podstate.RUNNING]
        kernel = self._read_macs(running)
        out: dict[str, CaseObservation] = {}
        for case in cases:
            mine = sorted(
                (s for s in slots.values() if s.case.id == case.id), key=lambda s: s.replica
            )
            out[case.id] = self._observe(case, mine, kernel, ip_crs, create_errors.get(case.id))
            out[case.id].duration_s = round(self.clock() - started, 3)
        return out

    def _settle(
        self, slots: dict[str, PodSlot], deadline: float, done_before: int, total: int
    ) -> None:
        """Settle the wave's pods, saying when each case has settled all its pods."""
        done_cases: set[str] = set()

        def case_done(name: str) -> None:
            cid = slots[name].case.id
            if cid not in done_cases and all(
                s.state.kind != podstate.PENDING for s in slots.values() if s.case.id == cid
            ):
                done_cases.add(cid)
                self.progress(done_before + len(done_cases), total, f"settled {cid}")

        settle(
            slots,
            self.pod_stream,
            self.namespace,
            deadline,
            lambda: sandbox_events(self.core, self.namespace, self.stats, self.log),
            self.stats,
            self.log,
            self.clock,
            self.wall,
            on_settled=case_done,
        )

    def _ip_crs(self, cases: Sequence[Case]) -> dict[str, dict[str, Any]]:
        try:
            listing = self._api(self.custom.list_cluster_custom_object, *IPS)
        except ApiException as e:
            print(
                f"macmatrix: listing Kube-OVN IP CRs failed: {e.status} {e.reason}", file=self.log
            )
            return {}
        return ann.index_ip_crs((listing or {}).get("items", []))

    def _read_macs(self, running: list[PodSlot]) -> dict[tuple[str, str], str | None | ExecResult]:
        """(pod, ifname) -> kernel MAC (None: no such interface); an ExecResult when exec failed."""
        jobs = [(s.name, ifname) for s in running for ifname in INTERFACES]

        def one(job: tuple[str, str]) -> str | None | ExecResult:
            pod, ifname = job
            self.stats.calls += 1
            try:
                res = self.exec_fn(self.namespace, pod, ["cat", f"/sys/class/net/{ifname}/address"])
            except Exception as e:  # websocket/API trouble is infra, never a finding
                return ExecResult(None, "", f"exec failed: {e}")
            if res.returncode is None:
                return res
            if res.returncode != 0:
                return None  # the interface does not exist in the pod
            return res.stdout.strip() or None

        if not jobs:
            return {}
        with ThreadPoolExecutor(max_workers=self.exec_workers) as pool:
            values = map_all(pool, one, jobs)
        return dict(zip(jobs, values, strict=True))

    def _observe(
        self,
        case: Case,
        slots: list[PodSlot],
        kernel: dict[tuple[str, str], str | None | ExecResult],
        ip_crs: dict[str, dict[str, Any]],
        create_error: str | None,
    ) -> CaseObservation:
        if create_error:
            return CaseObservation(case.id, status=Status.INFRA_ERROR, reason=create_error)
        infra = [s.state.message for s in slots if s.state.kind == podstate.INFRA]
        if infra:
            return CaseObservation(case.id, status=Status.INFRA_ERROR, reason=infra[0])
        providers = [ann.OVN_PROVIDER]
        if case.ipam == "kube-ovn" or case.asks_annotation_mac:
            providers.append(manifests.provider(case, self.namespace))
        pods: list[PodObservation] = []
        for s in slots:
            p = observe_pod(s.name, self.namespace, s.obj, providers, ip_crs)
            if s.state.kind == podstate.SANDBOX_FAILED:
                p.error = s.state.message or "sandbox creation failed (no message)"
            else:
                for ifname in INTERFACES:
                    value = kernel.get((s.name, ifname))
                    if isinstance(value, ExecResult):
                        why = value.stderr.strip() or "no exit code"
                        reason = f"exec in {s.name} failed: {why}"[:500]
                        return CaseObservation(case.id, status=Status.INFRA_ERROR, reason=reason)
                    p.interfaces[ifname] = value
            pods.append(p)
        return CaseObservation(case.id, pods=pods)

    def _delete_pods(self, cases: Sequence[Case], timeout_s: float = 90.0) -> None:
        names = [manifests.pod_name(c, r) for c in cases for r in range(c.n_replicas)]
        for name in names:
            try:
                self._api(
                    self.core.delete_namespaced_pod, name, self.namespace, grace_period_seconds=0
                )
            except ApiException as e:
                if e.status != 404:
                    raise InfraError(
                        f"deleting pod {name} for a retry: {e.status} {e.reason}"
                    ) from e

        def still_there() -> list[str]:
            listing = to_dict(
                self._api(
                    self.core.list_namespaced_pod, self.namespace, label_selector=self.selector
                )
            )
            present = {(i.get("metadata") or {}).get("name") for i in listing.get("items") or []}
            return [n for n in names if n in present]

        wait_for(
            still_there,
            lambda left: not left,
            timeout_s,
            "pods to be deleted before a retry",
            describe=lambda left: f"still present: {left[:3]}",
        )


def delete_run(
    core: client.CoreV1Api,
    custom: client.CustomObjectsApi,
    namespace: str,
    subnets: Sequence[str],
    log: TextIO = sys.stderr,
    stats: CallStats | None = None,
) -> None:
    """Delete a run's namespace and Subnets (best effort, not waited for; 404 is fine).

    Also used later for runs whose pods were kept across an upgrade (KindUpgrade.keep_pods,
    backends/kind/upgrade_session.py).
    """
    try:
        call(core.delete_namespace, namespace, stats=stats)
    except ApiException as e:
        if e.status != 404:
            print(f"macmatrix: could not delete namespace {namespace}: {e.reason}", file=log)
    for name in subnets:
        try:
            call(custom.delete_cluster_custom_object, *SUBNETS, name, stats=stats)
        except ApiException as e:
            if e.status != 404:
                print(f"macmatrix: could not delete Subnet {name}: {e.reason}", file=log)
