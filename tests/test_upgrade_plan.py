"""The in-place upgrade plan (stack/upgrade.py): which pairs are upgrades, what changes, and the
whole `--dry-run` plan for every adjacent pair of clusters/stacks.toml, touching nothing."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from machine_guard import forbid_machine

from macmatrix import cli, versions
from macmatrix.backends.kind.stack import upgrade
from macmatrix.errors import BadInput
from macmatrix.spec import cases, stacks
from macmatrix.views import compare
from macmatrix.workflows import upgrade_check

CASES = cases.load(cases.default_matrix_path())
NAMES = stacks.stack_names()
PAIRS = upgrade.adjacent_pairs(NAMES)


@pytest.fixture(autouse=True)
def no_side_effects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Any process, download or connection fails the test; the cache stays empty."""
    return forbid_machine(monkeypatch, tmp_path, "the plan")


def test_there_are_adjacent_pairs_in_version_order() -> None:
    assert len(PAIRS) == len(NAMES) - 1 >= 3
    for old, new in PAIRS:
        a, b = stacks.get(old), stacks.get(new)
        assert versions.parse(a.kube_ovn) < versions.parse(b.kube_ovn)  # type: ignore[operator]


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_plan_for_each_adjacent_pair(old: str, new: str) -> None:
    a, b = stacks.get(old), stacks.get(new)
    up = upgrade.plan(a, b)
    assert (up.from_name, up.to_name) == (old, new)
    # one cluster of its own, never a kept plain-run cluster of FROM or TO
    assert up.old.cluster_name() == up.new.cluster_name() == up.cluster_name
    assert up.cluster_name not in (a.cluster_name(), b.cluster_name())
    assert (up.old.kube_ovn, up.new.kube_ovn) == (a.kube_ovn, b.kube_ovn)
    assert up.multus.changed == (a.multus != b.multus)
    assert up.cni_plugins.changed == (a.cni_plugins != b.cni_plugins)
    downloads = up.changed_downloads()
    assert downloads[0] == b.install_sh_url
    assert (b.multus_yaml_url in downloads) == up.multus.changed
    assert (b.cni_plugins_url() in downloads) == up.cni_plugins.changed
    assert up.install_env() == {"DEL_NON_HOST_NET_POD": "false"}
    assert up.skips_pod_restart  # every TO of ours is >= v1.14.16
    second = up.as_stack_dict()
    assert second["name"] == new and second["upgraded_from"] == old
    assert second["kube_ovn"] == b.kube_ovn and second["multus"] == b.multus


def _order(text: str, *needles: str) -> list[int]:
    return [text.index(n) for n in needles]


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_dry_run_prints_the_whole_in_place_check(
    old: str, new: str, no_side_effects: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = stacks.get(old), stacks.get(new)
    up = upgrade.plan(a, b)
    assert cli.main(["baseline", "plan-upgrade", old, new, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert not no_side_effects.exists()
    assert text == upgrade.render(up, CASES)  # the CLI prints exactly the plan
    name = up.cluster_name
    # in order: FROM installed, the matrix with its pods kept, the snapshot, the upgrade with the
    # new tag's install.sh (step 4 skipped), Multus, the copied plugins, the checks, the second
    # run, compare
    positions = _order(
        text,
        f"GET {a.install_sh_url}",
        f"create cluster --name={name}",
        f"## 7. the matrix: {len(CASES)} case(s)",
        f"pod image {a.pod_image}",
        "## 8. keep the",
        f"GET {b.install_sh_url}",
        "DEL_NON_HOST_NET_POD=false",
        f"kube-ovn-cni image tag {b.kube_ovn}",
        "## 11. Multus",
        "## 12. copied CNI plugins",
        "## 13. the kept pods",
        "eth0 and net1 kernel MACs unchanged",
        f"pod image {b.pod_image}",
        "## 15. compare the two runs",
        "fail (exit 1) on a regression",
        "## 16. teardown",
        f"delete cluster --name={name}",
    )
    assert positions == sorted(positions)
    assert "## 8. teardown" not in text  # the first run's pods are kept, not deleted
    assert text.count(f"apply -f {no_side_effects}") == 1 + up.multus.changed
    assert (f"multus-daemonset-thick-{b.multus}.yml" in text) == up.multus.changed
    if not up.multus.changed:
        assert f"pin unchanged ({b.multus}): not touched" in text
    replaced = text.count("# replaces the old release's copy")
    # docker cp + chmod of bridge, static and tuning on 2 nodes
    assert replaced == (12 if up.cni_plugins.changed else 0)
    for case in CASES:  # every manifest of the matrix is shown
        assert f"### {case.id}\n" in text


def test_changed_cni_plugins_replace_the_copies_and_unchanged_keep_them() -> None:
    a, b = stacks.get("kube-ovn-v1.15"), stacks.get("kube-ovn-v1.16")
    assert a.cni_plugins == b.cni_plugins
    up = upgrade.plan(a, b)
    assert "release unchanged (v1.9.1): the copied plugins stay" in upgrade.render(up, CASES[:1])
    c = dataclasses.replace(b, name="x", cni_plugins="v1.9.2")
    up = upgrade.plan(a, c)
    text = upgrade.render(up, CASES[:1])
    assert "cni-v1.9.2/tuning" in text and "cni-v1.9.2/static" in text
    assert c.cni_plugins_url() in up.changed_downloads()


def test_an_old_target_script_is_said_to_restart_only_always_pods() -> None:
    a = stacks.get("kube-ovn-v1.13")
    old = dataclasses.replace(a, name="old", kube_ovn="v1.13.1")
    up = upgrade.plan(old, a)
    assert not up.skips_pod_restart
    assert "deletes only restartPolicy=Always pods" in upgrade.render(up, CASES[:1])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("kube-ovn-v1.14", "kube-ovn-v1.14", "is the --upgrade-from stack"),
        ("kube-ovn-v1.15", "kube-ovn-v1.14", "a downgrade is not an upgrade check"),
    ],
)
def test_pairs_that_are_no_upgrade(old: str, new: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as e:
        upgrade.plan(stacks.get(old), stacks.get(new))
    assert str(e.value).startswith("--upgrade-to: ") and "\n" not in str(e.value)


def test_cluster_fields_and_no_change_are_refused() -> None:
    a, b = stacks.get("kube-ovn-v1.13"), stacks.get("kube-ovn-v1.14")
    other = dataclasses.replace(b, cluster_config="other.yaml")
    with pytest.raises(BadInput, match="differ in cluster_config"):
        upgrade.plan(a, other)
    # each line's own node image differs (stack/node_images.py): the upgrade keeps FROM's
    # cluster, Kubernetes and matching kubectl, and the plan says so
    assert a.kubernetes != b.kubernetes
    up = upgrade.plan(a, b)
    assert (up.new.node_image, up.new.kubectl) == (a.node_image, a.kubectl)
    assert up.new.kube_ovn == b.kube_ovn and up.to_kubernetes == b.kubernetes
    assert f"# Kubernetes stays {a.kubernetes}" in upgrade.render(up, CASES[:1])
    same = dataclasses.replace(a, name="copy", cni_plugins="v1.9.0")
    with pytest.raises(BadInput, match="nothing to upgrade"):
        upgrade.plan(a, same)


def test_cli_bad_pairs_are_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(["baseline", "plan-upgrade", "kube-ovn-v1.15", "kube-ovn-v1.13", "--dry-run"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("macmatrix baseline: TO: ") and "downgrade" in err and "\n" not in err
    assert (
        cli.main(["baseline", "plan-upgrade", "kube-ovn-v9", "kube-ovn-v1.13", "--in-place"]) == 2
    )
    assert "FROM: unknown stack 'kube-ovn-v9'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the gate


def _doc(outcomes: dict[str, str], name: str) -> dict[str, object]:
    return {
        "stack": {"backend": "kind", "name": name},
        "complete": True,
        "cases": [
            {"id": cid, "outcome": o, "checks": {"c": {"ok": o == "works"}}, "reason": o}
            for cid, o in outcomes.items()
        ],
    }


@pytest.mark.parametrize(
    ("after", "code", "kind"),
    [
        ({"a": "works", "b": "broken"}, 0, None),
        ({"a": "broken", "b": "broken"}, 1, compare.REGRESSION),
        ({"a": "works", "b": "works"}, 0, compare.FIX),  # a fix is listed, never a failure
        ({"a": "infra-error", "b": "broken"}, 3, compare.INFRA),
        ({"a": "broken", "b": "infra-error"}, 1, compare.REGRESSION),
    ],
)
def test_gate_on_the_two_runs(after: dict[str, str], code: int, kind: str | None) -> None:
    before = _doc({"a": "works", "b": "broken"}, "kube-ovn-v1.13")
    cmp = upgrade_check.compare_runs(before, _doc(after, "kube-ovn-v1.14"))
    assert upgrade_check.gate(cmp) == code
    assert cmp.base_label == "before the upgrade" and cmp.head_label == "after the upgrade"
    if kind is not None:
        assert cmp.of(kind)
    json.dumps(cmp.counts())  # plain data
