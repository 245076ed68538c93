"""The CNI runtime's Multus + libcni rules, and plugin execution (real plugins where root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from macmatrix.build import cni
from macmatrix.errors import BadInput

ELEMENT = {"name": "mv", "namespace": "ns", "mac": "02:00:00:00:00:01", "ips": ["10.1.1.5/24"]}


def rt_for(element: dict) -> cni.RuntimeConf:
    return cni.multus_runtime_conf(
        element,
        namespace="ns",
        pod_name="p",
        pod_uid="u",
        container_id="c",
        netns="/n",
        ifname="net1",
    )


def test_cni_args_follow_multus_order_with_mac_then_ip() -> None:
    rt = rt_for(ELEMENT)
    assert rt.cni_args() == (
        "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=c;"
        "K8S_POD_UID=u;MAC=02:00:00:00:00:01;IP=10.1.1.5/24"
    )
    assert rt.capability_args == {"ips": ["10.1.1.5/24"], "mac": "02:00:00:00:00:01"}
    bare = rt_for({"name": "mv"})
    assert "MAC=" not in bare.cni_args() and bare.capability_args == {}


def test_ifname_defaults_to_net_n() -> None:
    assert cni.element_ifname({}, 1) == "net1"
    assert cni.element_ifname({}, 2) == "net2"
    assert cni.element_ifname({"interface": "data0"}, 1) == "data0"


def test_delegate_conf_fills_name_only_when_missing_and_keeps_version() -> None:
    assert cni.delegate_conf({"type": "macvlan"}, "nad", {})["name"] == "nad"
    assert cni.delegate_conf({"type": "macvlan", "name": "own"}, "nad", {})["name"] == "own"
    assert "cniVersion" not in cni.delegate_conf({"type": "macvlan"}, "nad", {})


def test_cni_args_merge_into_every_plugin_of_a_list() -> None:
    conf = {"plugins": [{"type": "macvlan"}, {"type": "tuning", "args": {"cni": {"x": 1}}}]}
    out = cni.delegate_conf(conf, "nad", {"cni-args": {"mac": "02:00:00:00:00:09"}})
    assert out["plugins"][0]["args"] == {"cni": {"mac": "02:00:00:00:00:09"}}
    assert out["plugins"][1]["args"] == {"cni": {"x": 1, "mac": "02:00:00:00:00:09"}}
    assert "args" not in conf["plugins"][0]  # the NAD itself is never modified


def test_runtime_config_only_for_plugins_declaring_the_capability() -> None:
    rt = rt_for(ELEMENT)
    with_cap = cni.build_plugin_conf(
        {"type": "tuning", "capabilities": {"mac": True}, "runtimeConfig": {"old": 1}},
        "n",
        "1.0.0",
        None,
        rt,
    )
    assert with_cap["runtimeConfig"] == {"mac": "02:00:00:00:00:01"}  # replaces the static one
    without = cni.build_plugin_conf({"type": "macvlan"}, "n", "1.0.0", None, rt)
    assert "runtimeConfig" not in without
    off = cni.build_plugin_conf(
        {"type": "macvlan", "capabilities": {"mac": False}}, "n", "", None, rt
    )
    assert "runtimeConfig" not in off and off["cniVersion"] == ""


def test_list_name_and_version_override_plugins_and_prev_result_is_chained() -> None:
    rt = rt_for({})
    prev = {"cniVersion": "1.0.0", "interfaces": []}
    out = cni.build_plugin_conf(
        {"type": "tuning", "name": "x", "cniVersion": "0.3.1"}, "list", "1.0.0", prev, rt
    )
    assert out["name"] == "list" and out["cniVersion"] == "1.0.0" and out["prevResult"] == prev


def test_del_gets_prev_result_from_0_4_0() -> None:
    assert not cni.result_version_has_prev_result_on_del("0.3.1")
    assert cni.result_version_has_prev_result_on_del("0.4.0")
    assert cni.result_version_has_prev_result_on_del("1.0.0")
    assert not cni.result_version_has_prev_result_on_del("")


def test_conflist_detection() -> None:
    assert cni.is_conflist({"plugins": []})
    assert not cni.is_conflist({"type": "macvlan", "plugins": []})


def test_error_result_becomes_typed_error() -> None:
    err = cni._error_from_output("tuning", 1, '{"code": 7, "msg": "bad", "details": "d"}', "")
    assert (err.plugin, err.code, err.msg, err.details) == ("tuning", 7, "bad", "d")
    assert str(err) == "tuning: bad: d (CNI code 7)"
    plain = cni._error_from_output("x", 2, "", "panic: boom\n")
    assert plain.code == 2 and plain.msg == "panic: boom"


def test_missing_plugin_is_a_cni_error(tmp_path: Path) -> None:
    rt = cni.CNIRuntime([str(tmp_path)])
    with pytest.raises(cni.CNIError, match="failed to find plugin"):
        rt.find("macvlan")
    with pytest.raises(BadInput):
        rt.find("../etc/passwd")


def test_plugin_that_never_answers_times_out_as_infra() -> None:
    # `sh -c 'sleep 5'` stands in for a hung plugin: the path argument is ignored by sh.
    bin_dir = next((d for d in cni.DEFAULT_BIN_DIRS if Path(d, "loopback").exists()), None)
    if bin_dir is None:
        pytest.skip("no CNI plugins installed (apt-get install containernetworking-plugins)")
    rt = cni.CNIRuntime([bin_dir], timeout=0.3, exec_prefix=["sh", "-c", "sleep 5", "hung"])
    with pytest.raises(cni.PluginTimeout, match="no answer"):
        rt.exec_plugin("ADD", {"type": "loopback"}, rt_for({}))


@pytest.mark.netns
def test_real_plugin_error_is_parsed() -> None:
    bin_dir = next((d for d in cni.DEFAULT_BIN_DIRS if Path(d, "macvlan").exists()), None)
    if bin_dir is None or os.geteuid() != 0:
        pytest.skip("needs root and the CNI plugins (apt-get install containernetworking-plugins)")
    rt = cni.CNIRuntime([bin_dir])
    conf = {"cniVersion": "1.0.0", "name": "n", "type": "macvlan", "master": "nonexistent0"}
    with pytest.raises(cni.CNIError) as err:
        rt.exec_plugin("ADD", conf, rt_for({}))
    assert err.value.plugin == "macvlan" and err.value.msg
