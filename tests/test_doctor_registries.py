"""`macmatrix doctor --backend kind` probes the registries the plan's images come from.

Facts: a reference without a registry host is Docker Hub, `docker.io` (distribution/reference
normalize.go), whose registry API is registry-1.docker.io (moby/moby registry/config.go,
DefaultRegistryHost); Multus' thick image is on ghcr.io (Kube-OVN Makefile MULTUS_IMAGE).
"""

from __future__ import annotations

import threading
import urllib.error
from typing import Any

import pytest

from macmatrix.backends.kind.stack import registries
from macmatrix.spec import stacks
from macmatrix.workflows import doctor
from tests.test_doctor import probe, run


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("kindest/node:v1.35.1@sha256:" + "0" * 64, "docker.io"),
        ("docker.io/kubeovn/kube-ovn:v1.16.2", "docker.io"),
        ("ghcr.io/k8snetworkplumbingwg/multus-cni:v4.2.4-thick", "ghcr.io"),
        ("localhost:5000/x:1", "localhost:5000"),
        ("busybox", "docker.io"),
    ],
)
def test_registry_of(image: str, registry: str) -> None:
    assert registries.registry_of(image) == registry


def test_the_stacks_pull_from_docker_hub_and_ghcr() -> None:
    by = registries.registries(stacks.load().values())
    assert list(by) == ["docker.io", "ghcr.io"]
    for s in stacks.load().values():
        assert s.node_image in by["docker.io"] and s.kube_ovn_image in by["docker.io"]
        assert s.multus_image in by["ghcr.io"]
    assert registries.API_HOST["docker.io"] == "registry-1.docker.io"


def test_each_registry_is_one_line_and_a_dead_one_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out = run(capsys, ["--backend", "kind"], probe())
    assert rc == 0
    assert (
        "ok   registry docker.io: registry-1.docker.io answers (docker.io/kubeovn/kube-ovn" in out
    )
    assert "ok   registry ghcr.io: ghcr.io answers (ghcr.io/k8snetworkplumbingwg/multus-cni)" in out
    dead = probe(registry=lambda r: "https://ghcr.io/v2/: refused" if r == "ghcr.io" else None)
    rc, out = run(capsys, ["--backend", "kind"], dead)
    assert rc == 3
    assert "FAIL registry ghcr.io: https://ghcr.io/v2/: refused (needed for" in out
    assert "fix: the run pulls 4 image(s) from ghcr.io; allow https to ghcr.io" in out


def test_a_hanging_registry_is_reported_at_the_deadline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def hangs(name: str) -> str | None:
        if name == "docker.io":
            release.wait(30)  # a name lookup that never returns
        return None

    monkeypatch.setattr(registries, "ALL_PROBES_S", 0.3)
    try:
        rc, out = run(capsys, ["--backend", "kind"], probe(registry=hangs))
    finally:
        release.set()
    assert rc == 3
    assert "FAIL registry docker.io: no answer within 0.3s (needed for" in out
    assert "ok   registry ghcr.io" in out


def test_probe_takes_any_http_answer_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def unauthorized(url: str, timeout: float = 0) -> Any:
        seen.append(url)
        raise urllib.error.HTTPError(url, 401, "Unauthorized", {}, None)  # type: ignore[arg-type]

    monkeypatch.setattr(registries.urllib.request, "urlopen", unauthorized)
    assert registries.probe("docker.io") is None
    assert seen == ["https://registry-1.docker.io/v2/"]

    def offline(url: str, timeout: float = 0) -> Any:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(registries.urllib.request, "urlopen", offline)
    assert registries.probe("ghcr.io") == "https://ghcr.io/v2/: Name or service not known"
    assert doctor.Probe().registry is None  # the real probe is the default
