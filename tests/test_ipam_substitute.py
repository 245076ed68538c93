"""IPAM substitution (issue 15): which IPAM is replaced, by which address, and where it shows.

Pure functions plus repro with the netns backend replaced by the stand-in class of
tests/test_repro_unit.py (it records what repro hands over). The real plugins run the
substituted corpus inputs in e2e/test_repro.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from test_repro_unit import StandInNetns, observed, request_for, stand_in  # noqa: F401

from macmatrix.backends import podrun
from macmatrix.build import ipam_substitute
from macmatrix.cli import repro as repro_cli
from macmatrix.spec.userinput import parse_text, resolve
from macmatrix.workflows import repro
from macmatrix.workflows.repro_report import render_markdown

REAL_UNSUPPORTED = podrun.netns_unsupported  # before the stand_in fixture replaces it


def _request(ipam: dict[str, Any], element: str = '{"name": "m"}', extra: str = "") -> Any:
    config = json.dumps({"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", "ipam": ipam})
    text = (
        "apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n"
        f"metadata: {{name: m, namespace: ns}}\nspec:\n  config: '{config}'\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: ns\n  annotations:\n"
        f"    k8s.v1.cni.cncf.io/networks: '[{element}]'\n{extra}"
    )
    return resolve(parse_text(text, "t"))


KOVN = {"type": "kube-ovn", "server_socket": "/run/x.sock", "provider": "m.ns"}


def test_kube_ovn_ip_annotation_with_the_subnet_prefix_and_input_left_alone() -> None:
    subnet = (
        "---\napiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: sn}\n"
        "spec: {provider: m.ns, cidrBlock: 10.9.0.0/16}\n"
    )
    req = _request(KOVN, extra="    m.ns.kubernetes.io/ip_address: 10.9.3.4\n" + subnet)
    before = copy.deepcopy(req.bindings[0].nad.config)
    run, (sub,), refused = ipam_substitute.apply(req)
    assert refused is None
    assert run.bindings[0].nad.config["ipam"] == {
        "type": "static",
        "addresses": [{"address": "10.9.3.4/16"}],
    }
    assert req.bindings[0].nad.config == before  # the user's request is not changed
    assert (sub.network, sub.field, sub.replaced) == ("ns/m", "spec.config.ipam", KOVN)
    assert "Subnet sn" in sub.address_from and "kube-ovn" in sub.line()
    assert any("IP CR" in n for n in sub.not_judged)


def test_without_subnet_a_host_prefix_and_said_so() -> None:
    req = _request(KOVN, extra="    m.ns.kubernetes.io/ip_address: 10.9.3.4\n")
    _, (sub,), _ = ipam_substitute.apply(req)
    assert sub.address == "10.9.3.4/32" and "no Subnet" in sub.address_from


def test_without_a_provider_the_controllers_annotation_is_read() -> None:
    """No ipam.provider: kube-ovn-controller still annotates under `<nad>.<ns>`
    (spec/netconf.implicit_provider), so that is where the asked address is."""
    unnamed = {k: v for k, v in KOVN.items() if k != "provider"}
    req = _request(unnamed, extra="    m.ns.kubernetes.io/ip_address: 10.9.3.5\n")
    _, (sub,), _ = ipam_substitute.apply(req)
    assert sub.address == "10.9.3.5/32"
    assert sub.address_from.startswith("m.ns.kubernetes.io/ip_address")


def test_kube_ovn_free_address_skips_gateway_and_excludes() -> None:
    subnet = (
        "---\napiVersion: kubeovn.io/v1\nkind: Subnet\nmetadata: {name: sn}\n"
        "spec: {provider: m.ns, cidrBlock: 172.17.0.0/16, gateway: 172.17.0.1,"
        " excludeIps: ['172.17.0.2..172.17.0.10']}\n"
    )
    _, (sub,), _ = ipam_substitute.apply(_request(KOVN, extra=subnet))
    assert sub.address == "172.17.0.11/16" and "first free" in sub.address_from


def test_element_ips_reach_static_through_multus_not_twice() -> None:
    req = _request(KOVN, element='{"name": "m", "ips": ["10.1.1.5/24"]}')
    run, (sub,), _ = ipam_substitute.apply(req)
    # static reads Multus' CNI_ARGS IP= itself; listing them too would add each address twice
    assert run.bindings[0].nad.config["ipam"] == {"type": "static"}
    assert sub.address == "10.1.1.5/24" and "ips" in sub.address_from


@pytest.mark.parametrize(
    ("ipam", "address"),
    [
        ({"type": "whereabouts", "range": "192.168.2.224/28"}, "192.168.2.225/28"),
        (
            {"type": "whereabouts", "range": "192.168.2.224/28", "exclude": ["192.168.2.224/30"]},
            "192.168.2.228/28",
        ),
        ({"type": "whereabouts", "range": "10.40.0.50-10.40.0.60/24"}, "10.40.0.50/24"),
        (
            {"type": "whereabouts", "range": "10.0.0.0/24", "range_start": "10.0.0.100"},
            "10.0.0.100/24",
        ),
        ({"type": "whereabouts", "ipRanges": [{"range": "fd00::/64"}]}, "fd00::1/64"),
        ({"type": "dhcp"}, "192.0.2.1/24"),
    ],
)
def test_whereabouts_and_dhcp_addresses(ipam: dict[str, Any], address: str) -> None:
    _, (sub,), _ = ipam_substitute.apply(_request(ipam))
    assert sub.address == address


def test_runnable_ipams_and_ovn_providers_are_never_substituted() -> None:
    for ipam in ({"type": "static", "addresses": []}, {"type": "host-local", "subnet": "x"}):
        run, subs, refused = ipam_substitute.apply(req := _request(ipam))
        assert (run, subs, refused) == (req, [], None)
    ovn = {**KOVN, "provider": "m.ns.ovn"}
    run, subs, refused = ipam_substitute.apply(_request(ovn))
    assert subs == [] and refused and ".ovn" in refused


def test_every_cannot_run_entry_says_why_and_cites_a_source() -> None:
    assert set(ipam_substitute.CANNOT_RUN) == set(ipam_substitute.NOT_JUDGED)
    for why, source in ipam_substitute.CANNOT_RUN.values():
        assert why and "/" in source


# --------------------------------------------------------------------------- through repro


def test_repro_runs_static_and_marks_json_and_markdown(
    stand_in: type[StandInNetns],  # noqa: F811
) -> None:
    stand_in.script = lambda atts: observed(
        {"net1": "0a:00:00:00:00:09"},
        {"net1": "0a:00:00:00:00:09"},
        annotations={"macvlan.default.kubernetes.io/mac_address": "00:00:00:53:6b:bb"},
    )
    entry = repro.run(request_for("issue-4834.yaml"), "netns")
    ((_, _, atts, _),) = stand_in.calls
    assert atts[0].config["ipam"]["type"] == "static"
    assert json.loads(entry["input"]["nads"]["default/macvlan"])["ipam"]["type"] == "kube-ovn"
    (sub,) = entry["ipam_substituted"]
    assert sub["replaced"]["type"] == "kube-ovn" and sub["address"] == "172.18.0.233/32"
    assert entry["outcome"] == "broken"  # the annotation MAC is not on net1
    assert not any(n.startswith("kubeovn_annotation") for n in entry["checks"])
    assert {n["what"] for n in entry["not_judged"]} == set(ipam_substitute.NOT_JUDGED["kube-ovn"])
    md = render_markdown(entry)
    assert "✗ broken · ipam substituted" in md.splitlines()[0]
    assert "#### IPAM substituted" in md and "Not judged" in md and "--no-substitute" in md


def test_no_substitute_flag_keeps_unsupported(
    stand_in: type[StandInNetns],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(podrun, "netns_unsupported", REAL_UNSUPPORTED)
    path = "tests/data/corpus/issue-4834.yaml"
    assert repro_cli.main([path, "--backend", "netns", "--json", "--no-substitute"]) == 3
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert case["outcome"] == "unsupported" and "drop --no-substitute" in case["reason"]
    assert case["ipam_substituted"] == [] and stand_in.calls == []


def test_kind_never_substitutes(monkeypatch: pytest.MonkeyPatch) -> None:
    """kind's repro runner (its registry entry's `repro`) runs the IPAM as written."""
    from macmatrix.backends.kind import pods as pods_mod
    from macmatrix.observe import PodObservation

    def refuse(request: Any) -> Any:
        raise AssertionError("kind must run the IPAM as written")

    seen = []

    class StandIn:  # stand-in for backends/kind/pods.py KindPods: records, then closed
        def __init__(self, cluster: Any) -> None:
            self.cluster = cluster

        def stack(self) -> dict[str, Any]:
            return {"backend": "kind"}

        def need_plugins(self, needed: dict[str, str]) -> str | None:
            return None

        def run_pod(self, name: str, ns: str, atts: list[Any], ann: dict[str, str]) -> Any:
            seen.append(atts[0].config["ipam"]["type"])
            return PodObservation(name, error="stand-in")

        def close(self) -> None:
            seen.append("closed")

    monkeypatch.setattr(ipam_substitute, "apply", refuse)
    monkeypatch.setattr(pods_mod, "KindPods", StandIn)
    entry = repro.run(request_for("issue-4834.yaml"), "kind", fix=False)
    assert seen == ["kube-ovn", "closed"] and entry["ipam_substituted"] == []
