"""`macmatrix lint`: every corpus input gives exactly its expected findings; bad input exits 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from macmatrix import cli
from macmatrix.errors import BadInput
from macmatrix.spec.userinput import load_paths, parse_text
from macmatrix.workflows.lint import ERROR, LEVELS, exit_code, lint

DATA = Path(__file__).parent / "data"
CORPUS = yaml.safe_load((DATA / "corpus.yaml").read_text())


def _keys(findings: list) -> list[str]:
    return sorted(f"{f.level} {f.rule} {f.field}" for f in findings)


@pytest.mark.parametrize("name", sorted(CORPUS["corpus"]))
def test_corpus_findings_are_exactly_the_expected_ones(name: str) -> None:
    findings = lint(load_paths([str(DATA / "corpus" / name)]))
    assert _keys(findings) == sorted(CORPUS["corpus"][name]["lint"])


def test_every_corpus_file_has_an_expectation() -> None:
    files = {p.name for p in (DATA / "corpus").iterdir()}
    assert files == set(CORPUS["corpus"])
    assert {p.name for p in (DATA / "bad").iterdir()} == set(CORPUS["bad"])


@pytest.mark.parametrize(
    ("name", "plugins", "expected"),
    [
        (name, version, keys)
        for name, spec in CORPUS["corpus"].items()
        for version, keys in (spec.get("lint_with_plugins") or {}).items()
    ],
)
def test_cniversion_is_checked_against_the_given_plugins(
    name: str, plugins: str, expected: list[str]
) -> None:
    findings = lint(load_paths([str(DATA / "corpus" / name)]), plugins_version=plugins)
    assert _keys(findings) == sorted(expected)


@pytest.mark.parametrize("name", sorted(CORPUS["corpus"]))
def test_cli_json_exit_code_follows_error_findings(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.main(["lint", str(DATA / "corpus" / name), "--json"])
    out = json.loads(capsys.readouterr().out)
    expected_error = any(k.startswith("error ") for k in CORPUS["corpus"][name]["lint"])
    assert rc == (1 if expected_error else 0)
    for f in out["findings"]:
        assert f["level"] in LEVELS
        assert f["field"] and f["fix"] and f["source"] and f["message"], f


@pytest.mark.parametrize("name", sorted(CORPUS["bad"]))
def test_bad_input_is_one_line_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["lint", str(DATA / "bad" / name)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert CORPUS["bad"][name] in err


def test_text_output_names_field_fix_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["lint", str(DATA / "corpus" / "multicast-mac.yaml")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "error:" in out and "fix:" in out and "source:" in out
    assert "1 error, 0 warnings, 0 info" in out


def test_nad_and_pod_in_separate_files_are_linted_together() -> None:
    nad = DATA / "corpus" / "cni-args-no-tuning.yaml"
    text = nad.read_text().split("---")
    # lint the NAD alone: no pod, so only NAD findings and no error about a missing pod
    assert _keys(lint(parse_text(text[0], "nad.yaml"))) == []
    both = parse_text(text[0], "nad.yaml")
    both.extend(parse_text(text[1], "pod.yaml"))
    assert [f.rule for f in lint(both)] == ["cni-args-mac-without-tuning"]


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    text = (DATA / "corpus" / "static-mac-macvlan.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert cli.main(["lint", "-", "--json"]) == 0
    assert [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]] == ["static-mac"]


NAD = """apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {{name: {name}, namespace: {ns}}}
spec:
  config: '{config}'
"""


def _lint_config(config: dict, name: str = "n", ns: str = "default", pod: str = "") -> list[str]:
    text = NAD.format(name=name, ns=ns, config=json.dumps(config))
    return [f"{f.level} {f.rule}" for f in lint(parse_text(text + pod, "t.yaml"))]


def test_capabilities_inside_the_plugins_are_fine() -> None:
    config = {
        "cniVersion": "1.0.0",
        "plugins": [
            {"type": "macvlan", "master": "eth1", "capabilities": {"mac": True}},
            {"type": "tuning", "capabilities": {"mac": True}},
        ],
    }
    assert _lint_config(config) == []
    config["capabilities"] = {"mac": True}
    assert _lint_config(config) == ["warning list-capabilities"]


def test_static_mac_only_matters_for_macvlan_and_tuning() -> None:
    base = {"cniVersion": "1.0.0", "master": "eth1", "mac": "02:00:00:00:00:09"}
    assert _lint_config({**base, "type": "macvlan"}) == ["warning static-mac"]
    assert _lint_config({**base, "type": "bridge"}) == ["warning static-mac-ignored"]
    bad = {**base, "type": "macvlan", "mac": "03:00:00:00:00:09"}
    assert _lint_config(bad) == ["error multicast-mac", "warning static-mac"]


def test_kubeovn_providers_for_ipam_and_for_kubeovn_attachments() -> None:
    ipam = {"type": "kube-ovn", "server_socket": "/run/openvswitch/kube-ovn-daemon.sock"}
    ok = {
        "cniVersion": "0.3.1",
        "type": "macvlan",
        "master": "eth1",
        "ipam": {**ipam, "provider": "mv.team-a"},
    }
    assert _lint_config(ok, name="mv", ns="team-a") == []
    ovn = {
        "cniVersion": "0.3.1",
        "type": "kube-ovn",
        "server_socket": ipam["server_socket"],
        "provider": "att.team-a.ovn",
    }
    assert _lint_config(ovn, name="att", ns="team-a") == []
    assert _lint_config({**ovn, "provider": "att.team-a"}, name="att", ns="team-a") == [
        "error kubeovn-provider"
    ]


def test_cniversion_rules() -> None:
    conf = {"type": "macvlan", "master": "eth1"}
    assert _lint_config({**conf, "cniVersion": "1.0.0"}) == []
    assert _lint_config({**conf, "cniVersion": "0.9.9"}) == ["error cniversion-unsupported"]
    assert _lint_config(conf) == ["warning missing-cniversion"]


def test_redundant_provider_annotation_is_info_and_ovn_annotations_are_fine() -> None:
    config = {
        "cniVersion": "1.0.0",
        "type": "macvlan",
        "master": "eth1",
        "capabilities": {"mac": True},
    }
    pod = """---
apiVersion: v1
kind: Pod
metadata:
  name: p
  annotations:
    k8s.v1.cni.cncf.io/networks: '[{"name": "n", "mac": "02:00:00:00:00:0a"}]'
    n.default.kubernetes.io/mac_address: 02:00:00:00:00:0A
    ovn.kubernetes.io/mac_address: 02:00:00:00:00:0b
"""
    assert _lint_config(config, pod=pod) == ["info provider-annotation-mac"]


def test_ifname_limit_is_fifteen() -> None:
    config = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1"}
    pod = "---\nn@{}\n"
    assert _lint_config(config, pod=pod.format("a" * 15)) == []
    assert _lint_config(config, pod=pod.format("a" * 16)) == ["error ifname-too-long"]


def test_exit_code() -> None:
    findings = lint(load_paths([str(DATA / "corpus" / "provider-mismatch.yaml")]))
    assert findings[0].level == ERROR and exit_code(findings) == 1
    assert exit_code([]) == 0


def test_config_without_type_or_plugins_is_bad_input() -> None:
    with pytest.raises(BadInput, match="neither `type` nor a `plugins` list"):
        _lint_config({"cniVersion": "1.0.0", "master": "eth1"})


def test_tuning_is_flagged_for_kube_ovn_only(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "corpus" / "cni-args-tuning.yaml")
    assert cli.main(["lint", path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"] == []
    assert cli.main(["lint", path, "--json", "--kube-ovn"]) == 0
    rules = [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert rules == ["tuning-on-kubeovn-kind"]


def test_cni_args_mac_on_a_bridge_nad_is_read_so_no_warning() -> None:
    """bridge reads args.cni.mac since v1.0.0 (spec/plugins/bridge.py, plugins/main/bridge/
    bridge.go loadNetConf, PR #636); the rule asks the plugin registry, not a list of names."""
    text = (DATA / "corpus" / "cni-args-no-tuning.yaml").read_text()
    macvlan = lint(parse_text(text, "mv.yaml"))
    assert [f.rule for f in macvlan] == ["cni-args-mac-without-tuning"]
    assert "bridge v1.0.0+" in macvlan[0].message and "tuning" in macvlan[0].message
    assert "bridge/bridge.go" in macvlan[0].source and "tuning/tuning.go" in macvlan[0].source
    bridge = text.replace('"type": "macvlan", "master": "eth1"', '"type": "bridge"')
    assert bridge != text
    assert [f.rule for f in lint(parse_text(bridge, "br.yaml"))] == []
