"""clusters/kind-kube-ovn.yaml: the cluster shape Kube-OVN needs (UPSTREAM.md, kind-init)."""

from __future__ import annotations

import yaml

from macmatrix.spec import stacks


def _config() -> dict:
    return yaml.safe_load(stacks.get("kube-ovn-v1.14").config_path().read_text())


def test_kind_config_networking() -> None:
    cfg = _config()
    assert cfg["kind"] == "Cluster"
    assert cfg["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    net = cfg["networking"]
    assert net["disableDefaultCNI"] is True  # Kube-OVN is the CNI
    assert net["kubeProxyMode"] == "ipvs"
    assert net["podSubnet"] == "10.16.0.0/16"
    assert net["serviceSubnet"] == "10.96.0.0/12"


def test_kind_config_nodes() -> None:
    nodes = _config()["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane", "worker"]
    assert all(n["labels"] == {"type": "kind"} for n in nodes)
    # the node image comes from stacks.toml (pinned by digest), never from the config
    assert all("image" not in n for n in nodes)


def test_every_stack_uses_an_existing_config() -> None:
    for s in stacks.load().values():
        assert yaml.safe_load(s.config_path().read_text())["networking"]["disableDefaultCNI"]


def test_matrix_subnets_stay_clear_of_the_cluster_cidrs() -> None:
    import ipaddress

    from macmatrix.build import manifests
    from macmatrix.spec import cases

    pod = ipaddress.ip_network(_config()["networking"]["podSubnet"])
    svc = ipaddress.ip_network(_config()["networking"]["serviceSubnet"])
    for case in cases.load(cases.default_matrix_path()):
        net = ipaddress.ip_network(manifests.cidr(case))
        assert not net.overlaps(pod) and not net.overlaps(svc), case.id
