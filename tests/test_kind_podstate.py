"""Outcome classification: a CNI sandbox failure is a finding; image pulls, scheduling and
timeouts are infra errors; one early sandbox failure is given a chance to recover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from macmatrix.backends.kind.kube import podstate as ps

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
CNI_ERROR = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    'sandbox "'
    + "ab"
    * 32
    + '": plugin type="multus-shim" name="multus-cni-network" failed (add): '
    "CmdAdd (shim): CNI request failed with status 400: '[mm/mm-1-0:mm-1]: error adding container "
    'to network "mm-1": failed to find plugin "tuning" in path [/opt/cni/bin]\''
)


def pod(name: str = "mm-1-0", phase: str = "Pending", **container_state: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if container_state:
        status["containerStatuses"] = [
            {"name": "sleep", "image": "img:1", "state": container_state}
        ]
    return {"metadata": {"name": name}, "status": status}


def event(
    name: str, seconds_ago: float, count: int = 1, message: str = CNI_ERROR
) -> dict[str, Any]:
    t = (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")
    return {
        "reason": "FailedCreatePodSandBox",
        "involvedObject": {"kind": "Pod", "name": name},
        "firstTimestamp": t,
        "lastTimestamp": t,
        "count": count,
        "message": message,
    }


def test_running() -> None:
    state = ps.classify(pod(phase="Running", running={"startedAt": "x"}), [], NOW.timestamp())
    assert state == ps.PodState(ps.RUNNING)


def test_running_phase_without_a_running_container_is_not_running_yet() -> None:
    state = ps.classify(
        pod(phase="Running", waiting={"reason": "ContainerCreating"}), [], NOW.timestamp()
    )
    assert state.kind == ps.PENDING


def test_repeated_sandbox_failure_is_a_finding_with_the_cni_message() -> None:
    state = ps.classify(pod(), [event("mm-1-0", 3, count=2)], NOW.timestamp())
    assert state.kind == ps.SANDBOX_FAILED
    assert state.message.startswith('failed to setup network for sandbox "<id>"')
    assert 'failed to find plugin "tuning"' in state.message
    assert "rpc error" not in state.message


def test_one_fresh_sandbox_failure_waits_then_counts() -> None:
    events = [event("mm-1-0", 3)]
    assert ps.classify(pod(), events, NOW.timestamp()).kind == ps.PENDING
    later = NOW.timestamp() + ps.SANDBOX_GRACE_S
    assert ps.classify(pod(), events, later).kind == ps.SANDBOX_FAILED


def test_events_of_other_pods_do_not_count() -> None:
    assert ps.classify(pod(), [event("mm-2-0", 60, count=5)], NOW.timestamp()).kind == ps.PENDING


def test_events_of_an_earlier_pod_with_the_same_name_do_not_count() -> None:
    """A retry wave recreates pods under their names; the old pod's failures are not theirs."""
    old = event("mm-1-0", 60, count=5)
    old["involvedObject"]["uid"] = "uid-old"
    new_pod = pod()
    new_pod["metadata"]["uid"] = "uid-new"
    assert ps.classify(new_pod, [old], NOW.timestamp()).kind == ps.PENDING
    old["involvedObject"]["uid"] = "uid-new"
    assert ps.classify(new_pod, [old], NOW.timestamp()).kind == ps.SANDBOX_FAILED


def test_the_latest_sandbox_message_wins() -> None:
    events = [event("mm-1-0", 1, message="second"), event("mm-1-0", 30, message="first")]
    assert ps.classify(pod(), events, NOW.timestamp()).message == "second"


def test_a_running_pod_ignores_old_sandbox_failures() -> None:
    running = pod(phase="Running", running={})
    assert ps.classify(running, [event("mm-1-0", 60, count=3)], NOW.timestamp()).kind == ps.RUNNING


def test_image_pull_failure_is_infra() -> None:
    state = ps.classify(
        pod(waiting={"reason": "ImagePullBackOff", "message": "Back-off pulling image"}), [], 0.0
    )
    assert state.kind == ps.INFRA
    assert state.message.startswith("image pull failed for img:1: ImagePullBackOff")


def test_container_errors_and_ended_pods_are_infra() -> None:
    assert ps.classify(pod(waiting={"reason": "CreateContainerError"}), [], 0.0).kind == ps.INFRA
    assert ps.classify(pod(terminated={"reason": "Error"}), [], 0.0).kind == ps.INFRA
    assert ps.classify(pod(phase="Failed"), [], 0.0).kind == ps.INFRA


def test_pending_reason_for_timeouts() -> None:
    unscheduled = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/2 nodes",
                }
            ],
        },
    }
    assert ps.pending_reason(unscheduled) == "not scheduled: Unschedulable 0/2 nodes"
    assert (
        ps.pending_reason(pod(waiting={"reason": "ContainerCreating"}))
        == "waiting: ContainerCreating"
    )
    assert ps.pending_reason({}) == "phase unknown"


def test_cni_message_keeps_unprefixed_text() -> None:
    assert ps.cni_message("plain error") == "plain error"
