"""The images a stack pulls on the host and `kind load`s into its nodes before installing.

Kube-OVN's own kind flow loads its image before install.sh (`kind-install: kind-load-image`,
`kind_load_image kube-ovn $(REGISTRY)/kube-ovn:$(VERSION)` in kubeovn/kube-ovn kind.mk at v1.13.15
and v1.14.41, makefiles/kind.mk at v1.15.24 and v1.16.2) and Multus' image before applying it
(`kind-install-multus: kind_load_image kube-ovn $(MULTUS_IMAGE),1`, which pulls it first when the
host lacks it: `docker_ensure_image_exists`). install.sh runs under `set -euo pipefail` with
`kubectl rollout status daemonset/ovs-ovn --timeout 120s`: a slow in-cluster pull stops it before
the controller and the CNI daemon are applied. So every image below is pulled on the host
(skipped when present) and loaded into every node first.

Not loaded, on purpose: `$REGISTRY/$VPC_NAT_IMAGE:$VERSION` (vpc-nat-gateway) is only written
into the `ovn-vpc-nat-config` ConfigMap and pulled when a VpcNatGateway is created (the matrix
creates none); the `kube-ovn-dpdk` / `-dpdk` images only run with `--with-hybrid-dpdk`.
"""

from __future__ import annotations

from dataclasses import dataclass

from macmatrix.spec.stacks import Stack

KUBE_OVN = "kube-ovn"
MULTUS = "multus"

# (phase that needs it, image template, source). Templates take the stack's tags.
PRELOADS: tuple[tuple[str, str, str], ...] = (
    (
        KUBE_OVN,
        "docker.io/kubeovn/kube-ovn:{kube_ovn}",
        'kubeovn/kube-ovn dist/images/install.sh at the tag: REGISTRY="docker.io/kubeovn", '
        'every default workload runs "$REGISTRY/kube-ovn:$VERSION"; kind.mk kind-load-image',
    ),
    (
        MULTUS,
        "ghcr.io/k8snetworkplumbingwg/multus-cni:{multus}-thick",
        "kubeovn/kube-ovn Makefile at the tag: MULTUS_IMAGE = "
        "ghcr.io/k8snetworkplumbingwg/multus-cni:$(MULTUS_VERSION)-thick; "
        "k8snetworkplumbingwg/multus-cni deployments/multus-daemonset-thick.yml (:snapshot-thick)",
    ),
    (
        KUBE_OVN,
        "{pod_image}",
        "the matrix pods' image (Stack.pod_image): Kube-OVN's own image, so no extra pull",
    ),
)


@dataclass(frozen=True)
class Preload:
    """One image to pull on the host and load into the nodes before `phase` installs."""

    image: str
    phase: str
    source: str


def preloads(stack: Stack, phase: str | None = None) -> list[Preload]:
    """The stack's images in install order, each once (the pod image is Kube-OVN's)."""
    values = {"kube_ovn": stack.kube_ovn, "multus": stack.multus, "pod_image": stack.pod_image}
    out: list[Preload] = []
    seen: set[str] = set()
    for need, template, source in PRELOADS:
        image = template.format(**values)
        if image in seen:
            continue
        seen.add(image)
        if phase is None or need == phase:
            out.append(Preload(image, need, source))
    return out
