"""The real-Multus tier's pure parts: what the harness hands Multus as the container runtime, and
how it reads back network-status; which cases the tier runs and what the model expects there."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from macmatrix.backends.multus import backend, runtime
from macmatrix.build.cni import RuntimeConf
from macmatrix.errors import BadInput
from macmatrix.judge.verdict import model
from macmatrix.observe import network_status_entries
from macmatrix.spec import cases, stacks
from macmatrix.types import Outcome


def _case(**axes: str) -> cases.Case:
    base = dict(cases.DEFAULTS)
    base.update(axes)
    return cases.Case(**base)


def test_cni_args_are_containerds_four_pod_keys_and_ignore_unknown() -> None:
    args = runtime.cni_args("ns1", "pod-a", "cid123", "uid-9")
    assert dict(args) == {
        "IgnoreUnknown": "1",
        "K8S_POD_NAMESPACE": "ns1",
        "K8S_POD_NAME": "pod-a",
        "K8S_POD_INFRA_CONTAINER_ID": "cid123",
        "K8S_POD_UID": "uid-9",
    }
    rt = RuntimeConf("cid123", "/run/netns/x", "eth0", args)
    assert rt.cni_args() == (
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod-a;"
        "K8S_POD_INFRA_CONTAINER_ID=cid123;K8S_POD_UID=uid-9"
    )


def test_multus_conf_keeps_every_path_where_it_is_told() -> None:
    conf = runtime.multus_conf(
        kubeconfig="/t/kc", cni_dir="/t/c", conf_dir="/t/n", bin_dir="/t/b", host_local_dir="/t/h"
    )
    assert conf["type"] == "multus"
    assert (conf["kubeconfig"], conf["cniDir"], conf["confDir"], conf["binDir"]) == (
        "/t/kc",
        "/t/c",
        "/t/n",
        "/t/b",
    )
    (default,) = conf["delegates"]
    assert default["name"] == runtime.DEFAULT_NETWORK
    assert default["ipam"]["dataDir"] == "/t/h"
    assert "/var/lib" not in json.dumps(conf) and "/etc/" not in json.dumps(conf)


def test_pod_status_reads_multus_annotation_and_splits_off_the_default() -> None:
    status = [
        {"name": "macmatrix-default", "interface": "eth0", "mac": "aa", "default": True},
        {"name": "macmatrix/n", "interface": "net1", "mac": "02:00:00:00:00:01"},
    ]
    ann = {runtime.NETWORK_STATUS_ANNOTATION: json.dumps(status)}
    assert runtime.pod_status(ann) == status
    assert runtime.secondary(status) == [status[1]]
    assert runtime.pod_status({}) == []
    assert runtime.pod_status(None) == []


@pytest.mark.parametrize("raw", ["{", '{"name": "x"}'])
def test_pod_status_garbage_names_the_annotation(raw: str) -> None:
    with pytest.raises(ValueError, match="network-status"):
        runtime.pod_status({runtime.NETWORK_STATUS_ANNOTATION: raw})


def test_masters_of_configs() -> None:
    single = {"type": "macvlan", "master": "eth1"}
    listed = {"plugins": [{"type": "macvlan", "master": "eth2"}, {"type": "tuning"}]}
    in_pod = {"type": "macvlan", "master": "eth0", "linkInContainer": True}
    other = {"type": "macvlan", "master": "net9", "linkInContainer": True}
    bridge = {"type": "bridge", "bridge": "br9"}
    ipvlan = {"plugins": [{"type": "ipvlan", "master": "eth3"}]}
    assert runtime.node_masters([single, listed, in_pod, bridge, ipvlan]) == [
        "eth1",
        "eth2",
        "eth3",
    ]
    assert runtime.in_pod_masters([single, in_pod, other]) == ["net9"]
    assert runtime.networks_annotation([{"name": "a"}]) == '[{"name": "a"}]'


def test_masters_come_from_the_plugin_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin module that declares a master (spec/plugins `node_links`) gets it on this tier
    too, with no list of plugin names here (the netns tier asks the same registry)."""
    from macmatrix.spec import plugins
    from macmatrix.spec.plugins.base import MAIN, Plugin

    conf = {"type": "mmvlan", "master": "eth7"}
    assert runtime.node_masters([conf]) == []  # unknown plugin: nothing to prepare
    vlan = Plugin(
        name="mmvlan",
        kind=MAIN,
        source="containernetworking/plugins plugins/main/vlan/vlan.go",
        entry=lambda case, ipam: {"type": "mmvlan"},
        node_links=lambda entry: [str(entry["master"])],
        takes_master=True,
        matrix=False,
    )
    monkeypatch.setitem(plugins.registry(), "mmvlan", vlan)
    assert runtime.node_masters([conf, {"type": "macvlan"}]) == ["eth1", "eth7"]


def test_which_cases_the_tier_runs() -> None:
    assert backend.unsupported(_case()) is None
    assert backend.unsupported(_case(master="eth0-in-pod")) is None  # the bridge gives eth0
    assert "Kube-OVN owns eth0" in (backend.unsupported(_case(primary_mac="yes")) or "")
    assert "kube-ovn" in (backend.unsupported(_case(ipam="kube-ovn")) or "")
    sub = cases.Case(**{**cases.DEFAULTS, "ipam": "kube-ovn"}, substitute_ipam=True)
    assert backend.unsupported(sub) is None
    sub2 = cases.Case(
        **{**cases.DEFAULTS, "ipam": "kube-ovn", "replicas": "2"}, substitute_ipam=True
    )
    assert "replicas" in (backend.unsupported(sub2) or "")


def test_the_model_expects_unsupported_where_the_tier_says_so() -> None:
    stack = {"backend": "multus", "cni_plugins": "v1.9.1"}
    exp = model(_case(primary_mac="yes"), stack)
    assert exp.outcome == Outcome.UNSUPPORTED and exp.why[0].startswith("multus backend:")
    assert model(_case(), stack).outcome != Outcome.UNSUPPORTED


def test_dry_run_names_versions_and_touches_nothing() -> None:
    picked = [_case(), _case(primary_mac="yes")]
    text = backend.dry_run(picked, None)
    v = stacks.get(stacks.newest())
    assert v.multus in text and v.kubernetes in text and v.cni_plugins in text
    assert "unsupported on multus: Kube-OVN owns eth0" in text
    assert '"type": "macvlan"' in text


def test_why_not_here_without_root() -> None:
    with mock.patch("os.geteuid", return_value=1000):
        assert "root" in (backend.why_not_here() or "")


def test_why_not_here_unknown_stack() -> None:
    with mock.patch("os.geteuid", return_value=0):
        assert "nope" in (backend.why_not_here("nope") or "")


def test_cli_refuses_plugins_with_multus() -> None:
    from macmatrix.cli import open_backend

    args = mock.Mock(plugins="v1.6.2", cni_bin_dir=None, stack=None)
    with pytest.raises(BadInput, match="--plugins"), open_backend("multus", args):
        pass


def test_network_status_entries_as_create_network_statuses_builds_them() -> None:
    """NAD client v1.7.5/v1.7.6 CreateNetworkStatuses: no interfaces -> no element (a 0.1.0
    result), one -> one element, several -> one per sandbox interface, IPs by index."""
    assert network_status_entries("ns/a", {"ip4": {"ip": "10.0.0.2/24"}}, "net1") == []
    one = {"interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "sandbox": "/x"}]}
    (entry,) = network_status_entries("ns/a", one, "net1")
    assert entry["mac"] == "02:00:00:00:00:01" and entry["interface"] == "net1"
    two = {
        "interfaces": [
            {"name": "host0", "mac": "aa:00:00:00:00:01"},
            {"name": "net1", "mac": "02:00:00:00:00:02", "sandbox": "/x"},
            {"name": "net2", "mac": "02:00:00:00:00:03", "sandbox": "/x"},
        ],
        "ips": [{"address": "10.0.0.5/24", "interface": 2}, {"address": "10.0.1.5/24"}],
    }
    got = network_status_entries("ns/a", two, "net1")
    assert [(e["interface"], e["ips"]) for e in got] == [
        ("net1", []),
        ("net2", ["10.0.0.5", "10.0.1.5"]),
    ]


def test_api_errors_are_one_line_with_the_api_message() -> None:
    from kubernetes.client.exceptions import ApiException

    e = ApiException(status=422, reason="Unprocessable Entity")
    e.body = json.dumps({"kind": "Status", "message": 'Pod "X" is invalid: metadata.name'})
    assert backend._api_error(e) == '422 Pod "X" is invalid: metadata.name'
    assert backend._api_error(ValueError("boom")) == "ValueError: boom"
