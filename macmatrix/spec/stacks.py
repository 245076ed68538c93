"""Named stacks from clusters/stacks.toml: pinned versions and the URLs they imply.

A stack fixes everything the kind backend downloads or pulls, so a results file names exactly
what ran. URLs are derived here in one place so the plan, the downloads and the lock agree.
"""

from __future__ import annotations

import platform
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from macmatrix import data, versions
from macmatrix.errors import BadInput

FIELDS = ("kube_ovn", "multus", "cni_plugins", "kind", "node_image", "kubectl", "cluster_config")
MIN_KIND = "v0.32.0"  # kind >= v0.32 for Kubernetes >= 1.36 node images (UPSTREAM.md)


def clusters_dir() -> Path:
    """clusters/ of the checkout (or of the installed package), where stacks.toml and the kind
    configs live (macmatrix/data)."""
    return data.clusters()


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def _os() -> str:
    return platform.system().lower() or "linux"


@dataclass(frozen=True)
class Stack:
    """One named stack: versions of Kube-OVN, Multus, CNI plugins, kind, node image, kubectl."""

    name: str
    kube_ovn: str
    multus: str
    cni_plugins: str
    kind: str
    node_image: str
    kubectl: str
    cluster_config: str
    # the folder of the stacks.toml it came from: a user's file (`--stacks`) may name a kind
    # config of its own beside it
    folder: Path | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ derived, pure
    @property
    def kubernetes(self) -> str:
        """The node image's Kubernetes version (`kindest/node:v1.36.1@sha256:...` -> v1.36.1)."""
        tag = self.node_image.split("@", 1)[0].rsplit(":", 1)[-1]
        return tag

    @property
    def kube_ovn_image(self) -> str:
        return f"docker.io/kubeovn/kube-ovn:{self.kube_ovn}"

    @property
    def multus_image(self) -> str:
        return f"ghcr.io/k8snetworkplumbingwg/multus-cni:{self.multus}-thick"

    @property
    def pod_image(self) -> str:
        """The matrix pods' image: Kube-OVN's own image, on every node once kube-ovn-cni runs.

        It carries `sleep`, `sh` and `cat` (diagnostics read /sys/class/net: kube/sysnet.py), so
        the matrix needs no registry access of its own.
        """
        return self.kube_ovn_image

    def kind_url(self, os_name: str | None = None, arch: str | None = None) -> str:
        o, a = os_name or _os(), arch or _arch()
        return f"https://github.com/kubernetes-sigs/kind/releases/download/{self.kind}/kind-{o}-{a}"

    def kubectl_url(self, os_name: str | None = None, arch: str | None = None) -> str:
        o, a = os_name or _os(), arch or _arch()
        return f"https://dl.k8s.io/release/{self.kubectl}/bin/{o}/{a}/kubectl"

    @property
    def install_sh_url(self) -> str:
        return f"https://raw.githubusercontent.com/kubeovn/kube-ovn/{self.kube_ovn}/dist/images/install.sh"

    @property
    def multus_yaml_url(self) -> str:
        return (
            "https://raw.githubusercontent.com/k8snetworkplumbingwg/multus-cni/"
            f"{self.multus}/deployments/multus-daemonset-thick.yml"
        )

    def cni_plugins_url(self, arch: str | None = None) -> str:
        """Plugins for the *nodes* (Linux containers): the OS is Linux, the arch the node's,
        which is the host's (kind runs node containers natively; release assets exist for
        amd64 and arm64, per containernetworking/plugins .github/workflows/release.yaml)."""
        v, arch = self.cni_plugins, arch or _arch()
        return (
            "https://github.com/containernetworking/plugins/releases/download/"
            f"{v}/cni-plugins-linux-{arch}-{v}.tgz"
        )

    def config_path(self, base: Path | None = None) -> Path:
        """The kind config: under `base`; else beside the stacks file when it is there (a user's
        own); else ours (clusters/)."""
        if (
            base is None
            and self.folder is not None
            and (self.folder / self.cluster_config).is_file()
        ):
            return self.folder / self.cluster_config
        return (base or clusters_dir()) / self.cluster_config

    def cluster_name(self) -> str:
        """kind cluster name: one per stack so a kept cluster is found again by the next run."""
        return "mm-" + self.name.replace(".", "-").replace("_", "-")[:40]

    def downloads(self) -> list[str]:
        """Every URL this stack downloads (what the lock must cover)."""
        return [
            self.kind_url(),
            self.kubectl_url(),
            self.install_sh_url,
            self.multus_yaml_url,
            self.cni_plugins_url(),
        ]

    def as_stack_dict(self) -> dict[str, Any]:
        """The results.json `stack` entry."""
        return {
            "backend": "kind",
            "name": self.name,
            "kube_ovn": self.kube_ovn,
            "multus": self.multus,
            "cni_plugins": self.cni_plugins,
            "kubernetes": self.kubernetes,
            "kind": self.kind,
            "node_image": self.node_image,
            "kubectl": self.kubectl,
        }


def _check(name: str, entry: dict[str, Any], where: str, folder: Path | None = None) -> Stack:
    missing = [f for f in FIELDS if not isinstance(entry.get(f), str) or not entry.get(f)]
    if missing:
        raise BadInput(
            f"{where}: stacks.{name} lacks {', '.join(missing)}; "
            "set them in the stack or in [defaults]"
        )
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise BadInput(
            f"{where}: stacks.{name} has unknown key(s) {unknown}; use {', '.join(FIELDS)}"
        )
    for key in ("kube_ovn", "multus", "cni_plugins", "kind", "kubectl"):
        if not versions.parse(entry[key]) or not entry[key].startswith("v"):
            raise BadInput(f"{where}: stacks.{name}.{key}={entry[key]!r}; write a tag like v1.2.3")
    if not versions.at_least(entry["kind"], MIN_KIND):
        raise BadInput(f"{where}: stacks.{name}.kind={entry['kind']}; use kind {MIN_KIND} or newer")
    if "@sha256:" not in entry["node_image"]:
        raise BadInput(
            f"{where}: stacks.{name}.node_image={entry['node_image']!r} is not pinned by digest; "
            "write kindest/node:vX.Y.Z@sha256:<digest> from kind's release notes"
        )
    node_k8s = entry["node_image"].split("@", 1)[0].rsplit(":", 1)[-1]
    have, want = versions.parse(entry["kubectl"]), versions.parse(node_k8s)
    if have and want and (have[0] != want[0] or abs(have[1] - want[1]) > 1):
        # kubernetes/website install-kubectl-linux.md: within one minor version of the cluster
        raise BadInput(
            f"{where}: stacks.{name}.kubectl={entry['kubectl']} is more than one minor away from "
            f'the node image\'s Kubernetes {node_k8s}; set kubectl = "{node_k8s}"'
        )
    return Stack(name=name, folder=folder, **{f: entry[f] for f in FIELDS})


def load(path: Path | str | None = None) -> dict[str, Stack]:
    """Read stacks.toml into validated stacks by name: `path`, else the one in use
    (data.stacks_file: `--stacks`, `$MACMATRIX_STACKS`, else clusters/stacks.toml). A problem is
    one BadInput line that names the flag or variable that chose the file."""
    p, chooser = (Path(path), "") if path else data.stacks_file()
    where = f"{chooser} {p}" if chooser else str(p)
    try:
        doc = tomllib.loads(p.read_text())
    except OSError as e:
        fix = "pass a readable stacks.toml" if chooser else "restore clusters/stacks.toml"
        raise BadInput(f"{chooser or 'stacks'}: cannot read {p}: {e.strerror}; {fix}") from e
    except UnicodeDecodeError as e:
        raise BadInput(f"{where}: not UTF-8 text ({e.reason}); pass a stacks.toml") from e
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{where}: not valid TOML ({e}); fix the syntax") from e
    defaults = doc.get("defaults") or {}
    stacks = doc.get("stacks") or {}
    if not isinstance(stacks, dict) or not stacks:
        raise BadInput(f'{where}: no [stacks."NAME"] tables; add at least one stack')
    if not isinstance(defaults, dict):
        raise BadInput(f"{where}: [defaults] must be a table of fields; write it as [defaults]")
    for name, entry in stacks.items():
        if not isinstance(entry, dict):
            raise BadInput(f'{where}: stacks.{name} must be a table; write it as [stacks."{name}"]')
    return {
        name: _check(name, {**defaults, **entry}, where, p.parent) for name, entry in stacks.items()
    }


def stack_names(path: Path | str | None = None) -> list[str]:
    return sorted(load(path), key=lambda n: versions.parse(n) or (0, 0, 0))


def newest(path: Path | str | None = None) -> str:
    """The stack with the highest Kube-OVN version: the default when no --stack is given."""
    stacks = load(path)
    return max(stacks, key=lambda n: versions.parse(stacks[n].kube_ovn) or (0, 0, 0))


def get(name: str, path: Path | str | None = None, field: str = "--stack") -> Stack:
    """The named stack, or BadInput (naming `field`) listing the known names."""
    stacks = load(path)
    if not name:
        known = ", ".join(sorted(stacks, key=lambda n: versions.parse(n) or (0, 0, 0)))
        raise BadInput(f"{field}: required with --backend kind; use one of: {known}")
    if name not in stacks:
        known = ", ".join(sorted(stacks, key=lambda n: versions.parse(n) or (0, 0, 0)))
        raise BadInput(f"{field}: unknown stack {name!r}; use one of: {known}")
    return stacks[name]
