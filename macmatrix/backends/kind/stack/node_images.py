"""kind node images per stack: the Kubernetes each Kube-OVN line is tested on, pinned by digest.

Kube-OVN's own kind flow picks the node image by tag (`image: kindest/node:{{ k8s_version }}` in
yamls/kind.yaml.j2); kind asks for digests (a tag is rebuilt for every kind release, and "You
must use the @sha256 digest to guarantee an image built for this release"). So each stack pins
the digest of `kindest/node:<the line's version>` from where kind itself wrote it down, and
tests/test_stack_node_images.py checks clusters/stacks.toml against these tables.

All stacks run kind v0.32.0. An image built for an older kind release is supported by v0.32.0
"best effort" (kubernetes-sigs/kind site/content/docs/design/node-image.md); the first real run
confirms it, and a stack can pin its own `kind` if one does not come up.
"""

from __future__ import annotations

from dataclasses import dataclass

from macmatrix import versions


@dataclass(frozen=True)
class NodeImage:
    kubernetes: str
    image: str  # kindest/node:<kubernetes>@sha256:<digest>
    digest_source: str  # where kind wrote this digest down
    base_ref: str  # kind ref whose images/base/Dockerfile filled /opt/cni/bin (stack/inventory.py)
    in_kind_repo: bool  # False: only in a kind release's notes (not readable from here)


NODE_IMAGES: dict[str, NodeImage] = {
    n.kubernetes: n
    for n in (
        NodeImage(
            "v1.33.2",
            "kindest/node:v1.33.2@sha256:c55080dc5be4f2cc242e6966fdf97bb62282e1cd818a28223cf536db8b0fddf4",
            "kubernetes-sigs/kind pkg/apis/config/defaults/image.go @ 563b2102 (2025-07-21, "
            '"bump node image to 1.33.2 with latest base image changes"; in v0.30.0\'s history)',
            "563b2102",
            True,
        ),
        NodeImage(
            "v1.33.7",
            "kindest/node:v1.33.7@sha256:d26ef333bdb2cbe9862a0f7c3803ecc7b4303d8cea8e814b481b09949d353040",
            "kubernetes-sigs/kind release notes v0.31.0, 'Images pre-built for this release' (not "
            "in kind's git history; read as quoted in public repos whose other lines of that list, "
            "v1.35.0@452d707d and v1.34.3@08497ee1, match kind's image.go at v0.31.0 and 36ee7a61)",
            "v0.31.0",
            False,
        ),
        NodeImage(
            "v1.35.1",
            "kindest/node:v1.35.1@sha256:05d7bcdefbda08b4e038f644c4df690cdac3fba8b06f8289f30e10026720a1ab",
            "kubernetes-sigs/kind pkg/apis/config/defaults/image.go @ ec6b5bd7 (2026-02-13, "
            '"update node image to 1.35.1 with latest kind images"; in v0.32.0\'s history)',
            "ec6b5bd7",
            True,
        ),
        NodeImage(
            "v1.36.1",
            "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
            "kubernetes-sigs/kind pkg/apis/config/defaults/image.go @ v0.32.0 (kind's default)",
            "v0.32.0",
            True,
        ),
    )
}

# The Kubernetes each Kube-OVN tag creates its kind clusters with (`make kind-init`).
KUBE_OVN_KIND_KUBERNETES: dict[str, tuple[str, str]] = {
    "v1.13.15": ("v1.33.2", "kubeovn/kube-ovn yamls/kind.yaml.j2 @ v1.13.15 (k8s_version default)"),
    "v1.14.41": ("v1.33.7", "kubeovn/kube-ovn yamls/kind.yaml.j2 @ v1.14.41 (k8s_version default)"),
    "v1.15.24": ("v1.35.1", "kubeovn/kube-ovn makefiles/kind.mk @ v1.15.24 (K8S_VERSION)"),
    "v1.16.2": ("v1.35.1", "kubeovn/kube-ovn makefiles/kind.mk @ v1.16.2 (K8S_VERSION)"),
}

# kube-proxy's ipvs mode (clusters/kind-kube-ovn.yaml, as yamls/kind.yaml.j2 at every stack tag:
# kube_proxy_mode default "ipvs"): deprecated in 1.35 with a warning only, feature gate
# KubeProxyIPVS from 1.37, default off (kube-proxy exits) from 1.40 (kubernetes/enhancements
# keps/sig-network/5495-deprecate-ipvs-mode-in-kube-proxy, "Graduation Criteria"). kind v0.32.0
# still accepts it (pkg/internal/apis/config/validate.go: iptables, ipvs, nftables, none).
IPVS_DEPRECATED_FROM = "v1.35.0"
IPVS_OFF_FROM = "v1.40.0"
KIND_PROXY_MODES = ("iptables", "ipvs", "nftables", "none")


def for_image(image: str) -> NodeImage | None:
    """The known node image with exactly this reference (tag and digest), if any."""
    tag = image.split("@", 1)[0].rsplit(":", 1)[-1]
    known = NODE_IMAGES.get(tag)
    return known if known is not None and known.image == image else None


def line_kubernetes(kube_ovn: str) -> tuple[str, str] | None:
    """(Kubernetes version, source) Kube-OVN's kind flow uses at this tag, if known."""
    return KUBE_OVN_KIND_KUBERNETES.get(kube_ovn)


def ipvs_note(kubernetes: str) -> str:
    """'' before 1.35; the deprecation state of kube-proxy's ipvs mode from then on."""
    if versions.at_least(kubernetes, IPVS_OFF_FROM, unknown=False):
        return f"kube-proxy ipvs mode is off by default from {IPVS_OFF_FROM} (KEP-5495)"
    if versions.at_least(kubernetes, IPVS_DEPRECATED_FROM, unknown=False):
        return "kube-proxy ipvs mode: deprecated since v1.35 (a warning; KEP-5495), still works"
    return ""
