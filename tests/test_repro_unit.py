"""repro's own judging, backend choice, results-shaped entry and Markdown, without root.

The netns backend is replaced by a small stand-in class (it is not the Kubernetes API): it records
what repro hands over and returns a scripted observation. The real plugins run in e2e/test_repro.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from macmatrix import cli, macs
from macmatrix.backends import podrun
from macmatrix.errors import BadInput
from macmatrix.judge import pasted
from macmatrix.observe import PodObservation, network_status_entry
from macmatrix.spec.userinput import load_paths, parse_text, resolve
from macmatrix.types import Outcome, outcome_of
from macmatrix.workflows import repro
from macmatrix.workflows.repro_report import render_markdown

DATA = Path(__file__).parent / "data"
CORPUS = yaml.safe_load((DATA / "corpus.yaml").read_text())


def request_for(name: str) -> Any:
    return resolve(load_paths([str(DATA / "corpus" / name)]))


def observed(
    kernel: dict[str, str | None], status_mac: dict[str, str | None], **kw: Any
) -> PodObservation:
    status = []
    for ifname, mac in status_mac.items():
        result = {"interfaces": [{"name": ifname, "mac": mac, "sandbox": "/x"}]} if mac else {}
        status.append(network_status_entry("default/x", result, ifname))
    return PodObservation(name="p", interfaces=dict(kernel), network_status=status, **kw)


# --------------------------------------------------------------------------- judging


def test_requested_mac_applied_and_reported_works() -> None:
    req = request_for("issue-4834-maintainer-fix.yaml")
    mac = "02:00:00:53:6b:bb"
    rows, checks, outcome, reason = pasted.judge(req, observed({"net1": mac}, {"net1": mac}))
    assert (outcome, reason) == ("works", "")
    assert set(checks) == {
        "sandbox_created",
        "mac_honoured[net1]",
        "status_reports_mac[net1]",
        "status_matches_kernel[net1]",
    }
    assert rows[0].requested == mac and rows[0].route == "networks"


def test_annotation_only_request_not_applied_is_broken() -> None:
    req = request_for("issue-4834-host-local.yaml")
    rnd = "ce:42:2f:1a:3d:0d"
    pod = observed({"net1": rnd}, {"net1": rnd}, annotations=dict(req.annotations))
    rows, checks, outcome, reason = pasted.judge(req, pod)
    assert outcome == "broken"
    assert not checks["mac_honoured[net1]"].ok
    assert "mac_honoured[net1]: expected 00:00:00:53:6b:bb, observed ce:42:2f:1a:3d:0d" in reason
    assert rows[0].route == "annotation" and rows[0].annotation == "00:00:00:53:6b:bb"
    entry = repro.build_entry(req, pod, "ran", "", [], {"backend": "netns"}, 0.1)
    assert "the netns backend runs no Kube-OVN" in render_markdown(entry)
    # host-local is not kube-ovn IPAM: the annotation is shown but not judged as Kube-OVN's
    assert not any(n.startswith("kubeovn_annotation") for n in checks)


def test_status_written_raw_in_upper_case_still_matches_but_is_shown() -> None:
    req = request_for("issue-4834-maintainer-fix.yaml")
    pod = observed({"net1": "02:00:00:53:6b:bb"}, {"net1": "02:00:00:53:6B:BB"})
    rows, _, outcome, _ = pasted.judge(req, pod)
    assert outcome == "works"
    assert rows[0].status == "02:00:00:53:6b:bb" and rows[0].status_raw == "02:00:00:53:6B:BB"
    assert "written as `02:00:00:53:6B:BB`" in render_markdown(
        repro.build_entry(req, pod, "ran", "", [], {"backend": "netns"}, 0.1)
    )


def test_missing_status_mac_is_broken_and_sandbox_error_wins() -> None:
    req = request_for("missing-cniversion.yaml")
    mac = "02:00:00:00:05:01"
    _, checks, outcome, _ = pasted.judge(req, observed({"net1": mac}, {"net1": None}))
    assert outcome == "broken" and not checks["status_reports_mac[net1]"].ok
    assert checks["status_matches_kernel[net1]"].ok  # nothing reported is not a disagreement
    rows, checks, outcome, reason = pasted.judge(req, PodObservation(name="p", error="boom"))
    assert (outcome, reason) == ("broken", "sandbox failed: boom")
    assert list(checks) == ["sandbox_created"] and rows[0].verdict == "not created"


def test_kubeovn_annotation_is_judged_for_kube_ovn_ipam() -> None:
    req = request_for("issue-4834.yaml")
    kernel = "00:00:00:53:6b:bb"
    pod = observed(
        {"net1": kernel, "eth0": "00:00:00:53:6b:b6"},
        {"net1": kernel},
        annotations={"macvlan.default.kubernetes.io/mac_address": "00:00:00:aa:aa:aa"},
    )
    rows, checks, outcome, _ = pasted.judge(req, pod)
    assert outcome == "broken"
    assert checks["kubeovn_annotation_matches_kernel[net1]"].observed == "00:00:00:aa:aa:aa"
    assert checks["primary_mac_honoured[eth0]"].ok
    assert [r.ifname for r in rows] == ["net1", "eth0"]


def test_routes_and_what_plugins_were_told() -> None:
    req = request_for("static-mac-tuning.yaml")
    routes = pasted.requested_routes(req.bindings[0], req.annotations)
    assert routes == {"config": "02:aa:bb:cc:dd:ee"}
    invocations = [
        {"command": "ADD", "network": "default/x", "ifname": "net1", "plugin": "macvlan",
         "stdin": {"runtimeConfig": {"mac": "02:00:00:00:00:01"}},
         "cni_args": "IgnoreUnknown=true;MAC=02:00:00:00:00:01"},
        {"command": "ADD", "network": "default/x", "ifname": "net1", "plugin": "tuning",
         "stdin": {"mac": "02:aa:bb:cc:dd:ee", "args": {"cni": {"mac": "02:00:00:00:00:02"}}},
         "cni_args": "IgnoreUnknown=true"},
        {"command": "DEL", "network": "default/x", "ifname": "net1", "plugin": "tuning",
         "stdin": {}, "cni_args": ""},
    ]  # fmt: skip
    assert pasted.told(invocations, "default/x", "net1") == [
        "macvlan: CNI_ARGS MAC=02:00:00:00:00:01 < runtimeConfig.mac 02:00:00:00:00:01",
        "tuning: config mac 02:aa:bb:cc:dd:ee < args.cni.mac 02:00:00:00:00:02",
    ]


def test_told_reads_the_channels_from_the_plugin_registry() -> None:
    """bridge reads CNI_ARGS, args.cni and runtimeConfig but no config `mac`
    (spec/plugins/bridge.py); an IPAM reads no MAC at all, so it gets no line."""
    mac = "02:00:00:00:00:03"
    invocations = [
        {"command": "ADD", "network": "n/b", "ifname": "net1", "plugin": "bridge",
         "stdin": {"mac": "02:aa:aa:aa:aa:aa", "args": {"cni": {"mac": mac}}},
         "cni_args": f"IgnoreUnknown=true;MAC={mac}"},
        {"command": "ADD", "network": "n/b", "ifname": "net1", "plugin": "static",
         "stdin": {}, "cni_args": f"MAC={mac}"},
    ]  # fmt: skip
    assert pasted.told(invocations, "n/b", "net1") == [
        f"bridge: CNI_ARGS MAC={mac} < args.cni.mac {mac}"
    ]
    invocations[0]["stdin"], invocations[0]["cni_args"] = {}, ""
    assert pasted.told(invocations, "n/b", "net1") == ["bridge: no MAC (kernel picks a random one)"]


@pytest.mark.parametrize(
    ("mac", "ok"),
    [
        ("02:00:00:00:00:01", True),
        ("02-00-00-00-00-01", True),
        ("0200.0000.0001", True),
        ("02:00:00:00:00:00:00:01", True),  # 8 bytes: Go accepts, the plugin then decides
        ("02:00:00:00:01", False),
        ("02:00:00:00:00:0g", False),
        ("0200:0000:0001", False),
    ],
)
def test_multus_mac_parsing_follows_go(mac: str, ok: bool) -> None:
    assert macs.go_parse_mac(mac) is ok


def test_netns_cannot_run_kube_ovn_link_in_container_or_missing_plugins(tmp_path: Path) -> None:
    bins = tmp_path / "bin"
    bins.mkdir()
    for name in ("macvlan", "host-local"):
        (bins / name).write_text("")
    assert podrun.netns_unsupported(request_for("issue-4834.yaml"), [str(bins)]) is not None
    assert podrun.netns_unsupported(request_for("issue-4834-host-local.yaml"), [str(bins)]) is None
    why = podrun.netns_unsupported(request_for("cni-args-tuning.yaml"), [str(bins)])
    assert why is not None and "'tuning' is not in" in why
    text = (
        "kind: NetworkAttachmentDefinition\nmetadata: {name: m}\nspec:\n  config: '"
        '{"cniVersion": "1.0.0", "type": "macvlan", "master": "eth0", "linkInContainer": true}'
        "'\n---\nm\n"
    )
    why = podrun.netns_unsupported(resolve(parse_text(text, "t")), [str(bins)])
    assert why is not None and "linkInContainer" in why


# --------------------------------------------------------------------------- backends


def test_kind_backend_without_repro_support_is_a_clear_bad_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A registered kind backend without a single-pod runner (registry `pods`)."""
    from dataclasses import replace

    from macmatrix.backends import registry

    kind = registry.get("kind")
    monkeypatch.setitem(registry._ENTRIES, "kind", replace(kind, pods=None))
    with pytest.raises(BadInput, match="--backend kind: this backend cannot run a single repro"):
        repro.pick_backend("kind")
    docker = replace(kind, pods=None, auto_refuses=lambda: None)  # a Docker engine answers
    monkeypatch.setitem(registry._ENTRIES, "kind", docker)
    assert repro.pick_backend("auto") == (
        "netns",
        "auto: the kind backend cannot run a single repro pod in this build",
    )
    no_docker = replace(kind, pods=None, auto_refuses=lambda: "no Docker engine answers")
    monkeypatch.setitem(registry._ENTRIES, "kind", no_docker)
    assert repro.pick_backend("auto") == ("netns", "auto: no Docker engine answers")
    assert repro.pick_backend("netns") == ("netns", "")


class StandInNetns:
    """Stands in for backends/netns/backend.py's NetnsBackend: records calls, returns a script."""

    calls: list[tuple[str, str, list[Any], dict[str, str]]] = []
    script: Any = None

    timeouts: list[float] = []

    def __init__(self, cni_bin_dirs: list[str] | None = None, timeout: float = 30.0):
        self.bin_dirs = ["/usr/lib/cni"]
        StandInNetns.timeouts.append(timeout)  # repro --plugin-timeout reaches the backend

    def __enter__(self) -> StandInNetns:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def stack(self) -> dict[str, Any]:
        return {"backend": "netns", "cni_plugins": "1.1.1", "kernel": "test"}

    def run_pod(self, name: str, ns: str, attachments: list[Any], ann: dict[str, str]) -> Any:
        StandInNetns.calls.append((name, ns, attachments, ann))
        return StandInNetns.script(attachments)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> type[StandInNetns]:
    import macmatrix.backends.netns.backend as netns

    StandInNetns.calls, StandInNetns.timeouts = [], []
    monkeypatch.setattr(netns, "NetnsBackend", StandInNetns)
    monkeypatch.setattr(podrun, "netns_unsupported", lambda request, dirs, **kw: None)
    # the fix search runs candidates on real plugins (e2e/test_repro.py); not with a stand-in
    monkeypatch.setattr(repro, "_fix", lambda *a, **kw: {"searched": False, "why": "stand-in"})
    return StandInNetns


def test_repro_hands_the_config_over_unchanged(stand_in: type[StandInNetns]) -> None:
    req = request_for("multus-macvlan-tuning.yaml")
    stand_in.script = lambda atts: observed(
        {"net1": "c2:b0:57:49:47:f1"}, {"net1": "c2:b0:57:49:47:f1"}
    )
    entry = repro.run(req, "netns")
    ((name, ns, atts, ann),) = stand_in.calls
    assert (name, ns) == ("samplepod", "default")
    assert atts[0].network == "default/macvlan-tuned"
    assert atts[0].config == json.loads(req.bindings[0].nad.raw)  # not normalised
    assert atts[0].element == {
        "name": "macvlan-tuned",
        "namespace": "default",
        "ips": ["10.1.1.101/24"],
        "mac": "c2:b0:57:49:47:f1",
    }
    assert entry["outcome"] == "works"
    assert entry["stack"]["cni_plugins"] == "1.1.1" and entry["stack"]["macmatrix"]


def test_invalid_mac_never_reaches_the_backend(stand_in: type[StandInNetns]) -> None:
    entry = repro.run(request_for("invalid-mac.yaml"), "netns")
    assert stand_in.calls == []
    assert entry["outcome"] == "broken" and "failed to mac" in entry["reason"]


def test_entry_has_the_results_case_shape(stand_in: type[StandInNetns]) -> None:
    stand_in.script = lambda atts: observed(
        {"net1": "0a:00:00:00:00:01"}, {"net1": "0a:00:00:00:00:01"}
    )
    entry = repro.run(request_for("cni-args-no-tuning.yaml"), "netns")
    for key in ("id", "axes", "outcome", "reason", "requested", "pods", "checks", "attempts",
                "duration_s"):  # fmt: skip
        assert key in entry, key
    assert entry["id"] == "repro/mv-args"
    assert outcome_of(entry["outcome"]) is Outcome.BROKEN
    assert entry["requested"] == {"net1": "02:00:00:00:0a:01"}
    assert entry["pods"][0]["interfaces"] == {"net1": "0a:00:00:00:00:01"}
    assert all(set(c) == {"expected", "observed", "ok"} for c in entry["checks"].values())
    assert [f["rule"] for f in entry["lint"]] == ["cni-args-mac-without-tuning"]
    json.dumps(entry)  # serialisable as is


def test_cli_json_and_exit_codes(
    stand_in: type[StandInNetns], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(DATA / "corpus" / "issue-4834-host-local.yaml")
    stand_in.script = lambda atts: observed(
        {"net1": "ce:42:2f:1a:3d:0d"}, {"net1": "ce:42:2f:1a:3d:0d"}
    )
    assert cli.main(["repro", path, "--backend", "netns", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in doc["cases"]] == ["broken"]
    stand_in.script = lambda atts: observed(
        {"net1": "00:00:00:53:6b:bb"}, {"net1": "00:00:00:53:6b:bb"}
    )
    assert cli.main(["repro", path, "--backend", "netns"]) == 0
    assert capsys.readouterr().out.startswith("### macmatrix repro `repro/macvlan`: ✓ works")


def test_plugin_timeout_reaches_the_netns_backend(
    stand_in: type[StandInNetns], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(DATA / "corpus" / "multus-macvlan-tuning.yaml")
    stand_in.script = lambda atts: observed({"net1": "c2:b0:57:49:47:f1"}, {})
    cli.main(["repro", path, "--backend", "netns", "--plugin-timeout", "2.5"])
    cli.main(["repro", path, "--backend", "netns"])
    assert stand_in.timeouts == [2.5, 30.0]


def test_unknown_stack_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "corpus" / "issue-4834-host-local.yaml")
    assert cli.main(["repro", path, "--backend", "netns", "--stack", "no-such-stack"]) == 2
    assert "--stack" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(CORPUS["bad"]))
def test_bad_input_is_one_line_and_exit_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["repro", str(DATA / "bad" / name), "--backend", "netns"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert CORPUS["bad"][name] in err


# --------------------------------------------------------------------------- Markdown


def test_markdown_has_every_section_a_maintainer_needs(stand_in: type[StandInNetns]) -> None:
    req = request_for("list-capabilities.yaml")
    inv = {"network": "default/mv-list", "plugin": "macvlan", "command": "ADD", "ifname": "net1",
           "stdin": {"type": "macvlan", "cniVersion": "1.0.0"},
           "cni_args": "IgnoreUnknown=true;MAC=02:11:22:33:44:55",
           "result": {"cniVersion": "1.0.0"}, "error": None, "duration_s": 0.01}  # fmt: skip
    stand_in.script = lambda atts: observed(
        {"net1": "02:11:22:33:44:55"}, {"net1": "02:11:22:33:44:55"}, invocations=[inv]
    )
    md = render_markdown(repro.run(req, "netns"))
    for heading in ("#### MAC per interface", "#### Likely cause and fix", "#### Checks",
                    "#### What each plugin received", "#### Versions", "#### Input"):  # fmt: skip
        assert heading in md
    assert "| net1 | default/mv-list | `02:11:22:33:44:55` (networks) |" in md
    assert "**warning** `spec.config.capabilities`" in md and "**Fix:**" in md
    assert "CNI_ARGS: `IgnoreUnknown=true;MAC=02:11:22:33:44:55`" in md
    assert "macvlan: CNI_ARGS MAC=02:11:22:33:44:55" in md
    assert "| cni_plugins | 1.1.1 |" in md


def test_markdown_escapes_pipes_and_shows_unsupported() -> None:
    req = request_for("issue-4834.yaml")
    stack = {"backend": "netns", "kernel": "6.1 | custom"}
    entry = repro.build_entry(req, None, "unsupported", "no kube-ovn", [], stack, 0)
    md = render_markdown(entry)
    assert md.startswith("### macmatrix repro `repro/macvlan`: – unsupported")
    assert "| kernel | 6.1 \\| custom |" in md  # a pipe would split the table cell
    assert "No plugin ran: no kube-ovn. This is what they would receive" in md
    # what Multus would send, built without running: kube-ovn IPAM as written, MAC in CNI_ARGS
    (planned,) = entry["planned_invocations"]
    assert planned["stdin"]["ipam"]["provider"] == "macvlan.default"
    assert planned["cni_args"].endswith(
        "K8S_POD_NAME=static-ip-mac;K8S_POD_INFRA_CONTAINER_ID=<container-id>;K8S_POD_UID=<pod-uid>"
    )
    assert "runtimeConfig" not in planned["stdin"]  # no capabilities on this macvlan
    assert "1. ADD <code>macvlan</code> for default/macvlan on net1: not run</summary>" in md
    assert entry["checks"] == {} and entry["attempts"] == 0
    assert "| eth0 | (cluster default: Kube-OVN) |" in md


def test_repro_reads_stdin(
    stand_in: type[StandInNetns],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io

    text = (DATA / "corpus" / "nad-plus-networks.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    stand_in.script = lambda atts: observed(
        {"lan0": "0a:00:00:00:00:02"}, {"lan0": "0a:00:00:00:00:02"}
    )
    assert cli.main(["repro", "-", "--backend", "netns", "--json"]) == 0
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert case["axes"]["source"] == "<stdin>" and case["requested"] == {"lan0": None}
    assert stand_in.calls[0][2][0].element == {
        "name": "macvlan-conf",
        "namespace": "default",
        "interface": "lan0",
    }


def test_config_without_type_is_bad_input_before_any_backend_work(
    stand_in: type[StandInNetns], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "kind: NetworkAttachmentDefinition\nmetadata: {name: m}\n"
        'spec: {config: \'{"cniVersion": "1.0.0", "master": "eth1"}\'}\n---\nm\n'
    )
    assert cli.main(["repro", str(path), "--backend", "netns"]) == 2
    assert "neither `type` nor a `plugins` list" in capsys.readouterr().err
    assert stand_in.calls == []
