"""One pod with pasted NADs on a cluster (`macmatrix repro --backend kind`): create, wait, read,
collect diagnostics when it fails, delete.

The NADs carry the attachments' configs exactly as given (serialised in their own key order, no
`name` filled in, nothing normalised); the pod gets the user's annotations and the networks
elements as Multus would hold them. Attachments are any objects with `.network` ("ns/name"),
`.config` and `.element` (backends/base.py AttachmentLike). A kube-ovn IPAM (or `type:
kube-ovn`) attachment needs a Subnet with its provider; when the cluster has none, a /24 is made
for the repro and removed afterwards. The builders are pure; `SinglePod` holds the calls.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from macmatrix.backends.base import AttachmentLike
from macmatrix.backends.kind.kube import annotations as ann
from macmatrix.backends.kind.kube import podstate
from macmatrix.backends.kind.kube.client import CallStats, ExecResult, call
from macmatrix.backends.kind.kube.diagnostics import Diagnostics
from macmatrix.backends.kind.kube.matrix import (
    IPS,
    NADS,
    SUBNETS,
    PodStream,
    Watched,
    observe_pod,
    sandbox_events,
    settle,
    wait_subnets_ready,
    watch_pods,
)
from macmatrix.build.cni import element_ifname
from macmatrix.build.manifests import MANAGED_BY, NETWORKS_ANNOTATION, sleeping_pod
from macmatrix.errors import InfraError
from macmatrix.observe import PodObservation
from macmatrix.spec.netconf import is_ovn_attachment, provider_of, uses_kube_ovn_ipam

REPRO_LABEL = {"macmatrix.io/repro": "true"}
POD_TIMEOUT_S = 180.0
ExecFn = Callable[[str, str, list[str]], ExecResult]


# ----------------------------------------------------------------------------- pure builders


def split_network(network: str) -> tuple[str, str]:
    ns, _, name = network.partition("/")
    return ns, name


def provider(att: AttachmentLike) -> str:
    """Kube-OVN's provider of an attachment (spec.netconf.provider_of)."""
    return provider_of(att.config, att.network)


def needs_subnet(att: AttachmentLike) -> bool:
    """Kube-OVN allocates for this attachment, so a Subnet with its provider must exist."""
    return is_ovn_attachment(att.config) or uses_kube_ovn_ipam(att.config)


def nad_body(network: str, config: dict[str, Any]) -> dict[str, Any]:
    """A NAD whose spec.config is the given config, serialised as is (key order kept)."""
    ns, name = split_network(network)
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": ns, "labels": {**MANAGED_BY, **REPRO_LABEL}},
        "spec": {"config": json.dumps(config)},
    }


def subnet_body(prov: str) -> dict[str, Any]:
    """A /24 for one provider in 10.192.0.0/11, clear of the matrix's 10.128/10 Subnets' lower
    half, kind's pods (10.16/16) and services (10.96/12)."""
    h = int(hashlib.sha256(prov.encode()).hexdigest()[:8], 16)
    a, b = 192 + (h >> 8) % 32, h % 256
    return {
        "apiVersion": "kubeovn.io/v1",
        "kind": "Subnet",
        "metadata": {"name": f"mm-repro-{h:08x}", "labels": {**MANAGED_BY, **REPRO_LABEL}},
        "spec": {
            "protocol": "IPv4",
            "provider": prov,
            "cidrBlock": f"10.{a}.{b}.0/24",
            "gateway": f"10.{a}.{b}.1",
            "excludeIps": [f"10.{a}.{b}.1"],
        },
    }


def pod_body(
    name: str,
    namespace: str,
    attachments: Sequence[AttachmentLike],
    annotations: dict[str, str],
    image: str,
) -> dict[str, Any]:
    """The user's annotations, with the networks annotation set to the elements as Multus holds
    them; an unprivileged container that only sleeps (MACs are read through exec)."""
    merged = dict(annotations)
    merged[NETWORKS_ANNOTATION] = json.dumps([a.element for a in attachments])
    return sleeping_pod(name, namespace, {**MANAGED_BY, **REPRO_LABEL}, merged, image)


def interfaces(attachments: Sequence[AttachmentLike]) -> list[str]:
    """eth0, then each attachment's interface as Multus names it (net1, net2, ...)."""
    out = ["eth0"]
    for i, a in enumerate(attachments, 1):
        name = element_ifname(a.element, i)
        if name not in out:
            out.append(name)
    return out


# ----------------------------------------------------------------------------- the run


@dataclass
class Created:
    """What the repro made, so exactly that is deleted afterwards."""

    namespaces: list[str] = field(default_factory=list)
    nads: list[tuple[str, str]] = field(default_factory=list)
    subnets: list[str] = field(default_factory=list)
    pods: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PodSpec:
    """One pod of a wave: its name and namespace, its attachments and the user's annotations."""

    name: str
    namespace: str
    attachments: Sequence[AttachmentLike]
    annotations: dict[str, str]


def one(spec: PodSpec, got: PodObservation | str) -> PodObservation:
    """A wave of one's answer: its observation, or the infra problem that stopped it raised as
    an InfraError naming the pod."""
    if isinstance(got, str):
        where = f"{spec.namespace}/{spec.name}"
        raise InfraError(got if where in got else f"repro pod {where}: {got}")
    return got


class SinglePod:
    """Runs one pod against a cluster; API objects are arguments so tests pass stand-ins."""

    def __init__(
        self,
        core: client.CoreV1Api,
        custom: client.CustomObjectsApi,
        image: str,
        exec_fn: ExecFn,
        out_dir: Path,
        pod_stream: PodStream | None = None,
        timeout_s: float = POD_TIMEOUT_S,
        log: TextIO = sys.stderr,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.core, self.custom = core, custom
        self.image = image
        self.exec_fn = exec_fn
        self.out_dir = out_dir
        self.selector = ",".join(f"{k}={v}" for k, v in REPRO_LABEL.items())
        self.pod_stream = pod_stream or watch_pods(core, self.selector)
        self.timeout_s = timeout_s
        self.log = log
        self.clock, self.wall = clock, wall
        self.stats = CallStats()
        self.created = Created()
        self.diagnostics: str | None = None

    def _api(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call(fn, *args, stats=self.stats, **kwargs)

    def run(
        self,
        pod_name: str,
        namespace: str,
        attachments: Sequence[AttachmentLike],
        annotations: dict[str, str],
    ) -> PodObservation:
        """One pod: a wave of one, whose infra problem is an InfraError."""
        spec = PodSpec(pod_name, namespace, attachments, annotations)
        [got] = self.run_wave([spec])
        return one(spec, got)

    def run_wave(self, specs: Sequence[PodSpec]) -> list[PodObservation | str]:
        """Every pod of `specs` created before any is waited for (one wave, settled together by
        kube.matrix.settle like a matrix wave), then each read. Per spec, its observation or the
        infra problem that stopped it (a str). What was created is deleted again, also when this
        fails or is interrupted."""
        try:
            self._setup(specs)
            states = self._settle(specs)
            out: list[PodObservation | str] = []
            for spec in specs:
                state, obj = states[(spec.namespace, spec.name)]
                if state.kind == podstate.INFRA:
                    self._diagnose(spec.name, spec.namespace, state.message)
                    out.append(state.message)
                    continue
                try:
                    obs = self._observe(spec.name, spec.namespace, spec.attachments, obj)
                except InfraError as e:  # exec failed: this pod's problem, not the wave's
                    out.append(str(e))
                    continue
                if state.kind == podstate.SANDBOX_FAILED:
                    obs.error = state.message or "sandbox creation failed (no message)"
                    self._diagnose(spec.name, spec.namespace, obs.error)
                out.append(obs)
            return out
        except (ApiException, urllib3.exceptions.HTTPError) as e:
            why = f"{e.status} {e.reason}" if isinstance(e, ApiException) else str(e)
            raise InfraError(f"repro on kind: the API refused a call: {why}") from e
        finally:
            self.cleanup()

    # ------------------------------------------------------------------ setup
    def _ensure_namespace(self, ns: str) -> None:
        if ns in self.created.namespaces:
            return
        try:
            self._api(self.core.read_namespace, ns)
            return
        except ApiException as e:
            if e.status != 404:
                raise
        body = client.V1Namespace(
            metadata=client.V1ObjectMeta(name=ns, labels={**MANAGED_BY, **REPRO_LABEL})
        )
        self._api(self.core.create_namespace, body)
        self.created.namespaces.append(ns)

    def _create(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._api(fn, *args)
        except ApiException as e:
            if e.status == 409:
                raise InfraError(
                    f"{what} already exists on the kept cluster (left by an interrupted repro, "
                    "or a previous one still terminating); wait a few seconds or delete it with "
                    "kubectl, then run again"
                ) from e
            raise

    def _setup(self, specs: Sequence[PodSpec]) -> None:
        """Namespaces, every NAD, the Subnets (Ready), then every pod: all before any wait."""
        seen: set[str] = set()
        for spec in specs:
            self._ensure_namespace(spec.namespace)
            for att in spec.attachments:
                if att.network in seen:
                    continue
                seen.add(att.network)
                ns, name = split_network(att.network)
                self._ensure_namespace(ns)
                self._create(
                    f"NAD {att.network}",
                    self.custom.create_namespaced_custom_object,
                    NADS[0],
                    NADS[1],
                    ns,
                    NADS[2],
                    nad_body(att.network, att.config),
                )
                self.created.nads.append((ns, name))
        self._subnets([provider(a) for s in specs for a in s.attachments if needs_subnet(a)])
        for spec in specs:
            body = pod_body(
                spec.name, spec.namespace, spec.attachments, spec.annotations, self.image
            )
            self._create(
                f"pod {spec.namespace}/{spec.name}",
                self.core.create_namespaced_pod,
                spec.namespace,
                client.V1Pod.model_validate(body),
            )
            self.created.pods.append((spec.namespace, spec.name))

    def _subnets(self, providers: list[str]) -> None:
        if not providers:
            return
        listing = self._api(self.custom.list_cluster_custom_object, *SUBNETS) or {}
        have = {((i.get("spec") or {}).get("provider")) for i in listing.get("items", [])}
        for prov in dict.fromkeys(providers):
            if prov in have:
                continue
            body = subnet_body(prov)
            print(
                f"macmatrix: repro: Subnet {body['metadata']['name']} "
                f"({body['spec']['cidrBlock']}) for provider {prov}",
                file=self.log,
            )
            self._create(
                f"Subnet {body['metadata']['name']}",
                self.custom.create_cluster_custom_object,
                *SUBNETS,
                body,
            )
            self.created.subnets.append(body["metadata"]["name"])
        if self.created.subnets:
            wait_subnets_ready(
                self.custom,
                self.created.subnets,
                self.selector,
                self.stats,
                what="the repro's Kube-OVN Subnets",
                show=None,
            )

    # ------------------------------------------------------------------ wait and read
    def _settle(
        self, specs: Sequence[PodSpec]
    ) -> dict[tuple[str, str], tuple[podstate.PodState, dict[str, Any]]]:
        """Settle every pod of the wave, one namespace at a time (a wave has one namespace)."""
        out: dict[tuple[str, str], tuple[podstate.PodState, dict[str, Any]]] = {}
        deadline = self.clock() + self.timeout_s + 2.0 * (len(specs) - 1)
        for namespace in dict.fromkeys(s.namespace for s in specs):
            slots = {s.name: Watched(s.name) for s in specs if s.namespace == namespace}

            def events(ns: str = namespace, slots: dict[str, Watched] = slots) -> Any:
                # none needed before a pod is seen
                seen = any(w.obj for w in slots.values())
                return sandbox_events(self.core, ns, self.stats, self.log) if seen else []

            settle(
                slots,
                self.pod_stream,
                namespace,
                deadline,
                events,
                self.stats,
                self.log,
                self.clock,
                self.wall,
            )
            out.update({(namespace, n): (w.state, w.obj) for n, w in slots.items()})
        return out

    def _observe(
        self,
        pod_name: str,
        namespace: str,
        attachments: Sequence[AttachmentLike],
        obj: dict[str, Any],
    ) -> PodObservation:
        providers = [ann.OVN_PROVIDER] + list(dict.fromkeys(provider(a) for a in attachments))
        try:
            listing = self._api(self.custom.list_cluster_custom_object, *IPS) or {}
            ip_crs = ann.index_ip_crs(listing.get("items", []))
        except ApiException as e:  # no Kube-OVN CRDs: nothing to report, not a failure
            print(f"macmatrix: listing Kube-OVN IP CRs failed: {e.status}", file=self.log)
            ip_crs = {}
        obs = observe_pod(pod_name, namespace, obj, providers, ip_crs)
        running = (obj.get("status") or {}).get("phase") == "Running"
        for ifname in interfaces(attachments) if running else []:
            res = self.exec_fn(namespace, pod_name, ["cat", f"/sys/class/net/{ifname}/address"])
            if res.returncode is None:
                raise InfraError(
                    f"exec in {namespace}/{pod_name} failed: {res.stderr.strip() or 'no exit code'}"
                )
            obs.interfaces[ifname] = (res.stdout.strip() or None) if res.returncode == 0 else None
        return obs

    def _diagnose(self, pod_name: str, namespace: str, why: str) -> None:
        diag = Diagnostics(self.core, namespace, self.exec_fn, self.out_dir, self.stats)
        try:
            self.diagnostics = diag.collect_pod(
                f"repro-{namespace}-{pod_name}", pod_name, [f"pod: {namespace}/{pod_name}", why]
            )
            print(f"macmatrix: repro diagnostics: {self.diagnostics}", file=self.log)
        except OSError as e:  # never hide the failure behind a diagnostics problem
            print(f"macmatrix: could not write diagnostics: {e}", file=self.log)

    # ------------------------------------------------------------------ cleanup
    def cleanup(self) -> None:
        """Delete what this repro created (pod first, then NADs, Subnets, namespaces)."""
        steps: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        for ns, name in self.created.pods:
            steps.append(
                (
                    f"pod {ns}/{name}",
                    self.core.delete_namespaced_pod,
                    (name, ns),
                    {"grace_period_seconds": 0},
                )
            )
        for ns, name in self.created.nads:
            steps.append(
                (
                    f"NAD {ns}/{name}",
                    self.custom.delete_namespaced_custom_object,
                    (NADS[0], NADS[1], ns, NADS[2], name),
                    {},
                )
            )
        for sub in self.created.subnets:
            steps.append(
                (f"Subnet {sub}", self.custom.delete_cluster_custom_object, (*SUBNETS, sub), {})
            )
        for ns in self.created.namespaces:
            steps.append((f"namespace {ns}", self.core.delete_namespace, (ns,), {}))
        for what, fn, args, kwargs in steps:
            try:
                self._api(fn, *args, **kwargs)
            except Exception as e:  # keep deleting the rest; say what stays behind
                if not (isinstance(e, ApiException) and e.status == 404):
                    print(f"macmatrix: could not delete {what}: {e}", file=self.log)
        self.created = Created()
