"""The --dry-run plan for every stack: complete (kind config, every command in order, every
manifest), faithful to UPSTREAM.md's Kube-OVN-on-kind flow, and free of side effects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from machine_guard import forbid_machine

from macmatrix.backends.kind.backend import dry_run
from macmatrix.backends.kind.kube.matrix import WAVE_PODS, plan_waves
from macmatrix.backends.kind.stack.plan import api_calls
from macmatrix.build import manifests
from macmatrix.errors import BadInput
from macmatrix.spec import cases, stacks

CASES = cases.load(cases.default_matrix_path())


@pytest.fixture(autouse=True)
def no_side_effects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Any process, download or connection in a dry run fails the test; the cache stays empty."""
    return forbid_machine(monkeypatch, tmp_path, "dry run")


def _order(text: str, *needles: str) -> list[int]:
    return [text.index(n) for n in needles]


@pytest.mark.parametrize("name", stacks.stack_names())
def test_plan_for_every_stack(name: str, no_side_effects: Path, tmp_path: Path) -> None:
    s = stacks.get(name)
    text = dry_run(CASES, name)
    assert not no_side_effects.exists()
    # pinned versions and every download
    for value in (s.kube_ovn, s.multus, s.cni_plugins, s.kind, s.node_image, s.kubectl):
        assert value in text
    for url in s.downloads():
        assert f"GET {url}" in text
    # the kind config, verbatim
    assert "disableDefaultCNI: true" in text and "kubeProxyMode: ipvs" in text
    assert "podSubnet: 10.16.0.0/16" in text and "serviceSubnet: 10.96.0.0/12" in text
    # UPSTREAM.md's flow, in order: cluster, Kube-OVN install.sh, Multus thick + rollout,
    # static + tuning into every node, the second Docker network, the matrix, teardown
    positions = _order(
        text,
        f"create cluster --name={s.cluster_name()}",
        f"load docker-image --name {s.cluster_name()} {s.kube_ovn_image}",
        "$ bash ",
        f"':snapshot-thick' -> ':{s.multus}-thick'",
        "rollout status ds/kube-multus-ds",
        f"{s.cluster_name()}-worker:/opt/cni/bin/tuning",
        f"docker network create --driver bridge {s.cluster_name()}-macvlan",
        "## 7. the matrix",
        f"delete cluster --name={s.cluster_name()}",
    )
    assert positions == sorted(positions)
    assert f"--image={s.node_image}" in text
    assert "KUBECONFIG=" in text and "success = readiness, not the exit code" in text
    # bridge, static and tuning (stack/inventory.py: neither kind nor Kube-OVN ship them)
    for node in (f"{s.cluster_name()}-control-plane", f"{s.cluster_name()}-worker"):
        for plugin in ("bridge", "static", "tuning"):
            assert f"{node}:/opt/cni/bin/{plugin}" in text
    assert text.count("docker cp ") == 6
    # Done-when of issue 9: node image + its Kubernetes per the upstream line, each node's
    # plugins, and how each download is verified (stack/node_images.py, inventory.py, checksums.py)
    assert f"# node image {s.node_image}: Kubernetes {s.kubernetes}" in text
    assert f"what Kube-OVN {s.kube_ovn} tests on kind" in text
    assert "static       copied by macmatrix" in text and "tuning       copied by macmatrix" in text
    assert "bridge       copied by macmatrix" in text
    for url in (s.kind_url(), s.kubectl_url(), s.cni_plugins_url()):
        assert f"GET {url}.sha256" in text  # .sha256sum for kind


def test_plan_lists_every_manifest_of_the_matrix() -> None:
    text = dry_run(CASES, "kube-ovn-v1.14")
    docs = [d for d in yaml.safe_load_all(_manifest_part(text)) if d]
    kinds = [d["kind"] for d in docs]
    assert kinds.count("NetworkAttachmentDefinition") == len(CASES)
    assert kinds.count("Pod") == sum(c.n_replicas for c in CASES)
    assert kinds.count("Subnet") == sum(1 for c in CASES if c.ipam == "kube-ovn")
    for d in docs:
        if d["kind"] == "Pod":
            assert d["spec"]["containers"][0]["image"] == "docker.io/kubeovn/kube-ovn:v1.14.41"
        if d["kind"] == "Subnet":
            assert not d["spec"]["provider"].endswith(".ovn")  # IPAM-only provider: <nad>.<ns>
    for c in CASES:
        assert f"### {c.id}\n" in text
        assert manifests.nad_name(c) in text


def _manifest_part(text: str) -> str:
    """The YAML of every `### <case id>` section, joined into one multi-document stream."""
    body = text.split("## 7. the matrix", 1)[1].split("\n## 8. teardown", 1)[0]
    sections = body.split("\n### ")[1:]
    return "\n---\n".join(section.split("\n", 1)[1] for section in sections)


def test_plan_states_the_design_numbers() -> None:
    some = CASES[:10]
    calls = api_calls(some)
    pods = sum(c.n_replicas for c in some)
    assert calls["waves"] == len(plan_waves(some, WAVE_PODS))
    assert calls["pod_creates"] == pods and calls["execs"] == 2 * pods
    text = dry_run(some, "kube-ovn-v1.15")
    assert f"{len(some)} case(s), {pods} pod(s), {calls['waves']} wave(s)" in text
    # linear in cases: doubling the cases doubles the per-case calls
    twice = api_calls(some + some)
    assert twice["pod_creates"] == 2 * calls["pod_creates"]


def test_existing_cluster_plan_creates_and_installs_nothing(tmp_path: Path) -> None:
    text = dry_run(CASES[:2], "kube-ovn-v1.16", kubeconfig=str(tmp_path / "kc"))
    assert "existing, from --kubeconfig" in text
    for absent in (
        "create cluster",
        "install.sh\n",
        "docker cp",
        "delete cluster",
        "kubectl apply",
    ):
        assert absent not in text


def test_unknown_stack_is_bad_input() -> None:
    with pytest.raises(BadInput, match="unknown stack 'v1.99'"):
        dry_run(CASES[:1], "v1.99")
