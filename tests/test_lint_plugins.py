"""`macmatrix lint`'s MAC-route rules read each plugin's declared routes (spec/plugins), not a
list of plugin names: bridge's static `mac` is flagged as ignored (bridge.go keeps its `mac`
unexported, containernetworking/plugins plugins/main/bridge/bridge.go NetConf at v1.1.1,
v1.6.2, v1.9.0, v1.9.1), and a plugin module with a config route gets the static-mac rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from macmatrix.spec import plugins
from macmatrix.spec.plugins.base import CONFIG, MAIN, MacRoute, Plugin
from macmatrix.spec.userinput import Nad, parse_text
from macmatrix.workflows.lint import INFO, WARNING, exit_code, lint, lint_nad

MAC = "02:00:00:00:00:09"
NAD = """\
kind: NetworkAttachmentDefinition
metadata: {{name: n, namespace: default}}
spec:
  config: '{config}'
"""
POD = """\
---
kind: Pod
metadata:
  name: p
  namespace: default
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{{"name": "n", "mac": "{mac}"}}]'
"""


def _lint(config: dict[str, Any], pod: str = "") -> list[Any]:
    return lint(parse_text(NAD.format(config=json.dumps(config)) + pod, "t.yaml"))


def test_a_static_mac_on_bridge_is_ignored_and_said_so() -> None:
    (f,) = _lint({"cniVersion": "1.0.0", "type": "bridge", "bridge": "br0", "mac": MAC})
    assert (f.level, f.rule, f.field) == (WARNING, "static-mac-ignored", "spec.config.mac")
    assert "bridge ignores a mac in its own config" in f.message
    # the channels are bridge's declared routes, the source what its module cites
    assert "CNI_ARGS MAC, args.cni.mac, runtimeConfig.mac" in f.message
    assert "plugins/main/bridge/bridge.go loadNetConf" in f.source
    assert '"capabilities": {"mac": true} on bridge' in f.fix and "chain tuning" in f.fix
    assert exit_code([f]) == 0


def test_in_a_conflist_the_rule_follows_each_plugin() -> None:
    config = {
        "cniVersion": "1.0.0",
        "plugins": [
            {"type": "bridge", "bridge": "br0", "mac": MAC},
            {"type": "tuning", "mac": MAC},
        ],
    }
    got = sorted((f.rule, f.field) for f in _lint(config))
    assert got == [
        ("static-mac", "spec.config.plugins[1].mac"),
        ("static-mac-ignored", "spec.config.plugins[0].mac"),
    ]


def test_an_invalid_mac_bridge_ignores_is_not_an_error() -> None:
    """bridge never parses it (only the plugins that read it fail on it)."""
    rules = [f.rule for f in _lint({"cniVersion": "1.0.0", "type": "bridge", "mac": "zz"})]
    assert rules == ["static-mac-ignored"]


def test_ipvlan_reads_no_mac_at_all() -> None:
    (f,) = _lint({"cniVersion": "1.0.0", "type": "ipvlan", "master": "eth1", "mac": MAC})
    assert f.rule == "static-mac-ignored" and "ipvlan sets no MAC of its own" in f.message
    assert f.source == plugins.registry()["ipvlan"].source


def test_an_element_mac_without_capability_on_bridge_still_arrives_by_cni_args() -> None:
    bare = {"cniVersion": "1.0.0", "type": "bridge", "bridge": "br0"}
    (f,) = _lint(bare, POD.format(mac=MAC))
    assert (f.level, f.rule) == (INFO, "mac-without-capability")
    assert "bridge still reads the MAC from CNI_ARGS MAC= (plugins v1.0.0+)" in f.message
    assert "to the bridge plugin" in f.fix and "bridge/bridge.go" in f.source
    assert _lint({**bare, "capabilities": {"mac": True}}, POD.format(mac=MAC)) == []


def test_a_plugin_module_with_a_config_route_gets_the_static_mac_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new module is all the lint needs: no list of names to edit (a stand-in module)."""
    source = "containernetworking/plugins plugins/main/mmvlan/mmvlan.go (a test's stand-in)"
    config = {"cniVersion": "1.0.0", "type": "mmvlan", "mac": MAC}
    nad = Nad("n", "default", config, json.dumps(config), "t.yaml")
    assert lint_nad(nad, "default", False, None) == []  # not described: nothing is known
    stand_in = Plugin(
        name="mmvlan",
        kind=MAIN,
        source=source,
        entry=lambda case, ipam: {"type": "mmvlan"},
        routes=(MacRoute(CONFIG, "v9.0.0", source),),
        matrix=False,
    )
    monkeypatch.setitem(plugins.registry(), "mmvlan", stand_in)
    (f,) = lint_nad(nad, "default", False, None)
    assert (f.rule, f.source) == ("static-mac", source)
    assert "static mac in the NAD's mmvlan config" in f.message
