"""The fix search on the kind backend: the candidates are pods of one wave in one namespace.

Candidates differ in their NAD configs, so each gets its own copies of the NADs, renamed
`<name>-c<i>` in the wave's namespace (`mm-fix-<run id>`), and its networks elements point at
them. Where Kube-OVN's provider is the implicit `<nad>.<ns>` (spec.netconf.provider_of) the user's
`<provider>.kubernetes.io/...` keys follow the rename and the observation's keys are mapped
back, so the judge (judge/pasted.py) judges the user's own names. Pods are made and waited for by
kube/single.SinglePod.run_wave (the settle loop of the matrix's waves). Two pods asking for the
same MAC cannot share a wave (macvlan refuses a MAC busy on its lower device, Kube-OVN one
already in its subnet), so a candidate asking for a MAC already in the wave goes into a later
one: one wave when no two candidates ask for the same MAC.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from macmatrix.backends import podrun
from macmatrix.backends.kind.kube.single import PodSpec, split_network
from macmatrix.backends.netns.backend import Attachment
from macmatrix.errors import BadInput, InfraError
from macmatrix.judge import pasted
from macmatrix.observe import PodObservation
from macmatrix.spec.netconf import annotation_prefix, explicit_provider, provider_of
from macmatrix.spec.userinput import Request
from macmatrix.types import Outcome
from macmatrix.workflows.candidates import Tried, apply, requested
from macmatrix.workflows.remedies import Candidate


@dataclass
class Placed:
    """A candidate's pod in the wave, and how to read its observation back in the user's names."""

    spec: PodSpec | None  # None: nothing to create (Multus itself refuses the networks value)
    rejected: str | None
    back: dict[str, str]  # wave provider -> the user's provider
    macs: frozenset[str]


def place(changed: Request, index: int, namespace: str) -> Placed:
    """Candidate `index` (its request already edited) as a pod of the wave in `namespace`."""
    rows = pasted.judge(changed, None)[0]
    macs = frozenset(r.requested.lower() for r in rows if r.requested)
    rejected = podrun.multus_rejection(changed)
    if rejected:
        return Placed(None, rejected, {}, macs)
    annotations = dict(changed.annotations)
    back: dict[str, str] = {}
    attachments = []
    for b in changed.bindings:
        ns, name = split_network(b.network)
        new = f"{name}-c{index}"
        if explicit_provider(b.nad.config) is None:
            old_p = provider_of(b.nad.config, b.network)
            new_p = provider_of(b.nad.config, f"{namespace}/{new}")
            back[new_p] = old_p
            for key in [k for k in annotations if k.startswith(annotation_prefix(old_p))]:
                annotations[new_p + key[len(old_p) :]] = annotations.pop(key)
        element = {**b.element, "name": new, "namespace": namespace}
        attachments.append(Attachment(f"{namespace}/{new}", b.nad.config, element))
    spec = PodSpec(f"fix-{index}", namespace, attachments, annotations)
    return Placed(spec, None, back, macs)


def map_back(obs: PodObservation, back: dict[str, str]) -> PodObservation:
    """The observation with the wave's providers renamed to the user's (judge reads those)."""

    def rename(key: str) -> str:
        for new, old in back.items():
            if key == new or key.startswith(new + "."):
                return old + key[len(new) :]
        return key

    obs.annotations = {rename(k): v for k, v in obs.annotations.items()}
    obs.ip_cr_mac = {rename(k): v for k, v in obs.ip_cr_mac.items()}
    return obs


def plan_waves(placed: Sequence[Placed]) -> list[list[int]]:
    """Indices of the pods per wave: in order, each into the first wave where none of its MACs is
    already asked for (one wave when no two candidates ask for the same MAC)."""
    waves: list[tuple[list[int], set[str]]] = []
    for i, p in enumerate(placed):
        if p.spec is None:
            continue
        for members, used in waves:
            if not (p.macs & used):
                members.append(i)
                used |= p.macs
                break
        else:
            waves.append(([i], set(p.macs)))
    return [members for members, _ in waves]


def run_candidates(backend: Any, request: Request, candidates: Sequence[Candidate]) -> list[Tried]:
    """Run the candidates as pods on the kind backend (backends/kind/pods.py KindPods.run_pods)
    and judge each with judge/pasted.py; a list of candidates.Tried in the candidates' order."""
    want = requested(pasted.judge(request, None)[0])
    namespace = f"mm-fix-{secrets.token_hex(4)}"
    changed = [apply(request, c) for c in candidates]
    placed = [place(ch, i, namespace) for i, ch in enumerate(changed)]
    seen: dict[int, PodObservation | str] = {}
    for wave in plan_waves(placed):
        specs = [placed[i].spec for i in wave]
        got = backend.run_pods([s for s in specs if s is not None])
        seen.update(zip(wave, got, strict=True))
    out = []
    for i, cand in enumerate(candidates):
        p = placed[i]
        pod = seen.get(i)
        if p.rejected:
            pod = PodObservation(name=request.pod_name, error=p.rejected)
        if isinstance(pod, str) or pod is None:
            why = pod or "not run"
            out.append(Tried(cand, Outcome.INFRA_ERROR, why, False, []))
            continue
        try:
            rows, _checks, outcome, reason = pasted.judge(changed[i], map_back(pod, p.back))
        except (InfraError, BadInput) as e:
            out.append(Tried(cand, Outcome.INFRA_ERROR, str(e), False, []))
            continue
        got_macs = requested(rows)
        keeps = cand.changes_mac or got_macs == want
        if not keeps:
            reason = f"asks for other MACs ({got_macs}) than the report ({want})" + (
                f"; {reason}" if reason else ""
            )
        out.append(Tried(cand, outcome, reason, keeps, [r.to_json() for r in rows]))
    return out


def verified_on(stack: dict[str, Any]) -> str:
    """`kind with <stack> (Kube-OVN, Multus, plugins versions)` from the entry's stack block."""
    parts = [
        f"{label} {stack[key]}"
        for key, label in (
            ("kube_ovn", "Kube-OVN"),
            ("multus", "Multus"),
            ("cni_plugins", "containernetworking-plugins"),
            ("kubernetes", "Kubernetes"),
        )
        if stack.get(key)
    ]
    name = stack.get("name") or "unknown stack"
    return f"kind with {name}" + (f" ({', '.join(parts)})" if parts else "")
