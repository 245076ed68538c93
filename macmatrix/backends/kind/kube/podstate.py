"""What a matrix pod's state means: running, a CNI finding, still pending, or an infra failure.

The line matters: a sandbox that CNI refused (FailedCreatePodSandBox, whose message carries the
CNI error) is a *finding* about the combination under test; an image pull failure, a pod that
never schedules, or a timeout is the harness's problem (infra-error, retried, never gated on).
A sandbox error whose message shows a transient cause (a daemon or the API server not there yet,
a deadline, throttling: kube/transient.py) is neither: kubelet retries it, so the pod stays
pending, and if it persists the pod is an infra error (retried, never a finding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from macmatrix.backends.kind.kube.transient import transient_cause

RUNNING = "running"
SANDBOX_FAILED = "sandbox-failed"
PENDING = "pending"
INFRA = "infra"

SANDBOX_REASON = "FailedCreatePodSandBox"
# kubelet retries a failed sandbox; one failure may be a race (e.g. Kube-OVN's controller has not
# annotated the pod yet), so a sandbox failure is final once it repeats or persists this long.
SANDBOX_GRACE_S = 20.0
# A transient sandbox error (kube/transient.py) that persists this long makes the pod an infra
# error. Kube-OVN's daemon alone waits 20 s per attempt for the controller's annotation
# (kubeovn/kube-ovn pkg/daemon/handler.go), and kubelet backs off between attempts: 90 s leaves
# room for about three attempts.
TRANSIENT_GRACE_S = 90.0
IMAGE_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RegistryUnavailable",
    }
)
CONTAINER_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "CrashLoopBackOff"}
)
_PREFIXES = (
    "Failed to create pod sandbox: ",
    "rpc error: code = Unknown desc = ",
)
_LONG_HEX = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass(frozen=True)
class PodState:
    kind: str
    message: str = ""


def cni_message(event_message: str) -> str:
    """The CNI error from a FailedCreatePodSandBox message, stable across runs.

    Drops kubelet's and the runtime's prefixes and replaces sandbox/container ids (64 hex) with
    `<id>`, so the same failure reads the same in two results files.
    """
    text = event_message.strip()
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                text = text[len(prefix) :]
                changed = True
    return _LONG_HEX.sub("<id>", text)


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def sandbox_failures(
    events: list[dict[str, Any]], pod_name: str, pod_uid: str | None = None
) -> list[dict[str, Any]]:
    """FailedCreatePodSandBox events about this pod, oldest first.

    With `pod_uid`, events of an earlier pod of the same name (a retry wave recreates pods under
    their old names) do not count.
    """
    mine = []
    for e in events:
        about = e.get("involvedObject") or {}
        if e.get("reason") != SANDBOX_REASON or about.get("name") != pod_name:
            continue
        if pod_uid and about.get("uid") and about.get("uid") != pod_uid:
            continue
        mine.append(e)
    return sorted(mine, key=lambda e: _ts(e.get("lastTimestamp") or e.get("eventTime")) or 0.0)


def _first_seen(event: dict[str, Any]) -> float | None:
    return _ts(event.get("firstTimestamp") or event.get("eventTime") or event.get("lastTimestamp"))


def _count(event: dict[str, Any]) -> int:
    series = event.get("series") or {}
    return int(event.get("count") or 0) or int(series.get("count") or 0) or 1


def classify(
    pod: dict[str, Any],
    events: list[dict[str, Any]],
    now: float,
    grace_s: float = SANDBOX_GRACE_S,
    transient_grace_s: float = TRANSIENT_GRACE_S,
) -> PodState:
    """Classify one pod from its serialised object and its namespace's sandbox events."""
    meta = pod.get("metadata") or {}
    name = meta.get("name", "")
    status = pod.get("status") or {}
    phase = status.get("phase")
    containers = status.get("containerStatuses") or []
    if (
        phase == "Running"
        and containers
        and all((c.get("state") or {}).get("running") is not None for c in containers)
    ):
        return PodState(RUNNING)
    if phase in ("Failed", "Succeeded"):
        why = status.get("reason") or status.get("message") or "its container exited"
        return PodState(INFRA, f"pod {name} ended ({phase}): {why}")
    for c in containers:
        waiting = (c.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in IMAGE_REASONS:
            return PodState(
                INFRA,
                f"image pull failed for {c.get('image', '?')}: {reason}: "
                f"{waiting.get('message', '')}".rstrip(": "),
            )
        if reason in CONTAINER_REASONS:
            return PodState(
                INFRA, f"container failed in {name}: {reason}: {waiting.get('message', '')}"
            )
        terminated = (c.get("state") or {}).get("terminated")
        if terminated:
            return PodState(INFRA, f"container exited in {name}: {terminated.get('reason', '')}")
    failures = sandbox_failures(events, name, meta.get("uid"))
    if failures:
        message = cni_message(str(failures[-1].get("message", "")))
        cause = transient_cause(message)
        if cause is not None:
            return _transient(failures, message, cause.name, now, transient_grace_s)
        # only the plugin's own answers count: a transient error before them was a race
        final = [e for e in failures if transient_cause(str(e.get("message", ""))) is None]
        first = _first_seen(final[0])
        repeated = sum(_count(e) for e in final) >= 2
        persisted = first is not None and now - first >= grace_s
        if repeated or persisted:
            return PodState(SANDBOX_FAILED, message)
    return PodState(PENDING, pending_reason(pod))


def _transient(
    failures: list[dict[str, Any]], message: str, cause: str, now: float, grace_s: float
) -> PodState:
    """Still pending while kubelet retries; an infra error once the cause outlasts `grace_s`."""
    first = _first_seen(failures[0])
    waited = 0.0 if first is None else now - first
    if waited >= grace_s:
        return PodState(
            INFRA,
            f"sandbox kept failing for a transient reason ({cause}) for {waited:.0f}s: {message}"[
                :500
            ],
        )
    return PodState(PENDING, f"transient sandbox error ({cause}), kubelet retries: {message}"[:500])


def pending_reason(pod: dict[str, Any]) -> str:
    """Why a pod is still pending, for the timeout message."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"not scheduled: {cond.get('reason', '')} {cond.get('message', '')}".strip()
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return f"waiting: {waiting['reason']}"
    return f"phase {status.get('phase') or 'unknown'}"
