"""Transient sandbox errors vs a plugin's own refusal (issue 9, item 6).

Every message below is built from the format strings of its upstream source (named beside it),
wrapped the way it reaches a FailedCreatePodSandBox event on kind: containerd's "failed to
setup network for sandbox", libcni's `plugin type="multus-shim" ... failed (add): ` (
containernetworking/cni libcni/api.go v1.3.0), the thick shim's "CmdAdd (shim): CNI request
failed with status 400: '...'" (multus-cni pkg/server/api/shim.go, api.go v4.2.4), the daemon's
"<ContainerID...> ERRORED: error configuring pod [ns/pod] networking: " (pkg/server/server.go)
and "[ns/pod/uid:net]: error adding container to network \"net\": " (pkg/multus/multus.go).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from macmatrix.backends.kind.kube import podstate as ps
from macmatrix.backends.kind.kube.transient import CAUSES, transient_cause

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
SANDBOX = "ab" * 32
SHIM = (
    "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for "
    f'sandbox "{SANDBOX}": plugin type="multus-shim" name="multus-cni-network" failed (add): '
)


def via_multus(inner: str, net: str = "mm-1") -> str:
    """`inner` (a delegate's error) as the thick daemon returns it through the shim."""
    return (
        SHIM + "CmdAdd (shim): CNI request failed with status 400: "
        f'\'ContainerID:"{SANDBOX}" Netns:"/var/run/netns/cni-1" IfName:"eth0" '
        'Args:"K8S_POD_NAMESPACE=mm-x;K8S_POD_NAME=mm-1-0" Path:"" ERRORED: '
        "error configuring pod [mm-x/mm-1-0] networking: "
        f'[mm-x/mm-1-0/0d1e:{net}]: error adding container to network "{net}": {inner}\n\''
    )


TRANSIENT = {
    # kubeovn/kube-ovn pkg/daemon/handler.go (v1.13.15..v1.16.2) after 20 polls 1 s apart,
    # returned by cmd/cni/cni.go as types.Error{Msg: "RPC failed", Details: ...}
    "kube-ovn: no address allocated yet": via_multus(
        "RPC failed; request ip return 500 no address allocated to pod mm-x/mm-1-0 provider "
        "mm-1.mm-x, please see kube-ovn-controller logs to find errors",
    ),
    "kube-ovn: route not ready yet": via_multus(
        "RPC failed; request ip return 500 route is not ready for pod mm-x/mm-1-0 provider ovn, "
        "please see kube-ovn-controller logs to find errors",
        net="kube-ovn",
    ),
    # kubeovn/kube-ovn pkg/request/client.go: net.Dial("unix", socket) under gorequest
    "kube-ovn: daemon socket not answering": via_multus(
        'RPC failed; Post "http://dummy/api/v1/add": dial unix '
        "/run/openvswitch/kube-ovn-daemon.sock: connect: connection refused",
        net="kube-ovn",
    ),
    # kubeovn/kube-ovn pkg/daemon/ovs_linux.go
    "kube-ovn: interface not ready in time": via_multus(
        "RPC failed; request ip return 500 network 10.16.0.5/16 with gateway 10.16.0.1 is not "
        "ready for interface eth0 after 200 checks: timeout",
        net="kube-ovn",
    ),
    # multus-cni pkg/server/api/api.go DoCNI + shim.go postRequest (no cnitypes.Error)
    "multus: daemon socket not answering": (
        SHIM + 'CmdAdd (shim): failed to send CNI request: Post "http://dummy/cni": dial unix '
        "/run/multus/multus.sock: connect: no such file or directory: StdinData: {...}"
    ),
    # multus-cni shim.go WaitUntilAPIReady -> apimachinery wait.ErrWaitTimeout
    "multus: daemon not ready in time": SHIM + "CmdAdd (shim): timed out waiting for the condition",
    # multus-cni pkg/multus/multus.go cmdErr(...readinessindicatorfile...)
    "multus: default network not ready yet": via_multus(
        "Multus: [mm-x/mm-1-0/0d1e]: have you checked that your default network is ready? still "
        "waiting for readinessindicatorfile @ /host/etc/cni/net.d/00-kube-ovn.conflist. "
        "pollimmediate error: timed out waiting for the condition"
    ),
    # multus-cni pkg/multus/multus.go GetPod
    "multus: API server did not answer for the pod": via_multus(
        "Multus: [mm-x/mm-1-0/0d1e]: error waiting for pod: Get "
        '"https://10.96.0.1:443/api/v1/namespaces/mm-x/pods/mm-1-0": dial tcp 10.96.0.1:443: '
        "i/o timeout"
    ),
    # Go context.DeadlineExceeded through the CRI
    "deadline exceeded": (
        "Failed to create pod sandbox: rpc error: code = DeadlineExceeded desc = context "
        "deadline exceeded"
    ),
    # client-go rest/request.go v0.34.1
    "API throttling": via_multus(
        "Multus: [mm-x/mm-1-0/0d1e]: error waiting for pod: client rate limiter Wait returned an "
        "error: rate: Wait(n=1) would exceed context deadline"
    ),
}

FINAL = {
    # containernetworking/plugins plugins/main/macvlan/macvlan.go v1.9.1
    "macvlan master missing": via_multus(
        'plugin type="macvlan" failed (add): failed to lookup master "eth1": Link not found'
    ),
    "macvlan create refused": via_multus(
        'plugin type="macvlan" failed (add): failed to create macvlan: cannot assign requested '
        "address"
    ),
    # containernetworking/cni pkg/invoke/find.go v1.3.0
    "plugin missing": via_multus('failed to find plugin "static" in path [/opt/cni/bin]'),
    # containernetworking/cni pkg/skel/skel.go v1.3.0
    "cni version": via_multus(
        'plugin type="macvlan" failed (add): incompatible CNI versions; config is "1.1.0", '
        'plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0"]'
    ),
    # multus-cni pkg/multus/multus.go DelegateAdd
    "bad mac request": via_multus('DelegateAdd: failed to parse mac address "02:zz"'),
    # kubeovn/kube-ovn pkg/daemon/handler.go: a refusal, not a wait ("RPC failed" alone is not
    # transient: every daemon error goes through it)
    "kube-ovn refusal": via_multus(
        "RPC failed; request ip return 500 failed to get ip address with mask, invalid cidr",
        net="kube-ovn",
    ),
}


@pytest.mark.parametrize("name", sorted(TRANSIENT))
def test_transient_shapes_are_recognised(name: str) -> None:
    cause = transient_cause(ps.cni_message(TRANSIENT[name]))
    assert cause is not None and cause.name == name


@pytest.mark.parametrize("name", sorted(FINAL))
def test_a_plugins_own_refusal_is_not_transient(name: str) -> None:
    assert transient_cause(ps.cni_message(FINAL[name])) is None


def test_every_cause_has_a_source_and_a_tested_shape() -> None:
    assert {c.name for c in CAUSES} == set(TRANSIENT)
    assert all(c.source for c in CAUSES)


def pod(name: str = "mm-1-0") -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"phase": "Pending"}}


def event(seconds_ago: float, message: str, count: int = 1) -> dict[str, Any]:
    t = (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")
    return {
        "reason": "FailedCreatePodSandBox",
        "involvedObject": {"kind": "Pod", "name": "mm-1-0"},
        "firstTimestamp": t,
        "lastTimestamp": t,
        "count": count,
        "message": message,
    }


NO_ADDRESS = TRANSIENT["kube-ovn: no address allocated yet"]
REFUSAL = FINAL["macvlan create refused"]


def test_a_repeated_transient_error_waits_for_kubelets_retries() -> None:
    state = ps.classify(pod(), [event(30, NO_ADDRESS, count=3)], NOW.timestamp())
    assert state.kind == ps.PENDING
    assert "transient sandbox error (kube-ovn: no address allocated yet)" in state.message


def test_a_transient_error_that_persists_is_an_infra_error_not_a_finding() -> None:
    state = ps.classify(pod(), [event(ps.TRANSIENT_GRACE_S, NO_ADDRESS, count=5)], NOW.timestamp())
    assert state.kind == ps.INFRA
    assert state.message.startswith("sandbox kept failing for a transient reason")
    assert "no address allocated" in state.message


def test_the_plugins_refusal_after_a_race_is_final_only_once_it_repeats() -> None:
    # first attempt raced the controller, second attempt: macvlan refuses (count 1) -> wait
    events = [event(25, NO_ADDRESS), event(2, REFUSAL)]
    assert ps.classify(pod(), events, NOW.timestamp()).kind == ps.PENDING
    # it refuses again: a finding, with the plugin's message
    events = [event(25, NO_ADDRESS), event(2, REFUSAL, count=2)]
    state = ps.classify(pod(), events, NOW.timestamp())
    assert state.kind == ps.SANDBOX_FAILED and "failed to create macvlan" in state.message


def test_a_repeated_refusal_is_still_a_finding() -> None:
    state = ps.classify(pod(), [event(3, REFUSAL, count=2)], NOW.timestamp())
    assert state.kind == ps.SANDBOX_FAILED
