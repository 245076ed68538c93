"""Matrix expansion: ids, constraints, selection and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix.errors import BadInput
from macmatrix.spec import cases


def test_default_matrix_has_tens_of_unique_stable_ids() -> None:
    cs = cases.load(cases.default_matrix_path())
    ids = [c.id for c in cs]
    assert 20 <= len(cs) <= 150
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert cases.load(cases.default_matrix_path()) == cs  # same file, same cases


def test_id_is_readable_and_names_every_axis_value() -> None:
    c = cases.Case(**{**cases.DEFAULTS, "chain": "conflist", "tuning": "capmac"})
    assert c.id == "macvlan+capmac/tuning-capmac/ipam-static/req-networks/cni-1.0.0/x1/eth0-auto"
    single = cases.Case(**{**cases.DEFAULTS, "macvlan_capmac": "off"})
    assert single.id.startswith("macvlan/single/")
    lone_list = cases.Case(**{**cases.DEFAULTS, "chain": "conflist"})
    assert lone_list.id.startswith("macvlan+capmac/list/")
    other_master = cases.Case(**{**cases.DEFAULTS, "master": "eth0-in-pod"})
    assert other_master.id.endswith("/master-eth0-in-pod")


def test_sets_vary_only_their_axes_and_duplicates_collapse() -> None:
    spec = {
        "sets": {
            "a": {"request": ["none", "networks"]},
            "b": {"request": ["networks"], "replicas": ["1", "2"]},
        }
    }
    ids = [c.id for c in cases.expand(spec)]
    assert len(ids) == 3  # networks/x1 appears in both sets once
    assert all("/ipam-static/" in i for i in ids)


def test_single_chain_never_gets_a_tuning_variant() -> None:
    cs = cases.expand(
        {"sets": {"s": {"chain": ["single", "conflist"], "tuning": ["none", "static"]}}}
    )
    got = {(c.chain, c.tuning) for c in cs}
    assert got == {("single", "none"), ("conflist", "none"), ("conflist", "static")}


def test_exclude_rules_drop_matching_cases() -> None:
    spec = {
        "sets": {"s": {"request": ["none", "networks", "cni-args"]}},
        "exclude": [{"request": ["cni-args", "none"]}],
    }
    assert [c.request for c in cases.expand(spec)] == ["networks"]


def test_yaml_booleans_are_read_as_axis_words(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("sets:\n  s:\n    macvlan_capmac: [on, off]\n    primary_mac: [no]\n")
    cs = cases.load(f)
    assert {c.macvlan_capmac for c in cs} == {"on", "off"}
    assert {c.primary_mac for c in cs} == {"no"}


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"sets": {"s": {"colour": ["red"]}}}, ["unknown axis", "colour"]),
        ({"sets": {"s": {"request": ["telepathy"]}}}, ["request", "telepathy", "one of"]),
        ({"sets": {}}, ["sets"]),
        ({"defaults": {"ipam": "dhcp"}, "sets": {"s": {"replicas": ["1"]}}}, ["defaults.ipam"]),
        ({"sets": {"s": {"request": ["none"]}}, "exclude": [{"request": "none"}]}, ["excluded"]),
        ({"sets": {"s": {"request": ["none"]}}, "colour": 1}, ["unknown key"]),
        ({"mac_prefix": "01:00", "sets": {"s": {"request": ["none"]}}}, ["multicast"]),
        ({"mac_prefix": "xx", "sets": {"s": {"request": ["none"]}}}, ["mac_prefix"]),
        (["not", "a", "mapping"], ["top level"]),
        (
            {"substitute_ipam": ["host-local"], "sets": {"s": {"request": ["none"]}}},
            ["substitute_ipam", "host-local", "kube-ovn"],
        ),  # fmt: skip
    ],
)
def test_bad_matrix_is_one_line_naming_the_field(spec: object, words: list[str]) -> None:
    with pytest.raises(BadInput) as err:
        cases.expand(spec)  # type: ignore[arg-type]
    text = str(err.value)
    assert "\n" not in text
    for w in words:
        assert w in text


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("sets:\n  s: [unclosed\n")
    with pytest.raises(BadInput, match="line"):
        cases.load(f)


def test_missing_matrix_file() -> None:
    with pytest.raises(BadInput, match="cannot read"):
        cases.load("/nonexistent/matrix.yaml")


def test_select_uses_pytest_k_grammar() -> None:
    cs = cases.load(cases.default_matrix_path())
    picked = cases.select(cs, "macvlan and req-cni-args and tuning-static and not macvlan+capmac")
    assert [c.id for c in picked] == [
        "macvlan/tuning-static/ipam-static/req-cni-args/cni-1.0.0/x1/eth0-auto"
    ]
    assert cases.select(cs, None) == cs
    with pytest.raises(BadInput, match="-k"):
        cases.select(cs, "and and")


def test_requested_macs_are_unicast_stable_and_distinct_per_replica() -> None:
    c = cases.Case(**{**cases.DEFAULTS, "replicas": "2"})
    a, b = c.requested_mac(0), c.requested_mac(1)
    assert a and b and a != b
    assert int(a[:2], 16) & 1 == 0 and int(a[:2], 16) & 2  # unicast, locally administered
    assert c.requested_mac(0) == a
    none = cases.Case(**{**cases.DEFAULTS, "request": "none"})
    assert none.requested_mac(0) is None


def test_mac_prefix_leads_every_requested_mac() -> None:
    cs = cases.expand({"mac_prefix": "02:00:5e", "sets": {"s": {"replicas": ["2"]}}})
    assert cs[0].requested_mac(1).startswith("02:00:5e:")
    assert "mac_prefix" not in cs[0].axes


def test_substitute_ipam_is_asked_by_the_matrix_and_only_for_kube_ovn_on_netns() -> None:
    spec = {"sets": {"s": {"ipam": ["static", "kube-ovn"], "primary_mac": ["no", "yes"]}}}
    plain = {(c.ipam, c.primary_mac): c for c in cases.expand(spec)}
    asked = {
        (c.ipam, c.primary_mac): c for c in cases.expand({**spec, "substitute_ipam": "kube-ovn"})
    }
    # same points of the matrix, same ids: substitution is how a backend runs them, not an axis
    assert [c.id for c in plain.values()] == [c.id for c in asked.values()]
    assert {k for k, c in asked.items() if c.substitute_ipam} == {
        ("kube-ovn", "no"),
        ("kube-ovn", "yes"),
    }
    assert not any(c.substitute_ipam for c in plain.values())
    assert plain[("kube-ovn", "no")].netns_unsupported()  # not asked: unsupported as before
    assert asked[("kube-ovn", "no")].netns_unsupported() is None
    # the primary MAC still needs Kube-OVN; substitution does not hide that
    assert "primary" in (asked[("kube-ovn", "yes")].netns_unsupported() or "")
    assert asked[("kube-ovn", "no")].needs_kubeovn()  # what kind needs is unchanged


def test_link_in_container_runs_on_netns_with_its_own_eth0_but_kube_ovn_ipam_still_not() -> None:
    spec = {"sets": {"s": {"master": ["eth0-in-pod"], "ipam": ["static", "kube-ovn"]}}}
    by_ipam = {c.ipam: c for c in cases.expand(spec)}
    assert by_ipam["static"].netns_unsupported() is None  # the netns backend makes the eth0
    assert "kube-ovn IPAM" in (by_ipam["kube-ovn"].netns_unsupported() or "")
    assert by_ipam["static"].needs_kubeovn()  # on kind, the eth0 is Kube-OVN's
