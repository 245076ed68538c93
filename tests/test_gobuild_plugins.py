"""Choosing and building a CNI plugins release (go install of the official module, cached).

The choice logic runs against a temporary cache with Go present or hidden; the real build test
builds (or finds cached) the oldest stack's release with the machine's Go toolchain.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from macmatrix.backends import plugin_binaries
from macmatrix.backends.gobuild import cni_plugins, toolchain
from macmatrix.errors import BadInput, InfraError


def fake_cache(tmp_path: Path, version: str) -> Path:
    """A cache holding an (empty) build of `version`: enough for the cache check, not to run."""
    vdir = cni_plugins.version_dir(version, tmp_path)
    (vdir / "bin").mkdir(parents=True)
    for name in cni_plugins.binaries():
        (vdir / "bin" / name).write_text("")
    marker = {"version": version, "packages": list(cni_plugins.PACKAGES)}
    (vdir / cni_plugins.MARKER).write_text(json.dumps(marker))
    return tmp_path


def no_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain, "find_go", lambda: None)


@pytest.mark.parametrize("bad", ["1.6.2", "v1.6", "latest", "v1.6.2; rm -rf /", ""])
def test_a_version_must_be_a_release_tag(bad: str) -> None:
    with pytest.raises(BadInput, match=r"^--plugins: .* write a tag like v1\.6\.2"):
        cni_plugins.check_version(bad)


def test_plugins_and_a_bin_dir_together_are_bad_usage(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="either --plugins or --cni-bin-dir"):
        cni_plugins.choose("v1.6.2", None, ["/opt/cni/bin"], cache=tmp_path)


def test_debian_picks_usr_lib_cni_and_keeps_the_netns_name(tmp_path: Path) -> None:
    c = cni_plugins.choose("debian", None, None, cache=tmp_path)
    assert c.bin_dirs == ["/usr/lib/cni"] and c.label == "netns"


def test_no_options_keep_the_default_search_path(tmp_path: Path) -> None:
    c = cni_plugins.choose(None, None, None, cache=tmp_path)
    assert c.bin_dirs is None and c.label == "netns"


def test_a_cached_version_needs_no_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_go(monkeypatch)
    cache = fake_cache(tmp_path, "v1.6.2")
    c = cni_plugins.choose("v1.6.2", None, None, cache=cache)
    assert c.bin_dirs == [str(cache / "cni-plugins" / "v1.6.2" / "bin")]
    assert c.label == "plugins-v1.6.2"


def test_a_stack_without_go_says_so_in_one_line_and_runs_debian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_go(monkeypatch)
    said: list[str] = []
    c = cni_plugins.choose(None, "kube-ovn-v1.13", None, cache=tmp_path, say=said.append)
    assert c.bin_dirs == ["/usr/lib/cni"] and c.label == "netns"
    assert c.notes == {"plugins_for_stack": "kube-ovn-v1.13"}
    assert len(said) == 1 and "no Go toolchain" in said[0] and "v1.6.2" in said[0]


def test_an_explicit_version_without_go_is_an_infra_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_go(monkeypatch)
    with pytest.raises(InfraError, match=r"no Go toolchain .* use --plugins debian"):
        cni_plugins.choose("v1.6.2", None, None, cache=tmp_path)


def test_a_stack_picks_its_own_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_go(monkeypatch)
    cache = fake_cache(tmp_path, "v1.9.0")
    c = cni_plugins.choose(None, "kube-ovn-v1.14", None, cache=cache)
    assert c.label == "plugins-v1.9.0" and c.notes == {"plugins_for_stack": "kube-ovn-v1.14"}
    with pytest.raises(BadInput, match="--stack: unknown stack"):
        cni_plugins.choose(None, "kube-ovn-v0.1", None, cache=cache)


def test_a_missing_plugin_means_not_cached(tmp_path: Path) -> None:
    cache = fake_cache(tmp_path, "v1.6.2")
    assert cni_plugins.cached("v1.6.2", cache)
    (cni_plugins.bin_dir("v1.6.2", cache) / "tuning").unlink()
    assert not cni_plugins.cached("v1.6.2", cache)


def test_every_stack_version_is_listed_once_oldest_first() -> None:
    from macmatrix.spec import stacks

    listed = cni_plugins.stack_versions()
    assert sorted(set(listed)) == sorted({s.cni_plugins for s in stacks.load().values()})
    assert len(listed) == len(set(listed))


def test_go_failure_is_an_infra_error_with_gos_words(tmp_path: Path) -> None:
    go = toolchain.find_go()
    if not go:
        pytest.skip("no Go toolchain on this machine")
    env = toolchain.go_env(tmp_path)
    env["GOPROXY"] = "off"  # nothing can be fetched: fails fast and offline
    with pytest.raises(InfraError, match=r"failed \(exit 1\): .*github.com/containernetworking"):
        toolchain.run_go(
            cni_plugins.install_argv(go, "v0.0.1"), env, "go install", 60, lambda s: None, tmp_path
        )


def test_the_real_build_of_the_oldest_stack_release() -> None:
    """Builds it once into the cache (later runs find it), then asks the binaries what they are."""
    version = cni_plugins.stack_versions()[0]
    if not cni_plugins.cached(version) and not toolchain.find_go():
        pytest.skip(f"no Go toolchain and plugins {version} not cached")
    said: list[str] = []
    bin_dir = cni_plugins.ensure(version, say=said.append)
    assert sorted(p.name for p in bin_dir.iterdir()) == sorted(cni_plugins.binaries())
    info = plugin_binaries.describe([str(bin_dir)])
    assert info["cni_plugins"] == version
    assert info["cni_plugins_source"].endswith(f"plugins@{version}")
    assert info["cni_plugins_module_sum"].startswith("h1:")
    assert "1.1.0" in info["cni_supported_versions"]  # every stack release is >= v1.2.0
    assert plugin_binaries.about_version(bin_dir / "tuning") == version


def test_debian_plugins_describe_themselves() -> None:
    if not Path("/usr/lib/cni/macvlan").exists():
        pytest.skip("Debian's containernetworking-plugins is not installed")
    info = plugin_binaries.describe(["/usr/lib/cni"])
    assert info["cni_plugins_source"].startswith("debian package containernetworking-plugins")
    assert info["cni_plugins"].startswith("v") and info["cni_supported_versions"]
