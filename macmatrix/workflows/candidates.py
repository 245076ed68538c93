"""A fix candidate applied to the user's request, and what trying it showed: what the fix
search (netns, fixsearch.py) and its kind runner (fixsearch_kind.py) share."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from typing import Any

from macmatrix.build.cni import element_ifname
from macmatrix.judge.pasted import Row
from macmatrix.spec.userinput import NETWORKS, Request
from macmatrix.types import Outcome
from macmatrix.workflows.remedies import Candidate


@dataclass
class Tried:
    """One candidate and what running it showed."""

    candidate: Candidate
    outcome: Outcome
    reason: str
    keeps_request: bool
    rows: list[dict[str, Any]]

    @property
    def works(self) -> bool:
        return self.outcome == Outcome.WORKS and self.keeps_request

    def to_json(self) -> dict[str, Any]:
        return {
            "remedies": list(self.candidate.remedies),
            "edits": [e.what for e in self.candidate.edits],
            "size": self.candidate.size,
            "outcome": self.outcome,
            "reason": self.reason,
            "keeps_request": self.keeps_request,
            "works": self.works,
        }


def user_elements(request: Request) -> list[dict[str, Any]]:
    """The networks elements as the user wrote them (no namespace filled in where JSON)."""
    value = request.networks_value
    if any(c in value for c in '[{"'):
        data = json.loads(value)
        if isinstance(data, list) and len(data) == len(request.bindings):
            return [dict(e) for e in data]
    return [
        {k: v for k, v in b.element.items() if k != "namespace" or "/" in value}
        for b in request.bindings
    ]


def apply(request: Request, cand: Candidate) -> Request:
    """The request with the candidate's edits (the user's request is not changed)."""
    elements = user_elements(request)
    configs = {b.network: copy.deepcopy(b.nad.config) for b in request.bindings}
    annotations = dict(request.annotations)
    for e in cand.edits:
        kind = e.target[0]
        if kind == "element":
            _, i, key = e.target
            if e.value is None:
                elements[i].pop(key, None)
            else:
                elements[i][key] = e.value
        elif kind == "nad":
            configs[e.target[1]] = copy.deepcopy(e.value)
        elif kind == "annotation":
            if e.value is None:
                annotations.pop(e.target[1], None)
            else:
                annotations[e.target[1]] = str(e.value)
    annotations[NETWORKS] = networks_text(elements)
    bindings = []
    for b, el in zip(request.bindings, elements, strict=True):
        element = {**el, "namespace": el.get("namespace") or b.element.get("namespace")}
        bindings.append(
            replace(
                b,
                element=element,
                nad=replace(b.nad, config=configs[b.network]),
                ifname=element_ifname(element, b.index),
            )
        )
    return replace(
        request, bindings=bindings, annotations=annotations, networks_value=annotations[NETWORKS]
    )


def networks_text(elements: list[dict[str, Any]]) -> str:
    return json.dumps(elements)


def requested(rows: list[Row]) -> list[str | None]:
    """The requested MAC of each attachment, in the pod's order (an interface may be renamed)."""
    return [r.requested for r in rows if r.route != "ovn"]
