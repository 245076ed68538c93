"""Manifests: the NAD JSON and pod annotations each axis value must produce."""

from __future__ import annotations

import json

from macmatrix.build import manifests as m
from macmatrix.spec.cases import DEFAULTS, Case

NS = "team-a"


def case(**axes: str) -> Case:
    return Case(**{**DEFAULTS, **axes})


def test_single_conf_puts_capabilities_on_macvlan_itself() -> None:
    conf = m.nad_config(case(), NS)
    assert conf["type"] == "macvlan" and conf["capabilities"] == {"mac": True}
    assert conf["master"] == "eth1" and "name" not in conf  # Multus fills the name
    assert "capabilities" not in m.nad_config(case(macvlan_capmac="off"), NS)


def test_conflist_tuning_variants() -> None:
    def tuning(variant: str) -> dict:
        conf = m.nad_config(case(chain="conflist", tuning=variant), NS)
        assert "capabilities" not in conf  # never at list level
        assert [p["type"] for p in conf["plugins"]][0] == "macvlan"
        return conf["plugins"][-1]

    assert tuning("capmac") == {"type": "tuning", "capabilities": {"mac": True}}
    static = tuning("static")
    assert static["mac"] == m.static_mac(case(chain="conflist", tuning="static"))
    assert tuning("plain") == {"type": "tuning"}
    lone = m.nad_config(case(chain="conflist", tuning="none"), NS)
    assert [p["type"] for p in lone["plugins"]] == ["macvlan"]


def test_cni_version_missing_is_left_out() -> None:
    assert "cniVersion" not in m.nad_config(case(cni_version="missing"), NS)
    assert m.nad_config(case(cni_version="0.3.1"), NS)["cniVersion"] == "0.3.1"


def test_ipam_variants_and_kube_ovn_provider() -> None:
    c = case(ipam="kube-ovn")
    ipam = m.nad_config(c, NS)["ipam"]
    assert ipam["type"] == "kube-ovn" and ipam["provider"] == f"{m.nad_name(c)}.{NS}"
    assert not ipam["provider"].endswith(".ovn")
    sub = m.subnet(c, NS)
    assert sub and sub["spec"]["provider"] == ipam["provider"]
    assert sub["spec"]["cidrBlock"] == m.cidr(c)
    assert m.subnet(case(), NS) is None
    hl = m.nad_config(case(ipam="host-local"), NS)["ipam"]
    assert hl["ranges"][0][0]["subnet"] == m.cidr(case(ipam="host-local"))


def test_subnets_avoid_kind_pod_and_service_ranges() -> None:
    for req in ("none", "networks", "cni-args", "annotation"):
        a, _ = m.subnet_octets(case(request=req))
        assert 128 <= a < 192  # 10.16/16 and 10.96/12 are kind's


def test_link_in_container_master() -> None:
    conf = m.nad_config(case(master="eth0-in-pod"), NS)
    assert conf["master"] == "eth0" and conf["linkInContainer"] is True


def test_request_routes_in_pod_annotations() -> None:
    def ann(req: str) -> tuple[dict, dict]:
        c = case(request=req)
        a = m.pod_annotations(c, NS, 0)
        return a, json.loads(a[m.NETWORKS_ANNOTATION])[0]

    a, el = ann("networks")
    assert el["mac"] == case(request="networks").requested_mac(0) and "cni-args" not in el
    a, el = ann("cni-args")
    assert "mac" not in el and el["cni-args"]["mac"] == case(request="cni-args").requested_mac(0)
    a, el = ann("annotation")
    key = m.attachment_mac_annotation(case(request="annotation"), NS)
    assert "mac" not in el and a[key] == case(request="annotation").requested_mac(0)
    a, el = ann("networks+annotation")
    assert el["mac"] == a[m.attachment_mac_annotation(case(request="networks+annotation"), NS)]
    a, el = ann("none")
    assert "mac" not in el and not any(k.endswith("mac_address") for k in a)
    assert "interface" not in el  # Multus names it net1


def test_primary_mac_annotation_and_static_ips_per_replica() -> None:
    c = case(primary_mac="yes", replicas="2")
    pods = m.pods(c, NS, "busybox")
    assert [p["metadata"]["name"] for p in pods] == [m.pod_name(c, 0), m.pod_name(c, 1)]
    macs = [p["metadata"]["annotations"][m.OVN_MAC_ANNOTATION] for p in pods]
    assert macs[0] != macs[1]
    ips = [json.loads(p["metadata"]["annotations"][m.NETWORKS_ANNOTATION])[0]["ips"] for p in pods]
    assert ips[0] != ips[1]
    spec = pods[0]["spec"]["containers"][0]
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False


def test_nad_object_carries_config_as_json_string() -> None:
    c = case(chain="conflist", tuning="capmac")
    obj = m.nad(c, NS)
    assert obj["kind"] == "NetworkAttachmentDefinition"
    assert json.loads(obj["spec"]["config"]) == m.nad_config(c, NS)
    assert len(obj["metadata"]["name"]) <= 63


def test_replicas_of_a_case_are_pinned_to_one_node() -> None:
    c = case(replicas="2")
    pods = m.pods(c, NS, "img")
    terms = pods[0]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
    assert terms[0]["labelSelector"]["matchLabels"].items() <= pods[1]["metadata"]["labels"].items()
    assert "affinity" not in m.pods(case(), NS, "img")[0]["spec"]
