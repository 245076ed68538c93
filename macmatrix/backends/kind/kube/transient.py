"""Which sandbox failures are transient (the cluster was busy) and which are a plugin's answer.

A FailedCreatePodSandBox event carries the CNI error. When a wave of pods starts at once, some
of those errors only say that a daemon, the API server or a controller was not there *yet*;
kubelet retries them and a later attempt can succeed. Counting them as `broken` would be a false
finding. Each cause below is the message shape its upstream source prints (checked at the tags
named), so a transient sandbox error is retried and, if it persists, recorded as `infra-error`;
every other sandbox error (a plugin refusing the config, the MAC, the master, ...) stays a
finding.

Sources, read at the pinned tags:
- kubeovn/kube-ovn pkg/daemon/handler.go (v1.13.15, v1.14.41, v1.15.24, v1.16.2): the daemon
  polls the pod 20 times, 1 s apart, for kube-ovn-controller's address annotation and then
  fails "no address allocated to pod %s/%s provider %s, please see kube-ovn-controller logs to
  find errors" (or "route is not ready for pod ..." for the OVN primary). The CNI binary
  (cmd/cni/cni.go) returns it as types.Error{Code: ErrTryAgainLater, Msg: "RPC failed"},
  printed "RPC failed; <details>" (containernetworking/cni pkg/types/types.go Error(), v1.3.0).
- kubeovn/kube-ovn pkg/request/client.go + cniserver.go: the CNI binary dials
  /run/openvswitch/kube-ovn-daemon.sock; a daemon not (yet) listening gives Go's
  "dial unix <sock>: connect: connection refused" / "no such file or directory".
- kubeovn/kube-ovn pkg/daemon/ovs_linux.go: "ovs interface %s is not ready after %s"
  (v1.14.41+), "network %s with gateway %s is not ready for interface %s after %d checks"
  (all four tags).
- k8snetworkplumbingwg/multus-cni pkg/server/api/api.go and shim.go (v4.1.3 .. v4.2.4): the
  thick shim polls the daemon's socket (multus.sock, pkg/server/api/socket.go) for 60 s and
  sends "failed to send CNI request: ... dial unix ...multus.sock: connect: ..."; the poll's
  timeout is apimachinery's "timed out waiting for the condition" (pkg/util/wait/error.go).
- k8snetworkplumbingwg/multus-cni pkg/multus/multus.go: "have you checked that your default
  network is ready? still waiting for readinessindicatorfile", "error waiting for pod: ..."
  (GetPod after its poll of the API server).
- Go's context.DeadlineExceeded: "context deadline exceeded" (the runtime's or a plugin's call
  ran out of time, e.g. "rpc error: code = DeadlineExceeded desc = context deadline exceeded").
- API throttling: client-go rest/request.go (v0.34.1, Multus v4.2.4's pin) "client rate limiter
  Wait returned an error"; apimachinery pkg/api/errors/errors.go (v0.34.1) for HTTP 429 "the
  server has received too many requests and has asked us to try again later".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """A transient cause: a short name for reports, the message shape, and where it comes from."""

    name: str
    pattern: re.Pattern[str]
    source: str


# Go's net.Dial on a unix socket nobody listens on (yet), or that does not exist (yet)
_NOT_LISTENING = r"connect: (connection refused|no such file or directory)"


def _c(name: str, regex: str, source: str) -> Cause:
    return Cause(name, re.compile(regex), source)


CAUSES: tuple[Cause, ...] = (
    _c(
        "kube-ovn: no address allocated yet",
        r"no address allocated to pod \S+ provider \S+",
        "kubeovn/kube-ovn pkg/daemon/handler.go v1.13.15..v1.16.2",
    ),
    _c(
        "kube-ovn: route not ready yet",
        r"route is not ready for pod \S+ provider \S+",
        "kubeovn/kube-ovn pkg/daemon/handler.go v1.13.15..v1.16.2",
    ),
    _c(
        "kube-ovn: daemon socket not answering",
        r"dial unix \S*kube-ovn-daemon\.sock: " + _NOT_LISTENING,
        "kubeovn/kube-ovn pkg/request/client.go, cmd/cni/cni.go (ErrTryAgainLater) "
        "v1.13.15..v1.16.2",
    ),
    _c(
        "kube-ovn: interface not ready in time",
        r"ovs interface \S+ is not ready after \S+"
        r"|network \S+ with gateway \S+ is not ready for interface \S+ after \d+ checks",
        "kubeovn/kube-ovn pkg/daemon/ovs_linux.go v1.13.15..v1.16.2",
    ),
    _c(
        "multus: daemon socket not answering",
        r"dial unix \S*multus\.sock: " + _NOT_LISTENING,
        "k8snetworkplumbingwg/multus-cni pkg/server/api/api.go, socket.go v4.1.3..v4.2.4",
    ),
    _c(
        "multus: daemon not ready in time",
        r"CmdAdd \(shim\): timed out waiting for the condition"
        r"|CheckAPIReadyNow: Daemon not reachable over socketfile",
        "k8snetworkplumbingwg/multus-cni pkg/server/api/shim.go, api.go v4.1.3..v4.2.4",
    ),
    _c(
        "multus: default network not ready yet",
        r"still waiting for readinessindicatorfile",
        "k8snetworkplumbingwg/multus-cni pkg/multus/multus.go v4.1.3..v4.2.4",
    ),
    _c(
        "API throttling",
        r"client rate limiter Wait returned an error"
        r"|the server has received too many requests and has asked us to try again later",
        "kubernetes/client-go rest/request.go v0.34.1; kubernetes/apimachinery "
        "pkg/api/errors/errors.go v0.34.1",
    ),
    _c(
        "multus: API server did not answer for the pod",
        r"error waiting for pod: ",
        "k8snetworkplumbingwg/multus-cni pkg/multus/multus.go GetPod v4.1.3..v4.2.4",
    ),
    _c(
        "deadline exceeded",
        r"context deadline exceeded",
        "Go context.DeadlineExceeded",
    ),
)


def transient_cause(message: str) -> Cause | None:
    """The transient cause a sandbox error message shows, or None when it is a final answer.
    The first cause that matches names it (specific shapes come before the generic ones)."""
    for cause in CAUSES:
        if cause.pattern.search(message):
            return cause
    return None
