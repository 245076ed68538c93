"""What the reporters claim, read from a serialised pod: network-status, Kube-OVN annotations
(primary `ovn.` and the attachment's `<provider>.`), and the IP CRs' spec.macAddress."""

from __future__ import annotations

import json

from macmatrix.backends.kind.kube import annotations as ann

STATUS = [
    {
        "name": "kube-ovn",
        "interface": "eth0",
        "ips": ["10.16.0.5"],
        "mac": "00:00:00:aa:bb:cc",
        "default": True,
        "dns": {},
    },
    {
        "name": "ns1/mm-1",
        "interface": "net1",
        "ips": ["10.130.1.11"],
        "mac": "02:AA:00:00:00:01",
        "dns": {},
    },
]
PROVIDER = "mm-1.ns1"


def annotations() -> dict[str, str]:
    return {
        "k8s.v1.cni.cncf.io/network-status": json.dumps(STATUS),
        "k8s.v1.cni.cncf.io/networks": "[]",
        "ovn.kubernetes.io/mac_address": "00:00:00:aa:bb:cc",
        "ovn.kubernetes.io/allocated": "true",
        f"{PROVIDER}.kubernetes.io/mac_address": "02:aa:00:00:00:01",
        f"{PROVIDER}.kubernetes.io/ip_address": "10.130.1.11",
        "other.ns9.kubernetes.io/mac_address": "02:bb:00:00:00:01",
        "macmatrix.io/case-id": "x",
    }


def test_network_status_is_parsed_raw() -> None:
    entries = ann.network_status(annotations())
    assert entries[1]["mac"] == "02:AA:00:00:00:01"  # not normalised: verdict.py judges
    assert ann.network_status({}) == []


def test_garbled_network_status_is_kept_for_the_report() -> None:
    out = ann.network_status({"k8s.v1.cni.cncf.io/network-status": "{not json"})
    assert out[0]["unparseable"] == "{not json" and out[0]["error"]


def test_kube_ovn_annotations_keep_ovn_and_the_case_provider_only() -> None:
    got = ann.kube_ovn_annotations(annotations(), ["ovn", PROVIDER])
    assert set(got) == {
        "ovn.kubernetes.io/mac_address",
        "ovn.kubernetes.io/allocated",
        f"{PROVIDER}.kubernetes.io/mac_address",
        f"{PROVIDER}.kubernetes.io/ip_address",
    }
    assert set(ann.kube_ovn_annotations(annotations(), ["ovn"])) == {
        "ovn.kubernetes.io/mac_address",
        "ovn.kubernetes.io/allocated",
    }


def test_ip_cr_names_follow_kube_ovn() -> None:
    assert ann.ip_cr_name("p-0", "ns1", "ovn") == "p-0.ns1"
    assert ann.ip_cr_name("p-0", "ns1", PROVIDER) == f"p-0.ns1.{PROVIDER}"


def test_ip_cr_macs() -> None:
    crs = ann.index_ip_crs(
        [
            {"metadata": {"name": "p-0.ns1"}, "spec": {"macAddress": "00:00:00:aa:bb:cc"}},
            {"metadata": {"name": f"p-0.ns1.{PROVIDER}"}, "spec": {"macAddress": ""}},
        ]
    )
    assert ann.ip_cr_macs("p-0", "ns1", ["ovn", PROVIDER], crs) == {
        "ovn": "00:00:00:aa:bb:cc",
        PROVIDER: None,  # Kube-OVN >= v1.12 leaves it empty for IPAM-only attachments
    }
    assert ann.ip_cr_macs("p-1", "ns1", ["ovn"], crs) == {"ovn": None}
