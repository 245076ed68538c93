"""Multus' build recipe (backends/gobuild/multus.py) and the kube-apiserver choice of the
real-Multus tier (control_plane.apiserver_for), on made-up inputs; one real check that a pinned
go.sum line is enforced by the go command.

The real builds and runs are in e2e/test_real_multus.py (marker `apiserver`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macmatrix.backends.gobuild import control_plane, multus, toolchain
from macmatrix.errors import InfraError
from macmatrix.spec import stacks

# The shape of `go mod edit -json` output for a go.mod with replace directives (made up; the
# kinds of lines multus-cni's go.mod has at v4.1.3: path-only and versioned left sides).
GO_MOD_JSON = {
    "Module": {"Path": "example.org/upstream"},
    "Replace": [
        {
            "Old": {"Path": "k8s.io/client-go"},
            "New": {"Path": "k8s.io/client-go", "Version": "v0.1.0"},
        },
        {
            "Old": {"Path": "example.org/a", "Version": "v1.0.0"},
            "New": {"Path": "example.org/b", "Version": "v2.0.0"},
        },
    ],
}


def test_the_generated_module_requires_multus_alone() -> None:
    text = multus.generated_go_mod("v4.9.9")
    assert text.startswith("module macmatrix.local/multus\n")
    assert f"require {multus.MODULE} v4.9.9\n" in text
    assert "replace" not in text  # added at build time from Multus' own go.mod


def test_replace_directives_become_go_mod_edit_arguments() -> None:
    assert multus.replace_args(GO_MOD_JSON, "v4.9.9") == [
        "-replace=k8s.io/client-go=k8s.io/client-go@v0.1.0",
        "-replace=example.org/a@v1.0.0=example.org/b@v2.0.0",
    ]
    assert multus.replace_args({"Module": {"Path": "x"}}, "v4.9.9") == []


def test_a_directory_replacement_cannot_be_mirrored() -> None:
    doc = {"Replace": [{"Old": {"Path": "example.org/a"}, "New": {"Path": "./staging/a"}}]}
    with pytest.raises(InfraError, match=r"replaces example.org/a with the directory ./staging/a"):
        multus.replace_args(doc, "v4.9.9")


def test_go_sum_seed_pins_both_hashes_of_a_version_the_sumdb_proxy_does_not_answer() -> None:
    seed = multus.go_sum_seed("v4.2.1")
    zip_h1, mod_h1 = multus.GO_SUMS["v4.2.1"]
    assert seed.splitlines() == [
        f"{multus.MODULE} v4.2.1 {zip_h1}",
        f"{multus.MODULE} v4.2.1/go.mod {mod_h1}",
    ]
    assert all(h.startswith("h1:") and h.endswith("=") for h in (zip_h1, mod_h1))
    assert multus.go_sum_seed("v4.2.4") == ""  # checked against sum.golang.org as usual


def test_every_pinned_go_sum_is_of_a_stack_multus() -> None:
    pinned = {stacks.get(n).multus for n in stacks.stack_names()}
    assert set(multus.GO_SUMS) <= pinned


def test_a_pinned_line_that_differs_is_refused_by_the_go_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The seed is a check, not an exemption: v4.1.3 with v4.2.1's hashes is a checksum
    mismatch (the go command compares the module with go.sum before anything else). A cache of
    its own (the module comes from the Go module proxy, ~0.6 MB), so no other run sees the
    wrong go.sum."""
    if not toolchain.find_go():
        pytest.skip("no Go toolchain")
    monkeypatch.setitem(multus.GO_SUMS, "v4.1.3", multus.GO_SUMS["v4.2.1"])
    with pytest.raises(InfraError, match="checksum mismatch|SECURITY ERROR"):
        multus.download("v4.1.3", tmp_path)
    monkeypatch.undo()
    # without the wrong pin the same download verifies (against sum.golang.org's record)
    doc = multus.download("v4.1.3", tmp_path)
    assert doc["Version"] == "v4.1.3" and doc["Sum"].startswith("h1:")


def _fake_built(cache: Path, version: str) -> None:
    vdir = control_plane.version_dir(version, cache)
    (vdir / "bin").mkdir(parents=True)
    for b in control_plane.BINARIES:
        (vdir / "bin" / b).write_text("")
    (vdir / control_plane.MARKER).write_text(json.dumps({"version": version}))


def test_a_stack_whose_apiserver_the_proxy_refuses_runs_the_newest_and_says_why(
    tmp_path: Path,
) -> None:
    newest = control_plane.stack_kubernetes()
    for version, why in control_plane.REFUSED_BY_PROXY.items():
        ran, note = control_plane.apiserver_for(version, tmp_path)
        assert ran == newest != version
        assert note and version in note and newest in note and why in note
    # a buildable release is its own, and so is a refused one someone has built already
    assert control_plane.apiserver_for(newest, tmp_path) == (newest, None)
    refused = next(iter(control_plane.REFUSED_BY_PROXY))
    _fake_built(tmp_path, refused)
    assert control_plane.apiserver_for(refused, tmp_path) == (refused, None)


def test_the_plan_and_the_results_table_show_a_substituted_apiserver() -> None:
    from macmatrix.backends.multus.backend import dry_run
    from macmatrix.views.report import render_terminal

    refused = {
        n: stacks.get(n)
        for n in stacks.stack_names()
        if stacks.get(n).kubernetes in control_plane.REFUSED_BY_PROXY
    }
    if not refused:
        pytest.skip("no stack pins a Kubernetes release the proxy refuses")
    name, st = next(iter(refused.items()))
    plan = dry_run([], name)
    newest = control_plane.stack_kubernetes()
    assert f"kube-apiserver {newest}," in plan.splitlines()[0]
    assert f"the stack pins Kubernetes {st.kubernetes}" in plan.splitlines()[1]
    doc = {
        "stack": {
            "name": name,
            "backend": "multus",
            "kubernetes": f"{newest} (kube-apiserver + etcd only, no kubelet)",
            "kubernetes_in_stack": st.kubernetes,
            "apiserver_substituted": "why",
        },
        "cases": [],
    }
    lines = render_terminal(doc).splitlines()
    assert lines[1].startswith(f"! kube-apiserver {newest}, not the stack's {st.kubernetes}")
    doc["stack"]["apiserver_substituted"] = None
    assert not render_terminal(doc).splitlines()[1].startswith("!")
