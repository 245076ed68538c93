"""The version-aware model against real plugins on both sides of each version rule.

Each rule of macmatrix/verdict.py that depends on the CNI plugins release is run for real with
Debian's plugins (v1.1.1, below every boundary) and with each stack's release built from the
Go module (v1.6.2+, above them): the model must predict every observed outcome and check, and
the two sides must really differ, so neither side of a rule goes untested.
"""

from __future__ import annotations

from typing import Any

import pytest

from macmatrix import cases
from macmatrix.backends.netns import NetnsBackend, unavailable
from macmatrix.gobuild import cni_plugins, toolchain
from macmatrix.verdict import differences, judge, model

pytestmark = pytest.mark.netns

WHY_NOT = unavailable([cni_plugins.DEBIAN_DIR])
if WHY_NOT:
    pytest.skip(f"netns backend unavailable: {WHY_NOT}", allow_module_level=True)

# rule -> (-k selection of the default matrix, boundary the model names)
RULES = {
    "cniVersion 1.1.0 needs plugins >= v1.2.0": ("cni-1.1.0", "v1.2.0"),
    # the netns backend gives the pod its eth0; Debian's macvlan looks for it on the node
    "linkInContainer needs plugins >= v1.3.0": ("master-eth0-in-pod and ipam-static", "v1.3.0"),
}


def built_versions() -> list[str]:
    versions = cni_plugins.stack_versions()
    if not toolchain.find_go() and not all(cni_plugins.cached(v) for v in versions):
        pytest.skip("no Go toolchain to build the stacks' CNI plugins, and they are not cached")
    return versions


def run(bin_dir: str, selection: str) -> dict[str, Any]:
    cs = cases.select(cases.load(cases.default_matrix_path()), selection)
    assert cs, selection
    with NetnsBackend([bin_dir], label="rule-test") as nb:
        stack = nb.stack()
        observed = nb.run(cs)
    out = {}
    for c in cs:
        verdict = judge(c, observed[c.id])
        expected = model(c, stack)
        out[c.id] = (stack["cni_plugins"], verdict.outcome, differences(verdict, expected))
    return out


@pytest.mark.parametrize("rule", list(RULES))
def test_the_model_holds_on_both_sides_of_the_rule(rule: str) -> None:
    selection, boundary = RULES[rule]
    below = run(cni_plugins.DEBIAN_DIR, selection)
    sides = {"below": below}
    for version in built_versions():
        sides[version] = run(str(cni_plugins.ensure(version)), selection)
    for side, results in sides.items():
        for case_id, (plugins, _outcome, diff) in results.items():
            assert not diff, f"{rule}, plugins {plugins} ({side}), {case_id}: {diff}"
    from macmatrix import versions

    debian = next(iter(below.values()))[0]
    assert not versions.at_least(debian, boundary), f"Debian's {debian} is not below {boundary}"
    for version in built_versions():
        assert versions.at_least(version, boundary)
        changed = [cid for cid in below if below[cid][1] != sides[version][cid][1]]
        assert changed, f"{rule}: no case changed outcome between {debian} and {version}"
