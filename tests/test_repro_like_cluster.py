"""Repro behaves like the cluster it stands for (issue 12, section 8), and untrusted reasons
cannot restyle or inject into the Markdown that lands in a step summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from macmatrix import cli
from macmatrix.backends.netns.backend import unavailable
from macmatrix.spec.userinput import load_paths, resolve
from macmatrix.views import compare, mdtext, report

WHY_NOT = unavailable()
CONFIG = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "ipam": {"type": "static"}}


def nad(config: dict[str, object], name: str = "mv") -> str:
    doc = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name},
        "spec": {"config": json.dumps(config)},
    }
    return yaml.safe_dump(doc)


POD = yaml.safe_dump(
    {
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "annotations": {
                "k8s.v1.cni.cncf.io/networks": '[{"name": "mv", "ips": ["10.1.1.2/24"]}]'
            },
        },
    }
)


def test_two_nads_with_one_name_bind_the_last_applied(tmp_path: Path) -> None:
    first = {**CONFIG, "master": "eth1"}
    last = {**CONFIG, "master": "eth2"}
    p = tmp_path / "in.yaml"
    p.write_text(nad(first) + "---\n" + nad(last) + "---\n" + POD)
    (binding,) = resolve(load_paths([str(p)])).bindings
    assert binding.nad.config["master"] == "eth2"  # kubectl apply: the last one wins


@pytest.mark.parametrize("command", ["lint", "repro"])
def test_a_type_no_release_has_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    p = tmp_path / "in.yaml"
    p.write_text(nad({**CONFIG, "type": "macvlann"}) + "---\n" + POD)
    extra = ["--backend", "netns"] if command == "repro" else []
    assert cli.main([command, str(p), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'macvlann'" in err[0] and 'did you mean "macvlan"' in err[0]


@pytest.mark.skipif(bool(WHY_NOT), reason=f"netns backend unavailable: {WHY_NOT}")
@pytest.mark.netns
def test_a_known_plugin_missing_here_is_unsupported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `tap` is a containernetworking/plugins plugin since v1.3.0 (plugins/main/tap); a directory
    # with only macvlan stands for a host that has not got it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = next(
        Path(d) / "macvlan"
        for d in ("/opt/cni/bin", "/usr/lib/cni")
        if (Path(d) / "macvlan").exists()
    )
    (bin_dir / "macvlan").symlink_to(real)
    p = tmp_path / "in.yaml"
    p.write_text(nad({**CONFIG, "type": "tap"}) + "---\n" + POD)
    argv = ["repro", str(p), "--backend", "netns", "--json", "--cni-bin-dir", str(bin_dir)]
    assert cli.main(argv) == 3
    (entry,) = json.loads(capsys.readouterr().out)["cases"]
    assert entry["outcome"] == "unsupported" and "'tap'" in entry["reason"]


HOSTILE = "![x](https://tracker.example/p.png) <img src=x onerror=alert(1)> *bold* | `code`"


def test_markdown_text_is_escaped() -> None:
    out = mdtext.text(HOSTILE)
    assert "![" not in out and "<img" not in out and "*bold*" not in out
    assert "| " not in out.replace("\\| ", "") and "`code`" not in out
    assert mdtext.text("secondary_mac_honoured") == "secondary_mac_honoured"
    assert "`" not in mdtext.code("a`b")


def test_reasons_in_the_step_summary_cannot_inject(tmp_path: Path) -> None:
    doc = {
        "schema": 1,
        "stack": {"name": "netns", "backend": "netns"},
        "cases": [
            {
                "id": "c`|x",
                "axes": {},
                "outcome": "broken",
                "reason": HOSTILE,
                "pods": [],
                "checks": {},
                "attempts": 1,
                "duration_s": 0.1,
            }
        ],
    }
    md = report.render_markdown([doc])
    assert "![x](" not in md and "<img" not in md and "*bold*" not in md
    cmp = compare.diff(
        {"c": compare.Behaviour("works", {})},
        {"c": compare.Behaviour("broken", {}, HOSTILE)},
        "base",
        "head",
        {},
        {},
    )
    pr = compare.render_markdown(cmp, compare.failing_kinds(cmp, {compare.REGRESSION}))
    assert "![x](" not in pr and "<img" not in pr and "*bold*" not in pr
