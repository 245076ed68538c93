"""Every command the kind backend runs, built in one pure place.

The executor (cluster.py, install.py) and the dry-run plan (plan.py) both take their argv from
here, so `--dry-run` shows exactly what a real run does.
"""

from __future__ import annotations

import os
from pathlib import Path

from macmatrix.errors import InfraError
from macmatrix.spec.stacks import Stack

KUBE_SYSTEM = "kube-system"
MULTUS_DS = "kube-multus-ds"
MULTUS_CONTAINER = "kube-multus"
# Kube-OVN's Makefile raises Multus' 50Mi/100m limits before waiting for the rollout.
MULTUS_LIMITS = "cpu=200m,memory=200Mi"
# What "Kube-OVN is ready" means: the workloads install.sh itself rolls out in steps 2 and 3.
KUBE_OVN_DEPLOYMENTS = ("ovn-central", "kube-ovn-controller")
KUBE_OVN_DAEMONSETS = ("ovs-ovn", "kube-ovn-cni")
CNI_BIN = "/opt/cni/bin"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
# Kube-OVN's Makefile removes both keys (`master` is what older Kubernetes used).
CONTROL_PLANE_TAINTS = (CONTROL_PLANE_TAINT, "node-role.kubernetes.io/master")
# install.sh's `[Step 6/6] Run network diagnose` writes into the *host's* /usr/local/bin, as root
# (kubeovn/kube-ovn dist/images/install.sh at v1.13.15, v1.14.41, v1.15.24 and v1.16.2):
#   kubectl cp kube-system/<kube-ovn-cni pod>:/kube-ovn/kubectl-ko /usr/local/bin/kubectl-ko
#   chmod +x /usr/local/bin/kubectl-ko
# then `kubectl ko diagnose all` finds it on PATH. Our copy of the script writes it into the
# cluster's work folder instead (install_script_copy); every other `/usr/local/bin` in the
# script is a path inside the nodes (a mountPath and a hostPath of the kube-ovn-cni pod) or the
# PATH check of step 5, and is left alone.
HOST_KUBECTL_KO = "/usr/local/bin/kubectl-ko"
HOST_KUBECTL_KO_USES = 2


def kind_get_clusters(kind: Path) -> list[str]:
    return [str(kind), "get", "clusters"]


def kind_create(kind: Path, name: str, kubeconfig: Path, image: str, config: Path) -> list[str]:
    """The argv pytest-kind-ng's KindCluster.create(config_file=...) runs for us."""
    return [
        str(kind),
        "create",
        "cluster",
        f"--name={name}",
        f"--kubeconfig={kubeconfig}",
        f"--image={image}",
        "--config",
        str(config),
    ]


def kind_export_kubeconfig(kind: Path, name: str, kubeconfig: Path) -> list[str]:
    return [str(kind), "export", "kubeconfig", f"--name={name}", f"--kubeconfig={kubeconfig}"]


def kind_get_nodes(kind: Path, name: str) -> list[str]:
    return [str(kind), "get", "nodes", f"--name={name}"]


def kind_load_image(kind: Path, name: str, image: str) -> list[str]:
    return [str(kind), "load", "docker-image", "--name", name, image]


def kind_delete(kind: Path, name: str, kubeconfig: Path) -> list[str]:
    return [str(kind), "delete", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig}"]


def docker_image_present(image: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image]


def docker_pull(image: str) -> list[str]:
    return ["docker", "pull", image]


def install_sh(script: Path) -> list[str]:
    return ["bash", str(script)]


def install_script_path(work: Path, kube_ovn: str) -> Path:
    """Where our copy of the tag's install.sh (kubectl-ko redirected) is written and run."""
    return work / f"install-{kube_ovn}.sh"


def plugin_bin(work: Path) -> Path:
    """The folder that gets install.sh's kubectl-ko instead of the host's /usr/local/bin."""
    return work / "bin"


def install_script_copy(text: str, bindir: Path) -> str:
    """install.sh with its kubectl-ko copy aimed at `bindir`, so the host is never written.

    Refuses (InfraError) a script that does not write kubectl-ko where the pinned tags do: a
    new upstream shape must be read before it is run as root.
    """
    uses = text.count(HOST_KUBECTL_KO)
    if uses != HOST_KUBECTL_KO_USES:
        raise InfraError(
            f"install.sh names {HOST_KUBECTL_KO} {uses} time(s), the pinned tags "
            f"{HOST_KUBECTL_KO_USES}; read its last step and update "
            "macmatrix/backends/kind/stack/commands.py before running it as root"
        )
    return text.replace(HOST_KUBECTL_KO, f"{bindir}/kubectl-ko")


def install_env(
    kubeconfig: Path,
    kubectl: Path,
    base: dict[str, str] | None = None,
    bindir: Path | None = None,
) -> dict[str, str]:
    """install.sh needs KUBECONFIG and *our pinned* kubectl first on PATH; `bindir` (where
    our copy of the script puts kubectl-ko) comes first so `kubectl ko` finds that one."""
    env = dict(os.environ if base is None else base)
    env["KUBECONFIG"] = str(kubeconfig)
    first = [str(bindir)] if bindir else []
    env["PATH"] = os.pathsep.join([*first, str(kubectl.parent), env.get("PATH", "")])
    return env


def kubectl(kubectl_path: Path, kubeconfig: Path, *args: str) -> list[str]:
    return [str(kubectl_path), f"--kubeconfig={kubeconfig}", *args]


def multus_apply(kubectl_path: Path, kubeconfig: Path, manifest: Path) -> list[list[str]]:
    """Apply Multus thick, raise its limits like Kube-OVN's Makefile, wait for the rollout."""
    return [
        kubectl(kubectl_path, kubeconfig, "apply", "-f", str(manifest)),
        kubectl(
            kubectl_path,
            kubeconfig,
            "-n",
            KUBE_SYSTEM,
            "set",
            "resources",
            f"ds/{MULTUS_DS}",
            "-c",
            MULTUS_CONTAINER,
            f"--limits={MULTUS_LIMITS}",
        ),
        kubectl(
            kubectl_path,
            kubeconfig,
            "-n",
            KUBE_SYSTEM,
            "rollout",
            "status",
            f"ds/{MULTUS_DS}",
            "--timeout=300s",
        ),
    ]


def multus_manifest(text: str, multus_tag: str) -> str:
    """Multus' thick manifest at a tag still names `:snapshot-thick`; pin it to `:<tag>-thick`."""
    return text.replace(":snapshot-thick", f":{multus_tag}-thick")


def plugin_copy(node: str, local: Path, name: str) -> list[list[str]]:
    """Put one pinned plugin binary into a node's CNI bin dir (see stack/inventory.py)."""
    return [
        ["docker", "cp", str(local), f"{node}:{CNI_BIN}/{name}"],
        ["docker", "exec", node, "chmod", "0755", f"{CNI_BIN}/{name}"],
    ]


def plugin_present(node: str, name: str) -> list[str]:
    return ["docker", "exec", node, "test", "-x", f"{CNI_BIN}/{name}"]


def network_name(stack: Stack) -> str:
    return f"{stack.cluster_name()}-macvlan"
