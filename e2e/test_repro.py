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

from macmatrix import data, macs, versions
from macmatrix.spec.userinput import load_paths, resolve

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


def _run(
    name: str,
    prefixes: list[str] | None = None,
    substitute: bool = True,
    path: Path | None = None,
) -> dict[str, Any]:
    """Repro one corpus input (or `path`); `prefixes` collects the namespace prefix of the run
    it made. `substitute`: IPAM substitution on (the default) or off (--no-substitute)."""
    from macmatrix.backends.netns import runs
    from macmatrix.workflows import repro

    register = runs.register

    def recorded(run_id: str, prefix: str, *args: Any, **kw: Any) -> runs.RunRecord:
        if prefixes is not None:
            prefixes.append(prefix)
        return register(run_id, prefix, *args, **kw)

    request = resolve(load_paths([str(path or DATA / "corpus" / name)]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "register", recorded)
        return repro.run(request, "netns", substitute=substitute)


def _leftovers(prefixes: list[str]) -> list[str]:
    """This test's own namespaces that still exist (other runs on the host are not ours)."""
    from macmatrix.backends.netns.backend import leftover_namespaces

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
    subs = {
        s["network"]: f"{s['replaced']['type']} -> {s['address']}"
        for s in entry["ipam_substituted"]
    }
    assert subs == (want.get("ipam_substituted") or {})
    if subs:  # what only the real IPAM decides is listed as not judged, never as a check
        assert entry["not_judged"] and not any("kubeovn" in n for n in entry["checks"])
    # everything the repro created is gone again
    # the repro and each fix-search worker: every run it made, none left
    assert prefixes and _leftovers(prefixes) == []


SUBSTITUTED = sorted(n for n in CASES if CORPUS[n]["repro"].get("ipam_substituted"))


@pytest.mark.parametrize("name", SUBSTITUTED)
def test_no_substitute_keeps_the_old_answer(name: str) -> None:
    want = CORPUS[name]["repro"]["no_substitute"]
    entry = _run(name, substitute=False)
    assert entry["outcome"] == want["outcome"], entry["reason"]
    assert want["reason"] in entry["reason"]
    assert entry["ipam_substituted"] == [] and entry["not_judged"] == []


def _static_twin(name: str, entry: dict[str, Any], tmp_path: Path) -> Path:
    """The same paste with each substituted IPAM rewritten by hand to static IPAM (in the YAML,
    not through macmatrix), so the twin runs with substitution off."""
    by_network = {s["network"]: s for s in entry["ipam_substituted"]}
    docs = list(yaml.safe_load_all((DATA / "corpus" / name).read_text()))
    for doc in docs:
        if not isinstance(doc, dict) or doc.get("kind") != "NetworkAttachmentDefinition":
            continue
        meta = doc["metadata"]
        sub = by_network.get(f"{meta.get('namespace', 'default')}/{meta['name']}")
        if sub is None:
            continue
        config = json.loads(doc["spec"]["config"])
        plugins = config.get("plugins", [config])
        for plugin in plugins:
            if isinstance(plugin.get("ipam"), dict):
                assert plugin["ipam"]["type"] == sub["replaced"]["type"]
                addresses = [{"address": a} for a in sub["address"].split(",")]
                plugin["ipam"] = {"type": "static", "addresses": addresses}
        doc["spec"]["config"] = json.dumps(config)
    out = tmp_path / f"static-{name}"
    out.write_text(yaml.safe_dump_all(docs))
    return out


@pytest.mark.parametrize("name", SUBSTITUTED)
def test_substituted_net1_mac_is_what_the_plugins_give_with_static_ipam(
    name: str, tmp_path: Path
) -> None:
    """Issue 15: the MAC of a substituted run equals the MAC of the same input written with
    static IPAM: the same MAC channels reach macvlan/tuning, and the kernel shows the same
    answer (the requested MAC in both, or a random one in both)."""
    entry = _run(name)
    twin = _run(name, substitute=False, path=_static_twin(name, entry, tmp_path))
    assert twin["ipam_substituted"] == []
    rows = {r["ifname"]: r for r in entry["interfaces"] if r["network"].count("/") == 1}
    twin_rows = {r["ifname"]: r for r in twin["interfaces"] if r["network"].count("/") == 1}
    assert rows.keys() == twin_rows.keys() and "net1" in rows
    for ifname, row in rows.items():
        other = twin_rows[ifname]
        assert row["told"] == other["told"], (row, other)  # every MAC channel, identical
        assert row["requested"] == other["requested"]
        if row["requested"] and row["kernel"] == row["requested"]:
            assert other["kernel"] == row["kernel"]
        else:  # random: the kernel picked one in both runs, never the requested one
            assert row["kernel"] and other["kernel"]
            assert row["requested"] not in (row["kernel"], other["kernel"])
        assert other["status"] == other["kernel"] and row["status"] == row["kernel"]
    assert entry["outcome"] == twin["outcome"]


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
    jsonschema = pytest.importorskip("jsonschema", reason="the dev extra validates the entry")
    defs = data.schema("results")["$defs"]
    jsonschema.validate(case, {"$ref": "#/$defs/case", "$defs": defs})  # shaped like results.json
    # --json carries every candidate of the fix search with its outcome
    assert case["fix"]["best"]["remedies"] == ["move-annotation-mac"]
    assert {t["outcome"] for t in case["fix"]["tried"]} <= {"works", "broken"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "annotation MAC NOT applied" in proc.stdout
    assert "provider-annotation-mac" in proc.stdout
    assert "#### Verified fix" in proc.stdout and "```diff" in proc.stdout
    assert "verified on netns with containernetworking-plugins" in proc.stdout
    proc = subprocess.run([*cmd, "--no-fix"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Verified fix" not in proc.stdout


FIXABLE = sorted(n for n in CASES if "fix" in CORPUS[n]["repro"])


@pytest.mark.parametrize("name", FIXABLE)
def test_verified_fix_applies_as_a_diff_and_repro_then_works(name: str, tmp_path: Path) -> None:
    """Issue 11: each input that is not works gets a verified fix or an explicit "none found";
    the found fix's diff, applied to the user's file with patch(1), gives the apply-ready YAML,
    and repro of that file works while asking for the same MACs."""
    entry = _run(name)
    want = _expectation(CORPUS[name], entry["stack"].get("cni_plugins"))
    fix = entry["fix"]
    if want.get("fix") is None:  # e.g. newer plugins: nothing to fix
        assert fix["searched"] is False
        return
    assert fix["searched"] and fix["tried"], fix
    assert all(t["outcome"] for t in fix["tried"])
    best = fix["best"]
    if not want["fix"]:
        assert best is None and not any(t["works"] for t in fix["tried"])
        return
    assert best["remedies"] == want["fix"] and best["works"], best
    user_file = tmp_path / name
    user_file.write_text((DATA / "corpus" / name).read_text())
    assert best["diff_of"] == str(DATA / "corpus" / name)  # the user's own file, not a re-dump
    diff = tmp_path / "fix.diff"
    diff.write_text(best["diff"])
    proc = subprocess.run(
        ["patch", "--batch", "-p1", "-i", str(diff), str(user_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert user_file.read_text() == best["yaml"]
    again = _run(name, path=user_file)
    assert again["outcome"] == "works", again["reason"]
    assert again["fix"] == {"searched": False, "why": "nothing to fix"}
    assert not [f for f in again["lint"] if f["level"] == "error"]
    before = [r["requested"] for r in entry["interfaces"] if r["route"] != "ovn"]
    after = [r["requested"] for r in again["interfaces"] if r["route"] != "ovn"]
    changes_mac = any(r in ("valid-unicast-mac", "rename-element-key") for r in best["remedies"])
    assert after == before or changes_mac
    assert all(r["kernel"] == r["requested"] for r in again["interfaces"] if r["requested"]
               and r["route"] != "ovn")  # fmt: skip


def test_no_fix_skips_the_search() -> None:
    from macmatrix.workflows import repro

    request = resolve(load_paths([str(DATA / "corpus" / "issue-4834-host-local.yaml")]))
    entry = repro.run(request, "netns", fix=False)
    assert entry["outcome"] == "broken" and entry["fix"] == {"searched": False, "why": "--no-fix"}
