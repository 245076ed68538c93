"""`macmatrix repro` on the netns backend with the real CNI plugins, over the input corpus.

Each corpus input with a `repro` expectation (tests/data/corpus.yaml) runs exactly as pasted; the
outcome and, per interface, the kernel / network-status MACs must match what upstream behaviour
predicts for the plugins found here. Needs root and the plugins in /usr/lib/cni or /opt/cni/bin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from macmatrix import macs, versions
from macmatrix.userinput import load_paths, resolve

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CORPUS = yaml.safe_load((DATA / "corpus.yaml").read_text())["corpus"]
BIN_DIRS = ("/opt/cni/bin", "/usr/lib/cni")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "netns repro needs root to create network namespaces"
    if not any((Path(d) / "macvlan").exists() for d in BIN_DIRS):
        return f"no CNI plugins (macvlan) in {' or '.join(BIN_DIRS)}"
    return None


pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(_why_not() is not None, reason=_why_not() or ""),
]

CASES = sorted(name for name, spec in CORPUS.items() if "repro" in spec)


def _expectation(spec: dict[str, Any], plugins: str | None) -> dict[str, Any]:
    """The repro expectation, switched by `plugins_at_least` for the plugins in use."""
    want = dict(spec["repro"])
    for minimum, override in (want.pop("plugins_at_least", None) or {}).items():
        if versions.at_least(plugins, minimum, unknown=False):
            want.update(override)
    return want


def _run(name: str, prefixes: list[str] | None = None) -> dict[str, Any]:
    """Repro one corpus input; `prefixes` collects the namespace prefix of the run it made."""
    from macmatrix import repro
    from macmatrix.backends import runs

    register = runs.register

    def recorded(run_id: str, prefix: str, *args: Any, **kw: Any) -> runs.RunRecord:
        if prefixes is not None:
            prefixes.append(prefix)
        return register(run_id, prefix, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "register", recorded)
        return repro.run(resolve(load_paths([str(DATA / "corpus" / name)])), "netns")


def _leftovers(prefixes: list[str]) -> list[str]:
    """This test's own namespaces that still exist (other runs on the host are not ours)."""
    from macmatrix.backends.netns import leftover_namespaces

    return [n for p in prefixes for n in leftover_namespaces(p)]


@pytest.mark.parametrize("name", CASES)
def test_corpus_repro(name: str) -> None:
    prefixes: list[str] = []
    entry = _run(name, prefixes)
    want = _expectation(CORPUS[name], entry["stack"].get("cni_plugins"))
    assert entry["outcome"] == want["outcome"], entry["reason"]
    if "reason" in want:
        assert want["reason"] in entry["reason"]
    failing = sorted(n for n, c in entry["checks"].items() if not c["ok"])
    if "failing" in want:
        assert failing == sorted(want["failing"])
    elif want["outcome"] == "works":
        assert failing == []
    rows = {r["ifname"]: r for r in entry["interfaces"]}
    for ifname, exp in (want.get("interfaces") or {}).items():
        row = rows[ifname]
        assert row["route"] == exp["route"], row
        if exp["kernel"] == "requested":
            assert row["kernel"] == row["requested"] is not None, row
        elif exp["kernel"] == "random":
            assert row["kernel"] is not None and row["kernel"] != row["requested"], row
            assert not int(row["kernel"][:2], 16) & 1, "the kernel's own MAC is unicast"
        else:
            assert row["kernel"] is None, row
        if exp["status"] == "kernel":
            assert row["status"] == row["kernel"] is not None, row
        else:
            assert row["status"] is None, row
        if "status_raw" in exp:  # network-status carries the string as the plugin wrote it
            assert row["status_raw"] == exp["status_raw"], row
    if "invocations" in want:
        assert len(entry["pods"][0]["invocations"]) == want["invocations"]
    # everything the repro created is gone again
    assert len(prefixes) == 1 and _leftovers(prefixes) == []


def test_plugins_received_the_users_config_and_multus_args() -> None:
    entry = _run("multus-macvlan-tuning.yaml")
    calls = entry["pods"][0]["invocations"]
    assert [(c["command"], c["plugin"]) for c in calls] == [
        ("ADD", "macvlan"),
        ("ADD", "tuning"),
        ("DEL", "tuning"),
        ("DEL", "macvlan"),
    ]
    macvlan, tuning = calls[0], calls[1]
    # macvlan declares only the ips capability: no runtimeConfig.mac; tuning gets it
    assert macvlan["stdin"]["runtimeConfig"] == {"ips": ["10.1.1.101/24"]}
    assert tuning["stdin"]["runtimeConfig"] == {"mac": "c2:b0:57:49:47:f1"}
    assert tuning["stdin"]["prevResult"]["interfaces"][0]["name"] == "net1"
    for c in (macvlan, tuning):
        assert c["cni_args"].startswith("IgnoreUnknown=true;K8S_POD_NAMESPACE=default;")
        assert c["cni_args"].endswith(";MAC=c2:b0:57:49:47:f1;IP=10.1.1.101/24")
        assert c["stdin"]["name"] == "macvlan-tuned-net" and c["stdin"]["cniVersion"] == "0.3.1"
    assert macs.normalise(entry["pods"][0]["interfaces"]["net1"]) == "c2:b0:57:49:47:f1"


def test_cli_end_to_end_json_and_markdown() -> None:
    path = str(DATA / "corpus" / "issue-4834-host-local.yaml")
    cmd = [sys.executable, "-m", "macmatrix.cli", "repro", path, "--backend", "netns"]
    proc = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    (case,) = json.loads(proc.stdout)["cases"]
    assert case["id"] == "repro/macvlan" and case["outcome"] == "broken"
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "annotation MAC NOT applied" in proc.stdout
    assert "provider-annotation-mac" in proc.stdout
