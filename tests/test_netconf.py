"""spec/netconf: the one reading of a NAD config's plugins and of Kube-OVN's provider name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from macmatrix.backends.kind.kube import single
from macmatrix.backends.netns.backend import Attachment
from macmatrix.judge import pasted
from macmatrix.spec import netconf
from macmatrix.spec.userinput import parse_text, resolve

MACVLAN = {"type": "macvlan", "master": "eth1", "ipam": {"type": "host-local"}}
TUNING = {"type": "tuning", "mac": "02:00:00:00:00:01"}


def test_plugins_of_a_list_a_single_plugin_and_junk_entries() -> None:
    assert netconf.plugins_of({"plugins": [MACVLAN, "junk", TUNING]}) == [MACVLAN, TUNING]
    assert netconf.plugins_of(MACVLAN) == [MACVLAN]
    # a top-level type is one plugin even with a plugins key (Multus/libcni)
    both = {"type": "macvlan", "plugins": [TUNING]}
    assert netconf.plugins_of(both) == [both]
    assert netconf.is_conflist({"plugins": []}) and not netconf.is_conflist(both)


def test_plugin_types_are_every_binary_libcni_execs_once() -> None:
    conf = {"plugins": [MACVLAN, TUNING, {**MACVLAN, "ipam": {"type": "static"}}]}
    assert netconf.plugin_types(conf) == ["macvlan", "host-local", "tuning", "static"]
    assert netconf.plugin_types({"plugins": "no"}) == []


@pytest.mark.parametrize(
    ("config", "want"),
    [
        (MACVLAN, "att.ns1"),
        ({**MACVLAN, "ipam": {"type": "kube-ovn"}}, "att.ns1"),
        ({**MACVLAN, "ipam": {"type": "kube-ovn", "provider": "p.x"}}, "p.x"),
        ({"type": "kube-ovn"}, "att.ns1.ovn"),  # pod.go getPodAttachmentNet: IsOvnNetwork
        ({"type": "kube-ovn", "provider": "q.y.ovn"}, "q.y.ovn"),
        ({"plugins": [{"type": "kube-ovn"}, TUNING]}, "att.ns1.ovn"),
    ],
)
def test_provider_of_explicit_else_implicit(config: dict[str, object], want: str) -> None:
    assert netconf.provider_of(config, "ns1/att") == want
    # the kind backend's Subnet and annotation providers are the same function's
    assert single.provider(Attachment("ns1/att", config, {})) == want


def test_repro_reads_the_annotation_of_the_same_provider() -> None:

    text = """
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: att, namespace: ns1}
spec:
  config: '{"cniVersion": "0.4.0", "type": "macvlan", "master": "eth1",
            "ipam": {"type": "kube-ovn"}}'
---
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: ns1
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "att"}]'
    att.ns1.kubernetes.io/mac_address: 02:00:00:00:00:09
"""
    request = resolve(parse_text(text, "t.yaml"))
    key = netconf.annotation_key(netconf.implicit_provider("att", "ns1"))
    assert key == "att.ns1.kubernetes.io/mac_address"
    assert pasted.requested_routes(request.bindings[0], request.annotations) == {
        "annotation": "02:00:00:00:00:09"
    }


def test_no_module_spells_the_provider_or_plugin_list_itself() -> None:
    """The three old ways (f"{name}.{ns}" providers, `config.get("plugins") or [config]`) are gone:
    a new one would diverge again."""
    root = Path(__file__).resolve().parents[1] / "macmatrix"
    bad = []
    for path in root.rglob("*.py"):
        if path.name == "netconf.py":
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and value.startswith(".kubernetes.io/"):
                bad.append(f"{path.relative_to(root)}:{node.lineno} provider key suffix")
        if 'get("plugins") or [' in text or '"type" not in conf and isinstance' in text:
            bad.append(f"{path.relative_to(root)}: its own plugins-of-a-config")
    assert not bad, bad


def test_plugin_fields_name_each_plugin_where_it_is_written() -> None:
    conf = {"plugins": [MACVLAN, "junk", TUNING]}
    fields = netconf.plugin_fields(conf)
    assert [f for f, _ in fields] == ["spec.config.plugins[0]", "spec.config.plugins[2]"]
    assert fields[1][1] is conf["plugins"][2]  # the config's own dict: edits land in it
    assert netconf.plugin_fields(MACVLAN, "config") == [("config", MACVLAN)]


def test_the_plugins_of_a_config_are_computed_in_one_place() -> None:
    """Nor the fourth way, `conf["plugins"] if <conflist> else [conf]` (build/cni.py and
    judge/pasted.py had it beside plugins_of): every `X["plugins"] if ... else [...]` counts."""
    root = Path(__file__).resolve().parents[1] / "macmatrix"
    bad = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "netconf.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.IfExp) and isinstance(node.orelse, ast.List)):
                continue
            key = node.body.slice if isinstance(node.body, ast.Subscript) else None
            if isinstance(key, ast.Constant) and key.value == "plugins":
                bad.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not bad, bad


def test_delegate_conf_and_the_runtime_chain_take_the_plugins_of_the_config() -> None:
    from macmatrix.build.cni import delegate_conf

    conf = {"cniVersion": "1.0.0", "plugins": [{"type": "macvlan"}, {"type": "tuning"}]}
    out = delegate_conf(conf, "n", {"name": "n", "cni-args": {"mac": "02:00:00:00:00:01"}})
    assert [p["args"]["cni"] for p in netconf.plugins_of(out)] == [{"mac": "02:00:00:00:00:01"}] * 2
    single = delegate_conf({"type": "bridge"}, "n", {"cni-args": {"a": "b"}})
    assert single["args"] == {"cni": {"a": "b"}} and single["name"] == "n"
