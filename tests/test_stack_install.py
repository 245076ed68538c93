"""The pure rules of the install phase: readiness, image tags, untainting, commands, plugins."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from macmatrix.backends.kind.stack import commands, install
from macmatrix.errors import InfraError


def test_image_tag() -> None:
    assert install.image_tag("docker.io/kubeovn/kube-ovn:v1.14.41") == "v1.14.41"
    assert install.image_tag("ghcr.io/x/multus-cni:v4.2.1-thick@sha256:abc") == "v4.2.1-thick"
    assert install.image_tag("localhost:5000/kube-ovn") == "latest"


def test_deployment_ready() -> None:
    dep = {"spec": {"replicas": 1}, "status": {"readyReplicas": 1, "updatedReplicas": 1}}
    assert install.deployment_ready(dep)
    assert not install.deployment_ready({"spec": {"replicas": 1}, "status": {}})
    assert not install.deployment_ready(
        {"spec": {"replicas": 3}, "status": {"readyReplicas": 3, "updatedReplicas": 1}}
    )


def test_daemonset_ready() -> None:
    ok = {"status": {"desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 2}}
    assert install.daemonset_ready(ok)
    assert not install.daemonset_ready({"status": {"desiredNumberScheduled": 2, "numberReady": 1}})
    assert not install.daemonset_ready({"status": {"desiredNumberScheduled": 0, "numberReady": 0}})
    rolling = {
        "status": {"desiredNumberScheduled": 2, "numberReady": 2, "updatedNumberScheduled": 1}
    }
    assert not install.daemonset_ready(rolling)


def test_first_image() -> None:
    ds = {"spec": {"template": {"spec": {"containers": [{"image": "a:1"}, {"image": "b:2"}]}}}}
    assert install.first_image(ds) == "a:1"
    assert install.first_image({}) == ""


def test_untainted_removes_only_the_control_plane_taint() -> None:
    cp = {"key": commands.CONTROL_PLANE_TAINT, "effect": "NoSchedule"}
    other = {"key": "dedicated", "value": "x", "effect": "NoSchedule"}
    assert install.untainted([cp, other]) == [other]
    old = {"key": "node-role.kubernetes.io/master", "effect": "NoSchedule"}
    assert install.untainted([old, cp]) == []
    assert install.untainted([other]) is None
    assert install.untainted(None) is None


def test_multus_manifest_pins_the_thick_tag() -> None:
    text = "image: ghcr.io/k8snetworkplumbingwg/multus-cni:snapshot-thick\n" * 2
    out = commands.multus_manifest(text, "v4.2.1")
    assert "snapshot" not in out
    assert out.count("multus-cni:v4.2.1-thick") == 2


def test_multus_commands_apply_raise_limits_and_wait() -> None:
    argvs = commands.multus_apply(Path("/c/kubectl"), Path("/c/kc"), Path("/w/m.yml"))
    assert [a[2:4] for a in argvs] == [
        ["apply", "-f"],
        ["-n", "kube-system"],
        ["-n", "kube-system"],
    ]
    assert "--limits=cpu=200m,memory=200Mi" in argvs[1]
    assert argvs[2][4:7] == ["rollout", "status", "ds/kube-multus-ds"]
    assert all(a[1] == "--kubeconfig=/c/kc" for a in argvs)


def test_install_env_puts_the_pinned_kubectl_first() -> None:
    env = commands.install_env(Path("/kc"), Path("/cache/x/kubectl"), base={"PATH": "/usr/bin"})
    assert env["KUBECONFIG"] == "/kc"
    assert env["PATH"].split(":")[0] == "/cache/x"
    assert env["PATH"].endswith("/usr/bin")


def test_plugin_copy_commands() -> None:
    cmds = commands.plugin_copy("n1", Path("/w/cni-v1.9.0/static"), "static")
    assert cmds[0] == ["docker", "cp", "/w/cni-v1.9.0/static", "n1:/opt/cni/bin/static"]
    assert cmds[1] == ["docker", "exec", "n1", "chmod", "0755", "/opt/cni/bin/static"]
    assert commands.plugin_present("n1", "tuning") == [
        *["docker", "exec", "n1", "test", "-x", "/opt/cni/bin/tuning"]
    ]


def _tarball(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / "cni-plugins.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            data = f"binary {name}".encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_tuning_from_a_plugins_tarball(tmp_path: Path) -> None:
    tgz = _tarball(tmp_path, ["./", "./macvlan", "./tuning", "./LICENSE"][1:])
    out = install.extract_member(tgz, "tuning", tmp_path / "out" / "tuning-v1.9.0")
    assert out.read_bytes() == b"binary ./tuning"
    assert out.stat().st_mode & 0o111


def test_a_tarball_without_tuning_is_an_infra_error(tmp_path: Path) -> None:
    tgz = _tarball(tmp_path, ["./macvlan"])
    with pytest.raises(InfraError, match="has no 'tuning'"):
        install.extract_member(tgz, "tuning", tmp_path / "t")


def test_pull_failures_name_pod_image_and_reason() -> None:
    pods = [
        {
            "metadata": {"namespace": "kube-system", "name": "kube-ovn-cni-x"},
            "status": {
                "initContainerStatuses": [
                    {
                        "image": "docker.io/kubeovn/kube-ovn:v1.14.41",
                        "state": {"waiting": {"reason": "ImagePullBackOff"}},
                    }
                ]
            },
        },
        {
            "metadata": {"namespace": "kube-system", "name": "ok"},
            "status": {"containerStatuses": [{"image": "a", "state": {"running": {}}}]},
        },
    ]
    assert install.pull_failures(pods) == [
        "kube-system/kube-ovn-cni-x: docker.io/kubeovn/kube-ovn:v1.14.41: ImagePullBackOff"
    ]
    assert install.pull_failures([]) == []
