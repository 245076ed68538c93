"""The CRDs a stack's cluster has, read at run time from the official Go modules at its pins.

- NetworkAttachmentDefinition: `artifacts/networks-crd.yaml` of
  github.com/k8snetworkplumbingwg/network-attachment-definition-client at the version the stack's
  Multus requires (its go.mod at gopkg.in/k8snetworkplumbingwg/multus-cni.v4@<multus>; v1.7.6 at
  v4.2.4).
- Kube-OVN's CRDs: the `kube-ovn-crd.yaml` here-document of `dist/images/install.sh` at the
  stack's Kube-OVN tag (what install.sh applies), from the github.com/kubeovn/kube-ovn module zip.
Go's module proxy serves both, and go's checksum database verifies them (go.sum lines), so the
download is pinned by version and by hash; nothing of them is committed here.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from macmatrix.backends.gobuild import modlock, toolchain
from macmatrix.backends.gobuild import multus as multus_build
from macmatrix.errors import InfraError

MULTUS_MODULE = "gopkg.in/k8snetworkplumbingwg/multus-cni.v4"
NAD_MODULE = "github.com/k8snetworkplumbingwg/network-attachment-definition-client"
KUBE_OVN_MODULE = "github.com/kubeovn/kube-ovn"
_CRD_HEREDOC = re.compile(r"^cat <<'?EOF'? > kube-ovn-crd\.yaml\n(.*?)^EOF$", re.M | re.S)


def module(path_at_version: str, cache: Path | None = None) -> dict[str, Any]:
    """`go mod download -json MODULE@VERSION` (Dir, GoMod, Sum) into the macmatrix cache."""
    go = toolchain.find_go()
    if not go:
        raise InfraError(f"{path_at_version}: no Go toolchain to download it through the proxy")
    lock = modlock.lock_for(cache)
    cache = cache or toolchain.cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run(
            [go, "mod", "download", "-json", path_at_version],
            env=toolchain.go_env(cache),
            cwd=cache,
            capture_output=True,
            text=True,
            timeout=600,
        )
        doc = json.loads(out.stdout or "{}")
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        raise InfraError(f"go mod download {path_at_version}: {e}") from e
    if out.returncode != 0 or doc.get("Error"):
        raise InfraError(f"go mod download {path_at_version}: {doc.get('Error') or out.stderr}")
    mod, _, version = path_at_version.rpartition("@")
    modlock.pin(mod, version, cache, lock)
    return dict(doc)


def nad_client_version(multus: str, cache: Path | None = None) -> str:
    """The network-attachment-definition-client version Multus `multus` requires."""
    # checked against multus_build.GO_SUMS where the checksum database is not reachable
    gomod = Path(str(multus_build.download(multus, cache)["GoMod"])).read_text()
    m = re.search(rf"^\s*{re.escape(NAD_MODULE)} (v\S+)", gomod, re.M)
    if not m:
        raise InfraError(f"{MULTUS_MODULE}@{multus}: its go.mod does not require {NAD_MODULE}")
    return m.group(1)


def nad_crd(multus: str, cache: Path | None = None) -> list[dict[str, Any]]:
    version = nad_client_version(multus, cache)
    root = Path(str(module(f"{NAD_MODULE}@{version}", cache)["Dir"]))
    return _docs(root / "artifacts" / "networks-crd.yaml")


def kube_ovn_crds(kube_ovn: str, cache: Path | None = None) -> list[dict[str, Any]]:
    root = Path(str(module(f"{KUBE_OVN_MODULE}@{kube_ovn}", cache)["Dir"]))
    script = root / "dist" / "images" / "install.sh"
    m = _CRD_HEREDOC.search(script.read_text())
    if not m:
        raise InfraError(f"{script}: no `cat <<EOF > kube-ovn-crd.yaml` here-document")
    docs = [d for d in yaml.safe_load_all(m.group(1)) if isinstance(d, dict)]
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    if not crds:
        raise InfraError(f"{script}: kube-ovn-crd.yaml holds no CustomResourceDefinition")
    return crds


def _docs(path: Path) -> list[dict[str, Any]]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as e:
        raise InfraError(f"{path}: {e}") from e
    return docs
