"""The shared words of macmatrix: outcomes, check names, and the shape of a results.json case.

One place, so the judge, the writer and every view mean the same thing by "infra-error" or
"status_matches_kernel" (tests/test_types.py fails when another module spells an outcome or a
check name as a string literal again). The enums are StrEnums: a member *is* its string, so JSON
written before they existed compares equal, dict lookups by the old strings still work, and
json.dumps writes the plain value. Core layer: imports nothing of macmatrix.

The results.json contract these types describe is DESIGN.md "Results file"; its JSON Schema ships
as package data (macmatrix/data/results.schema.json, checked against these names by tests).
"""

# No `from __future__ import annotations` here: TypedDict must see NotRequired[...] as a type (not
# a string) to leave those keys out of __required_keys__ on Python 3.11.
from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class Outcome(StrEnum):
    """Every case ends in exactly one of these (DESIGN.md: never mixed up)."""

    WORKS = "works"  # did what was asked, all reporters agree
    BROKEN = "broken"  # a real finding: the combination does not do what was asked
    INFRA_ERROR = "infra-error"  # the harness or cluster failed: re-run, never gate on it
    UNSUPPORTED = "unsupported"  # this backend or stack cannot express the case (with a reason)


def outcome_of(value: object) -> Outcome | None:
    """The Outcome a results file's `outcome` names, or None for anything else (any JSON)."""
    if isinstance(value, str) and value in _OUTCOME_VALUES:
        return Outcome(value)
    return None


_OUTCOME_VALUES = frozenset(o.value for o in Outcome)


class Status(StrEnum):
    """What a backend knows of a case without judging MACs (observe.CaseObservation.status).

    `ran` goes to the judge; the other two pass through unchanged as the case's outcome.
    """

    RAN = "ran"
    INFRA_ERROR = Outcome.INFRA_ERROR.value
    UNSUPPORTED = Outcome.UNSUPPORTED.value


class Check(StrEnum):
    """Names of the checks a verdict is made of (DESIGN.md "Verdicts").

    `repro` checks one interface at a time and writes `<name>[<ifname>]` (see tagged()).
    """

    SANDBOX_CREATED = "sandbox_created"  # every pod's sandbox came up (no CNI error)
    SECONDARY_MAC_HONOURED = "secondary_mac_honoured"  # net1 carries the requested MAC
    PRIMARY_MAC_HONOURED = "primary_mac_honoured"  # eth0 carries ovn.kubernetes.io/mac_address
    MAC_HONOURED = "mac_honoured"  # repro: the interface carries the MAC its route asked for
    STATUS_REPORTS_MAC = "status_reports_mac"  # Multus network-status has a mac for it
    STATUS_MATCHES_KERNEL = "status_matches_kernel"  # ... and it is the kernel's
    KUBEOVN_ANNOTATION_MATCHES_KERNEL = "kubeovn_annotation_matches_kernel"
    UNIQUE_ACROSS_REPLICAS = "unique_across_replicas"  # no two pods share a MAC on net1

    def tagged(self, ifname: str) -> str:
        """The per-interface name repro writes, e.g. `mac_honoured[net1]`."""
        return f"{self.value}[{ifname}]"


def check_base(name: str) -> Check | None:
    """The Check a results.json check name stands for (`mac_honoured[net1]` -> MAC_HONOURED)."""
    base = name.split("[", 1)[0] if name.endswith("]") else name
    try:
        return Check(base)
    except ValueError:
        return None


# --------------------------------------------------------------------------- results.json shapes
# TypedDicts, so an entry stays the plain dict json.dumps writes and every reader already reads;
# mypy checks the builders (run/results.case_entry) against the contract.


class CheckEntry(TypedDict):
    """One named check: what was expected, what was observed, and whether they agree."""

    expected: Any
    observed: Any
    ok: bool


class PodEntry(TypedDict):
    """One pod of a case as observed (observe.PodObservation.to_json) plus what it asked for."""

    name: str
    interfaces: dict[str, str | None]  # ifname -> kernel MAC (lower-case, colon-separated)
    network_status: list[dict[str, Any]]  # Multus network-status as the pod carried it
    annotations: dict[str, str]
    ip_cr_mac: dict[str, str | None]
    error: str | None  # the CNI error when the sandbox failed
    invocations: NotRequired[list[dict[str, Any]]]  # left out of the in-memory light copy
    requested: NotRequired[dict[str, str | None]]


class ExpectationEntry(TypedDict):
    """What the case should have shown (the model, or a baseline) and why."""

    outcome: Outcome
    checks: dict[str, bool]
    why: list[str]
    source: str


class CaseEntry(TypedDict):
    """One case of results.json (DESIGN.md "Minimum fields of a results.json case" and more)."""

    id: str
    axes: dict[str, str]
    outcome: Outcome
    reason: str
    requested: dict[str, str | None]  # ifname -> requested MAC, or None when none was asked
    pods: list[PodEntry]
    checks: dict[str, CheckEntry]
    attempts: int
    duration_s: float
    finished: bool  # False: the run stopped before this case finished
    flaky: NotRequired[bool]  # passed only after a retry
    diagnostics: NotRequired[str]  # where the failure's diagnostics were saved
    ipam_substituted: NotRequired[list[dict[str, Any]]]
    not_judged: NotRequired[list[dict[str, str]]]
    expected: NotRequired[ExpectationEntry]
    as_expected: NotRequired[bool | None]  # None: an infra error says nothing either way
    differences: NotRequired[list[str]]
    tries: NotRequired[list[dict[str, Any]]]
