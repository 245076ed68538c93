"""Snapshots of kept pods before and after an in-place upgrade, and what changed between them.

A pod that survives an upgrade must still be the same pod (uid), Running without restarts, with
the same kernel MACs on eth0 and net1 and the same MAC reporters (Multus network-status,
`ovn.kubernetes.io/*`, `<provider>.kubernetes.io/*`). Values are compared as written: a reporter
that rewrites its annotation differently is a change worth seeing. `from_pod` and `drift` are
pure; `take` is the thin cluster read (1 list + 2 execs per Running pod).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from kubernetes import client

from macmatrix.backends.kind.kube.annotations import OVN_PREFIX
from macmatrix.backends.kind.kube.client import CallStats, ExecResult, call
from macmatrix.backends.kind.kube.matrix import INTERFACES, to_dict
from macmatrix.build.manifests import CASE_ID_ANNOTATION, MANAGED_BY, NETWORK_STATUS_ANNOTATION
from macmatrix.spec.netconf import annotation_prefix
from macmatrix.threads import map_all

EXEC_WORKERS = 8
SELECTOR = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())


@dataclass(frozen=True)
class PodSnapshot:
    """What a pod showed at one moment: identity, state and every MAC it carries."""

    namespace: str
    name: str
    uid: str
    case_id: str
    phase: str
    running: bool  # every container running
    restarts: int
    node: str
    macs: dict[str, str | None] = field(default_factory=dict)  # ifname -> kernel MAC
    annotations: dict[str, str] = field(default_factory=dict)  # the MAC reporters, as written

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def reporter_annotations(annotations: Mapping[str, str]) -> dict[str, str]:
    """network-status and every Kube-OVN annotation (`ovn.` and `<provider>.kubernetes.io/`)."""
    return {
        k: v
        for k, v in sorted(annotations.items())
        if k == NETWORK_STATUS_ANNOTATION
        or k.startswith(OVN_PREFIX)
        or (annotation_prefix("") in k and not k.startswith(annotation_prefix("kubectl")))
    }


def from_pod(pod: Mapping[str, Any], macs: Mapping[str, str | None] | None = None) -> PodSnapshot:
    """A snapshot from a serialised pod (camelCase dict) and the kernel MACs read from it."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    annotations = meta.get("annotations") or {}
    return PodSnapshot(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        case_id=str(annotations.get(CASE_ID_ANNOTATION, "")),
        phase=str(status.get("phase") or "Unknown"),
        running=bool(containers)
        and all((c.get("state") or {}).get("running") is not None for c in containers),
        restarts=sum(int(c.get("restartCount") or 0) for c in containers),
        node=str((pod.get("spec") or {}).get("nodeName") or ""),
        macs=dict(macs or {}),
        annotations=reporter_annotations(annotations),
    )


@dataclass(frozen=True)
class Drift:
    """One way a kept pod differs after the upgrade. `fails` False: listed, not a failure."""

    pod: str
    what: str
    before: Any
    after: Any
    fails: bool = True

    def __str__(self) -> str:
        return f"{self.pod}: {self.what}: {_show(self.before)} -> {_show(self.after)}"


def _show(value: Any) -> str:
    return "none" if value is None else str(value)


def drift(
    before: Mapping[str, PodSnapshot], after: Mapping[str, PodSnapshot]
) -> tuple[list[Drift], list[str]]:
    """Drifts of the pods that were Running before, and the keys of pods not checked (why)."""
    out: list[Drift] = []
    unchecked: list[str] = []
    for key in sorted(before):
        b = before[key]
        if not b.running:
            a = after.get(key)
            now = "gone" if a is None else ("Running" if a.running else a.phase)
            unchecked.append(f"{key}: not Running before the upgrade ({b.phase}); now {now}")
            continue
        a = after.get(key)
        if a is None:
            out.append(Drift(key, "pod", "present", "gone"))
            continue
        if a.uid != b.uid:
            out.append(Drift(key, "uid (pod recreated)", b.uid, a.uid))
        if not a.running:
            out.append(Drift(key, "running", f"Running ({b.phase})", f"not running ({a.phase})"))
        if a.restarts != b.restarts:
            out.append(Drift(key, "container restarts", b.restarts, a.restarts))
        for ifname in sorted(set(b.macs) | set(a.macs)):
            if b.macs.get(ifname) != a.macs.get(ifname):
                out.append(
                    Drift(key, f"{ifname} kernel MAC", b.macs.get(ifname), a.macs.get(ifname))
                )
        for name in sorted(set(b.annotations) | set(a.annotations)):
            was, now_value = b.annotations.get(name), a.annotations.get(name)
            if was == now_value:
                continue
            if was is None:
                out.append(Drift(key, f"annotation {name} added", None, now_value, fails=False))
            else:
                out.append(Drift(key, f"annotation {name}", was, now_value))
    return out, unchecked


def failing(drifts: list[Drift]) -> list[Drift]:
    return [d for d in drifts if d.fails]


def render(drifts: list[Drift], unchecked: list[str], checked: int) -> str:
    """Text for a test failure or a log: failures first, then what is only listed."""
    bad = failing(drifts)
    lines = [f"{checked} kept pod(s) checked after the upgrade: {len(bad)} failing difference(s)"]
    lines += [f"  FAIL {d}" for d in bad]
    lines += [f"  note {d}" for d in drifts if not d.fails]
    lines += [f"  not checked: {u}" for u in unchecked]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the cluster read

ExecFn = Callable[[str, str, list[str]], ExecResult]


def take(
    core: client.CoreV1Api,
    namespaces: list[str],
    exec_fn: ExecFn,
    stats: CallStats | None = None,
    workers: int = EXEC_WORKERS,
) -> dict[str, PodSnapshot]:
    """Snapshot every macmatrix pod in `namespaces`: one list per namespace, 2 execs per
    Running pod. A failed exec records the MAC as `exec failed: ...`, so it shows as drift."""
    pods: list[dict[str, Any]] = []
    for ns in namespaces:
        listing = to_dict(call(core.list_namespaced_pod, ns, label_selector=SELECTOR, stats=stats))
        pods += [to_dict(p) for p in listing.get("items") or []]
    first = {id(p): from_pod(p) for p in pods}
    jobs = [
        (s.namespace, s.name, ifname) for s in first.values() if s.running for ifname in INTERFACES
    ]

    def one(job: tuple[str, str, str]) -> str | None:
        ns, pod, ifname = job
        try:
            res = exec_fn(ns, pod, ["cat", f"/sys/class/net/{ifname}/address"])
        except Exception as e:  # an exec that breaks is recorded, never hidden
            return f"exec failed: {e}"
        if res.returncode is None:
            return f"exec failed: {res.stderr.strip() or 'no exit code'}"
        return (res.stdout.strip() or None) if res.returncode == 0 else None

    found: dict[tuple[str, str, str], str | None] = {}
    if jobs:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            found = dict(zip(jobs, map_all(pool, one, jobs), strict=True))
    out: dict[str, PodSnapshot] = {}
    for p in pods:
        s = first[id(p)]
        macs = {i: found[(s.namespace, s.name, i)] for i in INTERFACES if s.running}
        snap = from_pod(p, macs)
        out[snap.key] = snap
    return out
