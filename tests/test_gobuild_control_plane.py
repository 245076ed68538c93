"""The control plane's build recipe and the CRD extraction, on small made-up inputs.

The real build and the real CRDs run in e2e/test_kube_apiserver.py (marker `apiserver`).
"""

from __future__ import annotations

import pytest

from macmatrix.backends.gobuild import control_plane, crds
from macmatrix.errors import BadInput, InfraError

# The shape of k8s.io/kubernetes' go.mod (a few lines of it, made up for the test).
KUBE_GO_MOD = """module k8s.io/kubernetes

go 1.25.0

require (
\tgo.etcd.io/etcd/client/v3 v3.6.5
\tk8s.io/api v0.0.0
)

require (
\tgo.etcd.io/etcd/server/v3 v3.6.5 // indirect
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/some/fork => github.com/other/fork v1.0.0
)
"""


def test_every_staging_module_is_replaced_by_its_published_version() -> None:
    text = control_plane.generated_go_mod("v1.35.1", KUBE_GO_MOD, "1.25")
    assert "require k8s.io/kubernetes v1.35.1" in text
    assert "\tk8s.io/api => k8s.io/api v0.35.1\n" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.35.1\n" in text
    assert "github.com/some/fork" not in text  # only ./staging replacements are rewritten
    assert "\ngo 1.25\n" in text


def test_a_go_mod_without_staging_is_an_infra_error() -> None:
    with pytest.raises(InfraError, match="no ./staging replacements"):
        control_plane.generated_go_mod("v1.35.1", "module k8s.io/kubernetes\n", "1.25")


def test_etcd_is_built_at_the_version_kubernetes_requires() -> None:
    assert control_plane.required_version(KUBE_GO_MOD, control_plane.ETCD_MODULE) == "v3.6.5"
    with pytest.raises(InfraError, match="does not require"):
        control_plane.required_version(KUBE_GO_MOD, "go.etcd.io/bbolt")


def test_the_release_version_is_stamped_like_the_release_build() -> None:
    (flags,) = control_plane.version_ldflags("v1.35.1")
    assert "k8s.io/component-base/version.gitVersion=v1.35.1" in flags
    assert "gitMinor=35" in flags and "gitMajor=1" in flags


@pytest.mark.parametrize("bad", ["1.35.1", "v2.0.0", "v1.35", "latest"])
def test_a_kubernetes_version_must_be_a_release(bad: str) -> None:
    with pytest.raises(BadInput, match="write one like v1.36.1"):
        control_plane.check_version(bad)


SCRIPT = """#!/bin/bash
set -euo pipefail
cat <<'EOF' > kube-ovn-crd.yaml
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: subnets.kubeovn.io
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ips.kubeovn.io
EOF

cat <<EOF > ovn.yaml
kind: Deployment
EOF
"""


def test_the_crds_are_the_kube_ovn_crd_here_document_of_install_sh() -> None:
    m = crds._CRD_HEREDOC.search(SCRIPT)
    assert m is not None
    assert "Deployment" not in m.group(1)
    assert m.group(1).count("kind: CustomResourceDefinition") == 2
