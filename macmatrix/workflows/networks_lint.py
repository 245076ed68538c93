"""Lint the networks elements the way Multus reads them (issue 11, section 4).

Multus (k8snetworkplumbingwg/multus-cni pkg/k8sclient/k8sclient.go parsePodNetworkAnnotation)
reads `k8s.v1.cni.cncf.io/networks` with Go's json.Unmarshal into NetworkSelectionElement
(pkg/types/types.go). Checked at v4.1.3, v4.2.1, v4.2.3 and v4.2.4 (the Multus versions the
stacks pin): the json tags below are identical there. What follows from Go's encoding/json:

- a key that matches no tag is dropped without a word (so a `macAddress` never reaches anyone);
- a key that matches a tag only by case (`MAC`) is still read (encoding/json matches keys
  case-insensitively), but other tools reading the annotation do not;
- a value of the wrong JSON type fails the whole annotation, and with it the pod's sandbox.

The short form `ns/name@ifname` (split on ',', '/', '@') can name the interface but cannot ask
for a MAC or IPs.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from macmatrix import macs
from macmatrix.spec.netconf import annotation_key, implicit_provider
from macmatrix.spec.userinput import NETWORKS
from macmatrix.workflows.findings import ERROR, INFO, WARNING, Finding

SOURCE = (
    "k8snetworkplumbingwg/multus-cni pkg/types/types.go NetworkSelectionElement and "
    "pkg/k8sclient/k8sclient.go parsePodNetworkAnnotation (v4.1.3-v4.2.4); Go encoding/json "
    "(unknown keys ignored, keys matched case-insensitively, type mismatch is an error)"
)

# json tag -> the JSON type Go accepts for the field (None: JSON null is also fine).
ELEMENT_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "namespace": (str,),
    "ips": (list,),
    "mac": (str,),
    "infiniband-guid": (str,),
    "interface": (str,),
    "interfaceRequest": (str,),
    "portMappings": (list,),
    "bandwidth": (dict,),
    "deviceID": (str,),
    "cni-args": (dict,),
    "default-route": (list,),
}
ELEMENT_KEYS = tuple(ELEMENT_TYPES)
# list fields whose items Go reads as strings ([]string, *[]net.IP from text)
_STRING_ITEMS = ("ips", "default-route")
_JSON_TYPE: dict[type, str] = {str: "a string", list: "a list", dict: "an object"}
MULTUS_FAILS = "Multus fails to parse the whole annotation and the pod's sandbox is not created"


def near_miss(key: str) -> str | None:
    """The Multus key `key` probably meant, or None (exact keys, case-insensitive matches that
    encoding/json already accepts, and far-off keys give None)."""
    if key in ELEMENT_KEYS or key.lower() in {k.lower() for k in ELEMENT_KEYS}:
        return None
    flat = {re.sub(r"[-_]", "", k.lower()): k for k in ELEMENT_KEYS}
    squashed = re.sub(r"[-_]", "", key.lower())
    if squashed in flat:
        return flat[squashed]
    for short in ("mac", "ips"):  # macAddress, mac_address, ipsRequest, ...
        if squashed.startswith(short) and len(squashed) <= len(short) + 8:
            return short
    close = difflib.get_close_matches(key, ELEMENT_KEYS, n=1, cutoff=0.75)
    return close[0] if close else None


def _case_match(key: str) -> str | None:
    lowered = {k.lower(): k for k in ELEMENT_KEYS}
    right = lowered.get(key.lower())
    return right if right and right != key else None


def element_findings(
    elements: list[dict[str, Any]], annotations: dict[str, str], where: str
) -> list[Finding]:
    """Findings for the keys, types and MACs of every element, and across elements."""
    out: list[Finding] = []
    base = f"metadata.annotations[{NETWORKS}]"
    wrong = {(w.index, w.key): w for w in wrong_types(elements)}
    for i, el in enumerate(elements):
        for key in el:
            field = f"{base}[{i}].{key}"
            right = _case_match(key)
            if right:
                out.append(
                    Finding(
                        INFO,
                        "element-key-case",
                        where,
                        field,
                        f"Multus reads {key!r} as {right!r} (Go matches JSON keys "
                        "case-insensitively), but tools that read the annotation may not",
                        f"write it as {right!r}",
                        SOURCE,
                    )
                )
            elif key not in ELEMENT_TYPES:
                guess = near_miss(key)
                out.append(
                    Finding(
                        WARNING if guess else INFO,
                        "unknown-element-key",
                        where,
                        field,
                        f"Multus does not know {key!r} and drops it without a word"
                        + (f"; did you mean {guess!r}?" if guess else ""),
                        f"rename it to {guess!r}"
                        if guess
                        else f"remove it, or use a key Multus parses: {', '.join(ELEMENT_KEYS)}",
                        SOURCE,
                    )
                )
            w = wrong.get((i, key))
            if w:
                out.append(
                    Finding(
                        ERROR,
                        "element-wrong-type",
                        where,
                        field,
                        f"{key!r} is {w.found}; {MULTUS_FAILS}",
                        f"make it {w.want}",
                        SOURCE,
                    )
                )
    out += _duplicates(elements, where, base)
    out += _short_form(elements, annotations, where, base)
    return out


@dataclass(frozen=True)
class WrongType:
    """A networks element field whose JSON type Go cannot unmarshal into its Go field."""

    index: int  # 0-based position in the networks list
    key: str  # as written (Go matches it case-insensitively to `field`)
    field: str  # the json tag it lands on
    found: str  # "a string", "a number", ...
    want: str  # "a list of strings", ...


def wrong_types(elements: list[dict[str, Any]]) -> list[WrongType]:
    """Every field Multus fails to parse, in element and key order: the one rule that both
    `lint` (an error finding) and `repro` (bad input, validate.check_element_types) apply."""
    out = []
    for i, el in enumerate(elements):
        for key, value in el.items():
            tag = key if key in ELEMENT_TYPES else _case_match(key)
            if tag is None or (tag == "namespace" and value == ""):
                continue  # unknown keys are dropped; an empty namespace is filled in
            found = wrong_type(tag, value)
            if found:
                out.append(WrongType(i, key, tag, found, _want(tag)))
    return out


def wrong_type(key: str, value: Any) -> str | None:
    if value is None:
        return None  # JSON null leaves a Go field at its zero value
    want = ELEMENT_TYPES[key]
    if not isinstance(value, want) or isinstance(value, bool):
        return _describe(value)
    if (
        key in _STRING_ITEMS
        and isinstance(value, list)
        and not all(isinstance(v, str) for v in value)
    ):
        return "a list with non-string items"
    return None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _want(key: str) -> str:
    text = " or ".join(_JSON_TYPE[t] for t in ELEMENT_TYPES[key])
    return text + (" of strings" if key in _STRING_ITEMS else "")


def _duplicates(elements: list[dict[str, Any]], where: str, base: str) -> list[Finding]:
    asked = [
        (i, macs.normalise(el["mac"]))
        for i, el in enumerate(elements)
        if isinstance(el.get("mac"), str) and el["mac"]
    ]
    counts = Counter(m for _, m in asked)
    out = []
    for i, mac in asked:
        if counts[mac] > 1:
            others = [j for j, m in asked if m == mac and j != i]
            out.append(
                Finding(
                    WARNING,
                    "duplicate-mac",
                    where,
                    f"{base}[{i}].mac",
                    f"{mac} is also asked for by element(s) {others} of this pod; two macvlan "
                    "links on one master cannot share a MAC (the second fails with 'address "
                    "already in use') and neighbours cannot tell the links apart",
                    "give each element its own MAC",
                    "Linux drivers/net/macvlan.c (macvlan_addr_busy: EADDRINUSE)",
                )
            )
    return out


def _short_form(
    elements: list[dict[str, Any]], annotations: dict[str, str], where: str, base: str
) -> list[Finding]:
    """The `ns/name@if` form cannot carry `mac`; say so where the pod asks for one elsewhere."""
    value = annotations.get(NETWORKS)
    if value is None or any(c in value for c in '[{"'):
        return []
    out = []
    for i, el in enumerate(elements):
        key = annotation_key(implicit_provider(str(el.get("name")), str(el.get("namespace"))))
        if key in annotations:
            out.append(
                Finding(
                    INFO,
                    "short-form-no-mac",
                    where,
                    f"{base}[{i}]",
                    "the short form `namespace/name@interface` cannot ask for a MAC or IPs, so "
                    f"nothing passes {annotations[key]} to the plugins",
                    f'use the JSON form: [{{"name": "{el.get("name")}", "namespace": '
                    f'"{el.get("namespace")}", "mac": "{annotations[key]}"}}]',
                    SOURCE,
                )
            )
    return out
