"""Image pre-loads and the host's /usr/local/bin in the kind plan, for every stack.

Upstream facts encoded here (kubeovn/kube-ovn at v1.13.15, v1.14.41, v1.15.24, v1.16.2):
- dist/images/install.sh: REGISTRY="docker.io/kubeovn"; every default workload's image is
  "$REGISTRY/kube-ovn:$VERSION" (VERSION = the tag); vpc-nat-gateway only sits in a ConfigMap.
- Makefile: MULTUS_IMAGE = ghcr.io/k8snetworkplumbingwg/multus-cni:$(MULTUS_VERSION)-thick, and
  kind.mk (makefiles/kind.mk from v1.15) loads both into kind before installing.
- install.sh's [Step 6/6] copies kubectl-ko into /usr/local/bin on the machine that runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from machine_guard import forbid_machine

from macmatrix.backends.kind.backend import dry_run
from macmatrix.backends.kind.stack import images, upgrade
from macmatrix.spec import cases, stacks

CASES = cases.load(cases.default_matrix_path())[:3]


@pytest.fixture(autouse=True)
def no_side_effects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return forbid_machine(monkeypatch, tmp_path, "dry run")


@pytest.mark.parametrize("name", stacks.stack_names())
def test_preloads_are_the_stacks_upstream_images(name: str) -> None:
    s = stacks.get(name)
    got = [(p.phase, p.image) for p in images.preloads(s)]
    assert got == [
        ("kube-ovn", f"docker.io/kubeovn/kube-ovn:{s.kube_ovn}"),
        ("multus", f"ghcr.io/k8snetworkplumbingwg/multus-cni:{s.multus}-thick"),
    ]
    # the pod image is Kube-OVN's: loaded once, with Kube-OVN
    assert s.pod_image == s.kube_ovn_image == got[0][1]
    assert s.multus_image == got[1][1]
    assert all(p.source for p in images.preloads(s))
    assert not any("vpc-nat-gateway" in p.image for p in images.preloads(s))


@pytest.mark.parametrize("name", stacks.stack_names())
def test_plan_pulls_and_loads_every_image_before_its_install(name: str) -> None:
    s = stacks.get(name)
    text = dry_run(CASES, name)
    c = s.cluster_name()
    for image, before in (
        (s.kube_ovn_image, "$ bash "),
        (s.multus_image, f"multus-daemonset-thick-{s.multus}.yml = "),
    ):
        pull = text.index(f"$ docker pull {image}")
        load = text.index(f"load docker-image --name {c} {image}")
        assert pull < load < text.index(before), image
    assert "if the host has" not in text  # images are pulled, not only loaded when present


def _commands_and_env(text: str) -> list[str]:
    """The lines of a plan that run something or set its environment."""
    return [
        line
        for line in text.splitlines()
        if line.lstrip().startswith(("$ ", "env ")) and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("name", stacks.stack_names())
def test_the_plan_never_targets_the_hosts_usr_local_bin(name: str) -> None:
    text = dry_run(CASES, name)
    runs = _commands_and_env(text)
    assert any("$ bash " in line for line in runs)
    assert not [line for line in runs if "/usr/local/bin" in line]
    assert "/usr/local/bin/kubectl-ko -> " in text  # and the plan says where it goes instead


def test_the_upgrade_plan_never_targets_the_hosts_usr_local_bin() -> None:
    names = stacks.stack_names()
    for old, new in zip(names, names[1:], strict=False):
        text = upgrade.render(upgrade.plan(stacks.get(old), stacks.get(new)), CASES)
        runs = _commands_and_env(text)
        assert sum("$ bash " in line for line in runs) == 2, (old, new)
        assert not [line for line in runs if "/usr/local/bin" in line], (old, new)
        assert f"$ docker pull {stacks.get(new).kube_ovn_image}" in text


def test_pull_progress_echoes_summaries_not_layer_ticks() -> None:
    from macmatrix.backends.kind.stack.cluster import pull_progress_line

    shown = [
        "v1.14.41: Pulling from kubeovn/kube-ovn",
        "4f4fb700ef54: Pull complete",
        "a1b2c3d4e5f6: Already exists",
        "Digest: sha256:0123",
        "Status: Downloaded newer image for kubeovn/kube-ovn:v1.14.41",
    ]
    hidden = ["4f4fb700ef54: Downloading  12.3MB/40MB", "4f4fb700ef54: Extracting", ""]
    assert [line for line in shown + hidden if pull_progress_line(line)] == shown
