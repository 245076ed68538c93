"""Reading what users paste: the shapes of bug reports, Multus' networks rules, clear bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macmatrix.errors import BadInput
from macmatrix.spec.userinput import NETWORKS, load_paths, parse_networks, parse_text, resolve

DATA = Path(__file__).parent / "data"

NAD = """apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: mv
{ns}spec:
  config: '{{"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1"}}'
"""


POD = (
    "---\nkind: Pod\nmetadata: {{name: {name}, annotations: {{k8s.v1.cni.cncf.io/networks: mv}}}}\n"
)


def nad(ns: str | None = None) -> str:
    return NAD.format(ns=f"  namespace: {ns}\n" if ns else "")


# --------------------------------------------------------------------------- networks elements


def test_json_elements_get_the_pod_namespace_only_when_missing() -> None:
    value = '[{"name": "a"}, {"name": "b", "namespace": "other", "mac": "02:00:00:00:00:01"}]'
    elements = parse_networks(value, "team", "w")
    assert elements == [
        {"name": "a", "namespace": "team"},
        {"name": "b", "namespace": "other", "mac": "02:00:00:00:00:01"},
    ]


def test_short_form_like_multus() -> None:
    elements = parse_networks(" ns1/a@lan0, b ,c@x", "team", "w")
    assert elements == [
        {"name": "a", "namespace": "ns1", "interface": "lan0"},
        {"name": "b", "namespace": "team"},
        {"name": "c", "namespace": "team", "interface": "x"},
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a/b/c", "more than one '/'"),
        ("a@b@c", "more than one '@'"),
        ("Mixed_Case", "not a DNS-1123 label"),
        ('{"name": "a"}', "must be a JSON list"),
        ('[{"mac": "02:00:00:00:00:01"}]', 'needs a "name"'),
        ('[{"name": "a",}]', "not valid JSON"),
        ("  ", "empty"),
    ],
)
def test_bad_networks_values(value: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as e:
        parse_networks(value, "default", "pod.yaml")
    assert NETWORKS in str(e.value)


# --------------------------------------------------------------------------- documents


def test_nad_config_is_kept_exactly_as_written() -> None:
    paste = parse_text(nad(), "t")
    (n,) = paste.nads
    assert n.config == {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1"}
    assert "name" not in n.config  # Multus fills it in later, not the reader
    assert json.loads(n.raw) == n.config


def test_workload_template_annotations_count_as_the_pod() -> None:
    text = (
        nad()
        + """---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  template:
    metadata:
      annotations:
        k8s.v1.cni.cncf.io/networks: mv
"""
    )
    req = resolve(parse_text(text, "t"))
    assert req.pod_name == "web"
    assert [b.network for b in req.bindings] == ["default/mv"]


def test_a_list_and_unrelated_kinds() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"kind": "Service", "metadata": {"name": "s"}},
            {"kind": "Pod", "metadata": {"name": "p", "annotations": {NETWORKS: "mv"}}},
        ],
    }
    paste = parse_text(nad() + "---\n" + json.dumps(doc), "t")
    assert [p.name for p in paste.pods] == ["p"]


def test_unquoted_networks_list_is_read_as_the_json_it_stands_for() -> None:
    text = (
        nad()
        + """---
kind: Pod
metadata:
  name: p
  annotations:
    k8s.v1.cni.cncf.io/networks:
      - name: mv
        mac: 02:00:00:00:00:07
"""
    )
    req = resolve(parse_text(text, "t"))
    assert req.bindings[0].element["mac"] == "02:00:00:00:00:07"


def test_raw_config_and_networks_without_separator() -> None:
    req = resolve(load_paths([str(DATA / "corpus" / "raw-config-plus-networks.json")]))
    (b,) = req.bindings
    assert b.network == "default/macvlan-conf"  # the raw config stands for the NAD named
    assert b.nad.config["name"] == "mynet" and b.nad.from_raw_config
    assert b.ifname == "net1" and b.element["mac"] == "02:00:00:00:0d:01"


def test_bare_annotations_mapping_and_two_elements() -> None:
    req = resolve(load_paths([str(DATA / "corpus" / "annotations-only.yaml")]))
    assert [(b.network, b.ifname) for b in req.bindings] == [
        ("default/mv-a", "net1"),
        ("default/mv-b", "net2"),
    ]
    assert req.pod_name == "repro"


def test_pod_namespace_binds_nads_without_one() -> None:
    text = (
        nad()
        + "---\nkind: Pod\nmetadata: {name: p, namespace: team, annotations: "
        + ("{k8s.v1.cni.cncf.io/networks: mv}}\n")
    )
    req = resolve(parse_text(text, "t"))
    assert req.namespace == "team" and req.bindings[0].network == "team/mv"


def test_nad_in_another_namespace_must_be_named_with_it() -> None:
    base = nad("infra") + "---\nkind: Pod\nmetadata: {name: p, namespace: team, annotations: "
    with pytest.raises(BadInput, match="names NAD team/mv, which is not in the input"):
        resolve(parse_text(base + "{k8s.v1.cni.cncf.io/networks: mv}}\n", "t"))
    req = resolve(parse_text(base + "{k8s.v1.cni.cncf.io/networks: infra/mv}}\n", "t"))
    assert req.bindings[0].network == "infra/mv"


def test_short_form_interface_names_the_link() -> None:
    req = resolve(load_paths([str(DATA / "corpus" / "nad-plus-networks.yaml")]))
    assert req.bindings[0].ifname == "lan0"
    assert req.annotations[NETWORKS] == "macvlan-conf@lan0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            nad() + POD.format(name="a") + POD.format(name="b"),
            "several pods",
        ),
        (nad() + "---\nmv\n---\nmv\n", "a second networks value"),
        (nad(), "no pod and no k8s.v1.cni.cncf.io/networks value"),
        (
            "kind: NetworkAttachmentDefinition\nmetadata: {name: x}\n"
            "spec:\n  config:\n    type: macvlan\n",
            "YAML mapping but the NAD API takes a JSON string",
        ),
        ("kind: NetworkAttachmentDefinition\nspec: {config: '{}'}\n", "without metadata.name"),
        (
            "kind: NetworkAttachmentDefinition\nmetadata: {name: x}\nspec: {config: '[1]'}\n",
            "must be a JSON object",
        ),
        ("- 1\n- [2\n", "not valid YAML at line 3"),
        ('{"type": "macvlan"', "not valid YAML"),
        ("42\n", "expected a NAD, a Pod"),
    ],
)
def test_bad_pastes_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        resolve(parse_text(text, "paste.yaml"))


def test_unreadable_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        load_paths([str(tmp_path / "missing.yaml")])
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput, match="not UTF-8"):
        load_paths([str(binary)])


def test_markdown_from_an_issue_keeps_only_the_fenced_blocks() -> None:
    nad_block = (DATA / "corpus" / "issue-4834-host-local.yaml").read_text().split("---")[0]
    text = (
        "I applied this NAD:\n\n```yaml\n" + nad_block + "```\n\nand this pod:\n\n"
        "```\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n  annotations:\n"
        '    k8s.v1.cni.cncf.io/networks: \'[{"name": "macvlan", "mac": "02:00:00:00:00:03"}]\'\n'
        "```\nnet1 gets a random MAC. Why?\n"
    )
    req = resolve(parse_text(text, "issue"))
    assert req.pod_name == "p" and req.bindings[0].network == "default/macvlan"
    assert req.bindings[0].nad.config["ipam"]["type"] == "host-local"


@pytest.mark.parametrize("kind", ["{a: b}", "[Pod]"])
def test_a_kind_that_is_no_name_is_one_bad_input_line(kind: str) -> None:
    # Found by tests/test_validation.py's fuzzing: a mapping as kind was a TypeError traceback.
    with pytest.raises(BadInput, match="kind: .* is not a name"):
        parse_text(f"kind: {kind}\nmetadata: {{name: x}}\n", "in.yaml")
