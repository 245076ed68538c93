"""The CNI plugin registry (spec/plugins) and the request-route registry (spec/requests).

Upstream facts the entries carry, checked here against what the harness builds: bridge reads
CNI_ARGS MAC, args.cni.mac and runtimeConfig.mac since v1.0.0 (containernetworking/plugins
plugins/main/bridge/bridge.go loadNetConf at v1.0.0, v1.1.1, v1.6.2, v1.9.0, v1.9.1; absent at
v0.9.1), and has no static `mac` (its `mac` field is unexported). The real runs are in
tests/test_plugin_versions.py and the committed netns baseline.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from macmatrix import versions
from macmatrix.build import manifests
from macmatrix.judge.verdict import model
from macmatrix.spec import cases, plugins, requests
from macmatrix.spec.plugins import base, bridge


def test_the_registry_finds_every_module_and_the_axis_takes_the_main_ones() -> None:
    names = set(plugins.registry())
    assert {"macvlan", "tuning", "bridge", "ipvlan"} <= names
    assert plugins.main_plugins()[0] == "macvlan"  # the default keeps its place
    assert cases.AXES["plugin"] == plugins.main_plugins()
    assert "bridge" in cases.AXES["plugin"] and "ipvlan" not in cases.AXES["plugin"]
    assert [p.name for p in plugins.meta_plugins()] == ["tuning"]


def test_every_route_cites_an_upstream_file_and_a_real_tag() -> None:
    for plugin in plugins.registry().values():
        assert plugin.source.startswith("containernetworking/plugins plugins/"), plugin.name
        for route in plugin.routes:
            assert route.channel in base.CHANNELS
            assert "containernetworking/plugins" in route.source and "@" in route.source
            assert route.since is None or versions.parse(route.since)
    for route in requests.ROUTES.values():
        assert "@" in route.source, route.name


def test_bridge_routes_are_what_bridge_go_reads() -> None:
    p = plugins.registry()["bridge"]
    assert p.channels() == (base.CNI_ARGS, base.ARGS_CNI, base.RUNTIME_CONFIG)
    assert base.CONFIG not in p.channels()  # NetConf.mac is unexported: a NAD `mac` does nothing
    assert {r.since for r in p.routes} == {"v1.0.0"}
    assert p.masters == ("eth1",) and p.node_links({"type": "bridge"}) == []
    assert not p.duplicate_mac_fails


def test_a_bridge_case_builds_its_nad_from_the_module() -> None:
    axes = {**cases.DEFAULTS, "plugin": "bridge", "chain": "conflist", "tuning": "capmac"}
    case = cases.Case(**axes)
    conf = manifests.nad_config(case, "ns")
    assert case.id.startswith("bridge+capmac/tuning-capmac/")
    first, second = conf["plugins"]
    assert first["type"] == "bridge" and first["bridge"] == bridge.BRIDGE
    assert first["capabilities"] == {"mac": True} and first["ipam"] == {"type": "static"}
    assert second == {"type": "tuning", "capabilities": {"mac": True}}
    # a plugin that takes no master cannot vary it: the matrix refuses the combination
    with pytest.raises(Exception, match="every combination is excluded"):
        cases.expand({"sets": {"s": {"plugin": ["bridge"], "master": ["eth0-in-pod"]}}})


def test_node_links_come_from_the_plugins_of_a_config() -> None:
    conflist = {"plugins": [{"type": "macvlan", "master": "eth2"}, {"type": "tuning"}]}
    assert plugins.node_links(conflist) == ["eth2"]
    assert plugins.node_links({"type": "macvlan"}) == ["eth1"]
    assert plugins.node_links({"type": "macvlan", "master": "eth0", "linkInContainer": True}) == []
    assert plugins.node_links({"type": "ipvlan", "master": "eth3"}) == ["eth3"]
    assert plugins.node_links({"type": "bridge", "bridge": "br9"}) == []
    assert plugins.node_links({"type": "unknown-plugin"}) == []


@pytest.mark.parametrize("request_value", cases.AXES["request"])
def test_request_routes_write_the_pod_as_they_say(request_value: str) -> None:
    case = cases.Case(**{**cases.DEFAULTS, "request": request_value})
    element = manifests.networks_element(case, "ns", 0)
    ann = manifests.pod_annotations(case, "ns", 0)
    mac = case.requested_mac(0)
    used = {r.name for r in requests.routes(request_value)}
    assert ("mac" in element) == ("networks" in used) == case.asks_element_mac
    assert (element.get("cni-args") == {"mac": mac}) == ("cni-args" in used)
    key = manifests.attachment_mac_annotation(case, "ns")
    assert (key in ann and ann[key] == mac) == ("annotation" in used) == case.asks_annotation_mac
    assert case.asks_secondary_mac == bool(used)


def test_runtime_config_reaches_only_plugins_with_the_capability() -> None:
    assert requests.channels("networks", plugin_capmac=True) == {base.CNI_ARGS, base.RUNTIME_CONFIG}
    assert requests.channels("networks", plugin_capmac=False) == {base.CNI_ARGS}
    assert requests.channels("cni-args", plugin_capmac=False) == {base.ARGS_CNI}
    assert requests.channels("annotation", plugin_capmac=True) == set()
    assert requests.channels("none", plugin_capmac=True) == set()


@pytest.mark.parametrize(
    ("plugin", "release", "honoured"),
    [
        ("bridge", "v1.1.1", True),  # bridge reads args.cni.mac ...
        ("bridge", "v0.8.6", False),  # ... since v1.0.0
        ("macvlan", "v1.9.1", False),  # macvlan never reads args.cni
    ],
)
def test_the_model_reads_the_routes(plugin: str, release: str, honoured: bool) -> None:
    case = cases.Case(
        **{**cases.DEFAULTS, "plugin": plugin, "request": "cni-args", "cni_version": "0.4.0"}
    )
    exp = model(case, {"backend": "netns", "cni_plugins": release})
    assert exp.checks["secondary_mac_honoured"] is honoured


def test_bridge_accepts_a_duplicate_static_mac_where_macvlan_refuses_it() -> None:
    axes = {**cases.DEFAULTS, "chain": "conflist", "tuning": "static", "replicas": "2"}
    stack = {"backend": "netns", "cni_plugins": "v1.1.1"}
    mv = model(cases.Case(**{**axes, "plugin": "macvlan", "request": "none"}), stack)
    br = model(cases.Case(**{**axes, "plugin": "bridge", "request": "none"}), stack)
    assert mv.checks == {"sandbox_created": False}
    assert br.checks["sandbox_created"] and br.checks["unique_across_replicas"] is False


def test_a_new_plugin_module_is_found_without_editing_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dummyplug.py").write_text(
        textwrap.dedent(
            """
            from macmatrix.spec.plugins.base import MAIN, Plugin
            PLUGIN = Plugin(
                name="dummyplug",
                kind=MAIN,
                source="containernetworking/plugins plugins/main/dummy/dummy.go",
                entry=lambda case, ipam: {"type": "dummy"},
            )
            """
        )
    )
    monkeypatch.setattr(plugins, "__path__", [*plugins.__path__, str(tmp_path)])
    plugins.registry.cache_clear()
    try:
        assert plugins.get("dummyplug") is not None
        assert "dummyplug" in plugins.main_plugins()
    finally:
        monkeypatch.undo()
        plugins.registry.cache_clear()
    assert plugins.get("dummyplug") is None


def test_go_built_releases_build_every_registered_plugin() -> None:
    from macmatrix.backends.gobuild import cni_plugins

    for plugin in plugins.registry().values():
        assert plugin.package in cni_plugins.PACKAGES
        assert plugin.name in cni_plugins.binaries()
    assert plugins.registry()["bridge"].package == "main/bridge"


def test_pasted_masters_are_checked_for_the_plugins_that_take_one() -> None:
    from macmatrix.errors import BadInput
    from macmatrix.spec import validate

    assert {p.name for p in plugins.registry().values() if p.takes_master} == {"macvlan", "ipvlan"}
    assert set(plugins.registry()) <= validate.KNOWN_TYPES
    for ptype in ("macvlan", "ipvlan"):
        with pytest.raises(BadInput, match="loopback"):
            validate.check_config(
                {"cniVersion": "1.0.0", "type": ptype, "master": "lo"}, "x", "config"
            )
    # bridge has no master: its config is not read for one
    validate.check_config({"cniVersion": "1.0.0", "type": "bridge", "master": "lo"}, "x", "config")
