"""clusters/stacks.toml: the named stacks, their pins, the URLs derived from them, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix.errors import BadInput
from macmatrix.spec import stacks

# What UPSTREAM.md says each line pins (Kube-OVN tag -> Multus tag Kube-OVN's Makefile pins,
# CNI plugins release in Kube-OVN's Dockerfile.base).
EXPECTED = {
    "kube-ovn-v1.13": ("v1.13.15", "v4.1.3", "v1.6.2"),
    "kube-ovn-v1.14": ("v1.14.41", "v4.2.1", "v1.9.0"),
    "kube-ovn-v1.15": ("v1.15.24", "v4.2.3", "v1.9.1"),
    "kube-ovn-v1.16": ("v1.16.2", "v4.2.4", "v1.9.1"),
}


def test_repo_stacks_match_upstream_pins() -> None:
    loaded = stacks.load()
    assert stacks.stack_names() == list(EXPECTED)
    for name, (kube_ovn, multus, plugins) in EXPECTED.items():
        s = loaded[name]
        assert (s.kube_ovn, s.multus, s.cni_plugins) == (kube_ovn, multus, plugins)
        assert s.kind == "v0.32.0"
        assert s.node_image.startswith(f"kindest/node:{s.kubernetes}@sha256:")
        assert s.kubernetes == s.kubectl  # tests/test_stack_node_images.py checks which one
        assert s.config_path().is_file()


def test_clusters_dir_is_beside_the_package() -> None:
    import macmatrix

    assert stacks.clusters_dir() == Path(macmatrix.__file__).resolve().parents[1] / "clusters"


def test_urls_and_images_follow_the_pins() -> None:
    s = stacks.get("kube-ovn-v1.14")
    assert s.kind_url("linux", "amd64") == (
        "https://github.com/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-amd64"
    )
    assert (
        s.kubectl_url("darwin", "arm64")
        == "https://dl.k8s.io/release/v1.33.7/bin/darwin/arm64/kubectl"
    )
    assert s.install_sh_url.endswith("/kubeovn/kube-ovn/v1.14.41/dist/images/install.sh")
    assert s.multus_yaml_url.endswith("/multus-cni/v4.2.1/deployments/multus-daemonset-thick.yml")
    assert s.cni_plugins_url("arm64").endswith("/v1.9.0/cni-plugins-linux-arm64-v1.9.0.tgz")
    assert s.kube_ovn_image == "docker.io/kubeovn/kube-ovn:v1.14.41"
    assert s.multus_image == "ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.1-thick"
    assert s.pod_image == s.kube_ovn_image
    assert len(set(s.downloads())) == 5
    assert s.cluster_name() == "mm-kube-ovn-v1-14"


def test_stack_dict_has_the_results_keys() -> None:
    d = stacks.get("kube-ovn-v1.16").as_stack_dict()
    for key in ("backend", "name", "kube_ovn", "multus", "cni_plugins", "kubernetes", "kind"):
        assert d[key]
    assert d["backend"] == "kind" and d["kube_ovn"] == "v1.16.2"


def test_unknown_and_missing_stack_names_are_bad_input() -> None:
    with pytest.raises(
        BadInput, match=r"--stack: unknown stack 'kube-ovn-v9'; use one of: kube-ovn-v1.13"
    ):
        stacks.get("kube-ovn-v9")
    with pytest.raises(BadInput, match="required with --backend kind"):
        stacks.get("")


GOOD = """
[defaults]
kind = "v0.32.0"
node_image = "kindest/node:v1.36.1@sha256:{d}"
kubectl = "v1.36.1"
cluster_config = "kind-kube-ovn.yaml"
[stacks."x"]
kube_ovn = "v1.14.41"
multus = "v4.2.1"
cni_plugins = "v1.9.0"
""".replace("{d}", "a" * 64)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('multus = "v4.2.1"\n', ""), "lacks multus"),
        (('kind = "v0.32.0"', 'kind = "v0.29.0"'), "use kind v0.32.0 or newer"),
        (("@sha256:" + "a" * 64, ""), "not pinned by digest"),
        (('cni_plugins = "v1.9.0"', 'cni_plugins = "latest"'), "write a tag like v1.2.3"),
        (('kubectl = "v1.36.1"', 'kubectl = "v1.34.0"'), 'more than one minor .* "v1.36.1"'),
        (('kubectl = "v1.36.1"', 'kubectl = "v1.35.3"'), None),
        (('cni_plugins = "v1.9.0"', 'cni_plugins = "v1.9.0"\ncolour = "red"'), "unknown key"),
        (("[stacks", "[stacks"), None),
    ],
)
def test_bad_stacks_files_name_the_field(
    tmp_path: Path, edit: tuple[str, str], message: str | None
) -> None:
    path = tmp_path / "stacks.toml"
    path.write_text(GOOD.replace(*edit))
    if message is None:
        assert list(stacks.load(path)) == ["x"]
        return
    with pytest.raises(BadInput, match=message) as e:
        stacks.load(path)
    assert "\n" not in str(e.value)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        stacks.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[stacks\n")
    with pytest.raises(BadInput, match="not valid TOML"):
        stacks.load(bad)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[stacks]\nfoo = "x"\n', "stacks.foo must be a table"),
        ('defaults = "x"\n[stacks."y"]\nkube_ovn = "v1.14.41"\n', r"\[defaults\] must be a table"),
    ],
)
def test_a_stack_or_defaults_that_is_not_a_table_is_bad_input(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "stacks.toml"
    path.write_text(text)  # once a TypeError traceback from {**defaults, **entry}
    with pytest.raises(BadInput, match=message) as e:
        stacks.load(path)
    assert "\n" not in str(e.value)
