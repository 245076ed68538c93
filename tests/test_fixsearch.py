"""Fix search pieces that need no root: the remedy catalogue, candidate edits and the diff.

Running candidates on real plugins (and applying each found diff with patch(1), then running
repro again) is e2e/test_repro.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from macmatrix.spec.userinput import load_paths, parse_text, resolve
from macmatrix.workflows import fixsearch, remedies
from macmatrix.workflows.repro_report import render_markdown

DATA = Path(__file__).parent / "data"


def request_for(name: str) -> Any:
    return resolve(load_paths([str(DATA / "corpus" / name)]))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("01:00:5e:00:00:01", "02:00:5e:00:00:01"),
        ("ff:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff"),
        ("0200.0000.0a01", "02:00:00:00:0a:01"),
        ("02:00:00:00:01", None),  # five octets: no nearest MAC without guessing
    ],
)
def test_nearest_unicast(text: str, want: str | None) -> None:
    got = remedies.nearest_unicast(text)
    assert got == want
    if got:
        assert int(got[:2], 16) & 1 == 0 and int(got[:2], 16) & 2 == 2


@pytest.mark.parametrize(
    ("key", "want"),
    [
        ("macAddress", "mac"),
        ("mac_address", "mac"),
        ("cniArgs", "cni-args"),
        ("cni_args", "cni-args"),
        ("default_route", "default-route"),
        ("MAC", None),  # Go's encoding/json matches keys case-insensitively: Multus reads it
        ("mac", None),
        ("colour", None),
    ],
)
def test_near_miss_of_the_keys_multus_parses(key: str, want: str | None) -> None:
    assert remedies.near_miss(key) == want


def test_every_remedy_cites_a_source_and_ids_are_unique() -> None:
    ids = [r.id for r in remedies.CATALOGUE]
    assert len(ids) == len(set(ids)) and all(r.source and r.title for r in remedies.CATALOGUE)


def test_leaf_changes_counts_what_differs() -> None:
    old = {"type": "macvlan", "ipam": {"type": "static"}}
    assert remedies.leaf_changes(old, old) == 0
    assert remedies.leaf_changes(old, {**old, "capabilities": {"mac": True}}) == 1
    assert remedies.leaf_changes(old, {**old, "cniVersion": "1.0.0", "mode": "bridge"}) == 2


def test_candidates_of_the_seed_report_and_apply_leaves_the_input_alone() -> None:
    request = request_for("issue-4834-host-local.yaml")
    before = copy.deepcopy([(b.element, b.nad.config) for b in request.bindings])
    cands = fixsearch.propose(request, "1.1.1")
    by_remedy = {c.remedies[0]: c for c in cands}
    assert {"move-annotation-mac", "add-tuning"} <= set(by_remedy)
    fixed = fixsearch.apply(request, by_remedy["move-annotation-mac"])
    assert fixed.bindings[0].element["mac"] == "00:00:00:53:6b:bb"
    assert [(b.element, b.nad.config) for b in request.bindings] == before
    text, diff, of = fixsearch.render(request, by_remedy["move-annotation-mac"])
    assert of == str(DATA / "corpus" / "issue-4834-host-local.yaml")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert len(changed) == 2 and all("k8s.v1.cni.cncf.io/networks" in ln for ln in changed)
    assert resolve(parse_text(text, "x")).bindings[0].element["mac"] == "00:00:00:53:6b:bb"


def test_config_edits_replace_only_the_config_block() -> None:
    request = request_for("missing-cniversion.yaml")
    (cand,) = [c for c in fixsearch.propose(request, "1.1.1") if c.remedies == ("cni-version",)]
    text, diff, _ = fixsearch.render(request, cand)
    assert '"cniVersion": "1.0.0"' in text and "config: |" in diff
    assert resolve(parse_text(text, "x")).bindings[0].nad.config["cniVersion"] == "1.0.0"


def test_pairs_are_proposed_on_the_first_edit_s_result() -> None:
    request = request_for("cni-args-no-tuning.yaml")
    singles = fixsearch.propose(request, "1.1.1")
    pairs = fixsearch.pairs(request, singles, "1.1.1")
    assert all(len(p.remedies) == 2 and p.remedies[0] != p.remedies[1] for p in pairs)


def test_a_raw_json_paste_gets_a_diff_of_the_normalised_input() -> None:
    text = (
        '{"cniVersion": "1.0.0", "name": "mv", "type": "macvlan", "master": "eth1",'
        ' "ipam": {"type": "static"}}\n[{"name": "mv", "mac": "01:00:5e:00:00:07"}]\n'
    )
    request = resolve(parse_text(text, "paste.json"))
    (cand,) = [c for c in fixsearch.propose(request, None) if c.remedies == ("valid-unicast-mac",)]
    fixed, diff, of = fixsearch.render(request, cand)
    assert (
        of == "normalised input"
        and "02:00:5e:00:00:07" in fixed
        and "as macmatrix reads it" in diff
    )


def test_needs_fix_and_the_markdown_section() -> None:
    row = {"ifname": "net1", "route": "networks", "requested": "02:00:00:00:00:01"}
    assert fixsearch.needs_fix({"outcome": "broken", "interfaces": []})
    assert not fixsearch.needs_fix({"outcome": "unsupported", "interfaces": []})
    assert not fixsearch.needs_fix(
        {"outcome": "works", "interfaces": [{**row, "kernel": row["requested"]}]}
    )
    tried = [{"remedies": ["add-tuning"], "edits": ["x"], "outcome": "broken", "reason": "r"}]
    entry = {
        "id": "repro/x",
        "outcome": "broken",
        "fix": {"searched": True, "verified_on": "netns with containernetworking-plugins 1.1.1",
                "tried": tried, "best": None, "others": [], "duration_s": 0.1},
    }  # fmt: skip
    md = render_markdown(entry)
    assert "#### Verified fix" in md and "No fix found: 1 candidate(s) tried" in md
    assert "add-tuning (x): broken (r)" in md


def test_the_eth0_annotation_moves_into_the_element_and_leaves_the_pod() -> None:
    # issue-4834.yaml sets ovn.kubernetes.io/mac_address (eth0) and a networks element without mac
    request = request_for("issue-4834.yaml")
    cands = [c for c in fixsearch.propose(request, "1.1.1") if c.remedies == ("move-ovn-mac",)]
    assert len(cands) == 1 and cands[0].changes_mac
    fixed = fixsearch.apply(request, cands[0])
    assert fixed.bindings[0].element["mac"] == "00:00:00:53:6b:b6"
    assert "ovn.kubernetes.io/mac_address" not in fixed.annotations
    assert request.annotations["ovn.kubernetes.io/mac_address"] == "00:00:00:53:6b:b6"
    text, _diff, _of = fixsearch.render(request, cands[0])
    assert "ovn.kubernetes.io/mac_address" not in text and "00:00:00:53:6b:b6" in text


def test_mac_remedies_follow_the_plugin_registry() -> None:
    """add-capmac and drop-static-mac edit the plugins whose spec/plugins module reads that
    channel: bridge takes runtimeConfig.mac (so it can get the capability) but has no static
    `mac` (plugins/main/bridge/bridge.go: the field is unexported), so its `mac` is not dropped."""
    text = (DATA / "corpus" / "cni-args-no-tuning.yaml").read_text()
    text = text.replace(
        '"type": "macvlan", "master": "eth1", "capabilities": {"mac": true}',
        '"type": "bridge", "mac": "02:00:00:00:0b:01"',
    ).replace('"cni-args": {"mac": "02:00:00:00:0a:01"}', '"mac": "02:00:00:00:0a:01"')
    request = resolve(parse_text(text, "br.yaml"))
    assert request.bindings[0].nad.config["type"] == "bridge"
    assert request.bindings[0].element["mac"] == "02:00:00:00:0a:01"
    capmac = remedies.BY_ID["add-capmac"].propose(request, "1.1.1")
    assert [c.edits[0].value["capabilities"] for c in capmac] == [{"mac": True}]
    assert remedies.BY_ID["drop-static-mac"].propose(request, "1.1.1") == []
