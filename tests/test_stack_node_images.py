"""clusters/stacks.toml's node images against the upstream data in stack/node_images.py.

Facts encoded (each read upstream at the named ref):
- the Kubernetes each Kube-OVN line creates kind clusters with: kubeovn/kube-ovn
  yamls/kind.yaml.j2 `k8s_version` default at v1.13.15 (v1.33.2) and v1.14.41 (v1.33.7);
  makefiles/kind.mk `K8S_VERSION ?= v1.35.1` at v1.15.24 and v1.16.2.
- the digests: kubernetes-sigs/kind pkg/apis/config/defaults/image.go at 563b2102 (v1.33.2),
  ec6b5bd7 (v1.35.1) and v0.32.0 (v1.36.1, kind's default); v1.33.7 from kind v0.31.0's release
  notes (not in kind's repository: see node_images.py).
- kube-proxy ipvs: deprecated from 1.35 (a warning), default off from 1.40
  (kubernetes/enhancements KEP-5495); kind v0.32.0 accepts iptables, ipvs, nftables, none
  (pkg/internal/apis/config/validate.go).
"""

from __future__ import annotations

import re

import pytest
import yaml

from macmatrix.backends.kind.stack import node_images
from macmatrix.backends.kind.stack.plan import node_image_lines
from macmatrix.spec import stacks
from macmatrix.versions import at_least


@pytest.mark.parametrize("name", stacks.stack_names())
def test_each_stack_runs_the_kubernetes_its_kube_ovn_line_tests_on_kind(name: str) -> None:
    s = stacks.get(name)
    line = node_images.line_kubernetes(s.kube_ovn)
    assert line is not None, f"{name}: Kube-OVN {s.kube_ovn} has no upstream kind version"
    assert s.kubernetes == line[0]
    known = node_images.for_image(s.node_image)
    assert known is not None, f"{name}: {s.node_image} is not a digest kind wrote down"
    assert known.kubernetes == s.kubernetes == s.kubectl
    assert re.fullmatch(rf"kindest/node:{s.kubernetes}@sha256:[0-9a-f]{{64}}", s.node_image)
    text = "\n".join(node_image_lines(s))
    assert f"Kubernetes {s.kubernetes}" in text and line[1] in text
    assert known.digest_source in text


def test_the_defaults_keep_kinds_own_default_image() -> None:
    raw = stacks.clusters_dir() / "stacks.toml"
    import tomllib

    defaults = tomllib.loads(raw.read_text())["defaults"]
    kind_default = node_images.NODE_IMAGES["v1.36.1"]
    assert defaults["node_image"] == kind_default.image and defaults["kubectl"] == "v1.36.1"
    assert defaults["kind"] == "v0.32.0" == kind_default.base_ref


def test_digests_are_unique_and_only_one_is_outside_kinds_repository() -> None:
    digests = [n.image.split("@sha256:")[1] for n in node_images.NODE_IMAGES.values()]
    assert len(set(digests)) == len(digests)
    assert all(re.fullmatch("[0-9a-f]{64}", d) for d in digests)
    outside = [k for k, n in node_images.NODE_IMAGES.items() if not n.in_kind_repo]
    assert outside == ["v1.33.7"]  # the report says so; a better source should replace it


def test_ipvs_mode_is_accepted_by_kind_and_not_yet_off_for_any_stack() -> None:
    config = yaml.safe_load((stacks.clusters_dir() / "kind-kube-ovn.yaml").read_text())
    mode = config["networking"]["kubeProxyMode"]
    assert mode in node_images.KIND_PROXY_MODES
    for s in stacks.load().values():
        if mode == "ipvs":
            assert not at_least(s.kubernetes, node_images.IPVS_OFF_FROM), s.name
    assert node_images.ipvs_note("v1.33.7") == ""
    assert "deprecated" in node_images.ipvs_note("v1.35.1")
    assert "off by default" in node_images.ipvs_note("v1.40.0")


def test_an_unknown_image_or_line_is_said_in_the_plan() -> None:
    import dataclasses

    s = dataclasses.replace(
        stacks.get("kube-ovn-v1.16"),
        node_image="kindest/node:v1.34.0@sha256:" + "b" * 64,
    )
    text = "\n".join(node_image_lines(s))
    assert "NOT what Kube-OVN v1.16.2 tests on kind (v1.35.1" in text
    assert "digest not in node_images.py" in text
