"""Lint of the networks elements as Multus parses them (issue 11, section 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from macmatrix.backends import podrun
from macmatrix.errors import BadInput
from macmatrix.spec.userinput import NETWORKS, parse_text, resolve
from macmatrix.workflows import repro
from macmatrix.workflows.lint import lint
from macmatrix.workflows.networks_lint import (
    ELEMENT_KEYS,
    element_findings,
    wrong_type,
    wrong_types,
)

NAD = (
    "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
    "metadata: {name: mv, namespace: default}\n"
    'spec:\n  config: \'{"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1",'
    ' "ipam": {"type": "static"}}\'\n'
)


def findings(elements: list[dict[str, Any]], extra: str = "") -> list[tuple[str, str, str]]:
    text = (
        NAD + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n"
        f"  annotations:\n    {NETWORKS}: '{json.dumps(elements)}'\n{extra}"
    )
    base = f"metadata.annotations[{NETWORKS}]"
    return [
        (f.level, f.rule, f.field.replace(base, ""))
        for f in lint(parse_text(text, "t"))
        if f.rule != "mac-without-capability"
    ]


def test_unknown_keys_are_said_with_a_did_you_mean_for_near_misses() -> None:
    got = findings([{"name": "mv", "macAddress": "02:00:00:00:00:01", "colour": "blue"}])
    assert ("warning", "unknown-element-key", "[0].macAddress") in got
    assert ("info", "unknown-element-key", "[0].colour") in got
    msgs = [
        f.message
        for f in lint(
            parse_text(NAD + '---\n[{"name": "mv", "mac_address": "02:00:00:00:00:01"}]', "t")
        )
    ]
    assert any("did you mean 'mac'" in m for m in msgs)


def test_keys_matching_only_by_case_are_read_by_multus_but_flagged() -> None:
    assert findings([{"name": "mv", "MAC": "02:00:00:00:00:01"}]) == [
        ("info", "element-key-case", "[0].MAC")
    ]


@pytest.mark.parametrize(
    ("key", "value", "bad"),
    [
        ("ips", "10.0.0.1/24", "a string"),
        ("ips", ["10.0.0.1/24", 5], "a list with non-string items"),
        ("mac", 12, "a number"),
        ("cni-args", ["mac"], "a list"),
        ("interface", True, "a boolean"),
        ("default-route", ["10.0.0.1"], None),
        ("bandwidth", None, None),
    ],
)
def test_wrong_json_types_fail_multus(key: str, value: Any, bad: str | None) -> None:
    assert key in ELEMENT_KEYS and wrong_type(key, value) == bad
    got = findings([{"name": "mv", key: value}])
    assert (("error", "element-wrong-type", f"[0].{key}") in got) == (bad is not None)


def test_a_wrong_type_is_bad_input_in_repro_and_an_error_in_lint() -> None:
    """One rule (wrong_types) for both: lint's error finding, repro's one line (exit 2)."""
    text = NAD + '---\n[{"name": "mv", "mac": "02:00:00:00:00:01", "ips": "10.0.0.1/24"}]\n'
    request = resolve(parse_text(text, "t"))
    assert podrun.multus_rejection(request) is None  # not a sandbox failure of the pod any more
    with pytest.raises(BadInput, match=r"\[0\]\.ips is a string; make it a list of strings"):
        repro.refuse_wrong_types(request)


def test_a_key_go_matches_by_case_is_type_checked_too() -> None:
    """encoding/json reads `IPS` into `ips`, so its wrong type fails Multus just the same."""
    (w,) = wrong_types([{"name": "mv", "IPS": "10.0.0.1/24"}])
    assert (w.index, w.key, w.field, w.found) == (0, "IPS", "ips", "a string")
    got = findings([{"name": "mv", "IPS": "10.0.0.1/24"}])
    assert ("error", "element-wrong-type", "[0].IPS") in got


def test_duplicate_macs_across_elements() -> None:
    mac = "02:00:00:00:00:07"
    got = findings([{"name": "mv", "mac": mac}, {"name": "mv", "mac": mac.upper()}])
    assert [g for g in got if g[1] == "duplicate-mac"] == [
        ("warning", "duplicate-mac", "[0].mac"),
        ("warning", "duplicate-mac", "[1].mac"),
    ]


def test_short_form_cannot_carry_the_mac_the_pod_asks_for_by_annotation() -> None:
    elements = [{"name": "mv", "namespace": "default"}]
    ann = {NETWORKS: "default/mv", "mv.default.kubernetes.io/mac_address": "02:00:00:00:00:09"}
    (f,) = element_findings(elements, ann, "t")
    assert f.rule == "short-form-no-mac" and '"mac": "02:00:00:00:00:09"' in f.fix
    ann[NETWORKS] = json.dumps(elements)  # the JSON form: no such finding
    assert element_findings(elements, ann, "t") == []
