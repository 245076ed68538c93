"""The version-aware model against real plugins on both sides of each version rule.

Each rule of judge/verdict.py that depends on the CNI plugins release is run for real below
its boundary (Debian's v1.1.1, or v0.8.6 built from the Go module) and above it (Debian's where
it is, every stack's release): the model must predict every observed outcome and check, and the
outcome must really change across the boundary, so neither side of a rule goes untested.
Running v0.8.6 found the cniVersion 1.0.0 rule missing from the model (plugins accept 1.0.0 only
since v1.0.0, with libcni v1.0.0).
"""

from __future__ import annotations

import pytest

from macmatrix import versions
from macmatrix.backends.gobuild import cni_plugins, toolchain
from macmatrix.backends.netns.backend import NetnsBackend, unavailable
from macmatrix.judge.verdict import differences, judge, model
from macmatrix.spec import cases

pytestmark = pytest.mark.netns

WHY_NOT = unavailable([cni_plugins.DEBIAN_DIR])
if WHY_NOT:
    pytest.skip(f"netns backend unavailable: {WHY_NOT}", allow_module_level=True)

# rule -> (-k selection of the default matrix, boundary the model names, releases below it).
# "debian" is /usr/lib/cni (v1.1.1); v0.8.6 is built from the Go module like the stacks' releases.
RULES = {
    "macvlan sets the element MAC since v0.8.7": (
        "macvlan and single and ipam-static and x1 and (cni-0.3.1 or cni-0.4.0)",
        "v0.8.7",
        ["v0.8.6"],
    ),
    # spec/plugins/bridge.py: CNI_ARGS MAC, args.cni.mac, runtimeConfig.mac since v1.0.0 (PR #636)
    "bridge takes a MAC since v1.0.0": ("bridge and cni-0.4.0", "v1.0.0", ["v0.8.6"]),
    "cniVersion 1.0.0 needs plugins >= v1.0.0": (
        "single and ipam-static and req-networks and cni-1.0.0 and x1 and not eth0-in-pod",
        "v1.0.0",
        ["v0.8.6"],
    ),
    "cniVersion 1.1.0 needs plugins >= v1.2.0": ("cni-1.1.0", "v1.2.0", ["debian"]),
    # the netns backend gives the pod its eth0; Debian's macvlan looks for it on the node
    "linkInContainer needs plugins >= v1.3.0": (
        "master-eth0-in-pod and ipam-static",
        "v1.3.0",
        ["debian"],
    ),
}


def bin_dir(side: str) -> str:
    if side == "debian":
        return cni_plugins.DEBIAN_DIR
    if not toolchain.find_go() and not cni_plugins.cached(side):
        pytest.skip(f"no Go toolchain to build CNI plugins {side}, and it is not cached")
    return str(cni_plugins.ensure(side))


def run(side: str, selection: str) -> dict[str, tuple[str, str, list[str]]]:
    """case id -> (plugins version the binaries report, observed outcome, model differences)."""
    cs = cases.select(cases.load(cases.default_matrix_path()), selection)
    assert cs, selection
    with NetnsBackend([bin_dir(side)], label="rule-test") as nb:
        stack = nb.stack()
        observed = nb.run(cs)
    out = {}
    for c in cs:
        verdict = judge(c, observed[c.id])
        out[c.id] = (stack["cni_plugins"], verdict.outcome, differences(verdict, model(c, stack)))
    return out


@pytest.mark.parametrize("rule", list(RULES))
def test_the_model_holds_on_both_sides_of_the_rule(rule: str) -> None:
    selection, boundary, below = RULES[rule]
    sides = {
        side: run(side, selection) for side in [*below, "debian", *cni_plugins.stack_versions()]
    }
    for side, results in sides.items():
        for case_id, (plugins, _outcome, diff) in results.items():
            assert not diff, f"{rule}, plugins {plugins} ({side}), {case_id}: {diff}"
    version = {side: next(iter(r.values()))[0] for side, r in sides.items()}
    above = [s for s in sides if s not in below]
    for low in below:
        assert not versions.at_least(version[low], boundary), f"{low} is not below {boundary}"
    for high in above:
        assert versions.at_least(version[high], boundary), f"{high} is not above {boundary}"
        for low in below:
            changed = [c for c in sides[low] if sides[low][c][1] != sides[high][c][1]]
            assert changed, f"{rule}: no case changed outcome between {low} and {high}"
