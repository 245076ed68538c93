"""The node plugin inventory (stack/inventory.py) against the matrix, the stacks and upstream.

Upstream facts checked here, each read at the named tag:
- kubernetes-sigs/kind images/base/Dockerfile @ v0.32.0 (and 563b2102, v0.31.0, ec6b5bd7): the
  node image's /opt/cni/bin holds host-local, loopback, ptp, portmap.
- kubeovn/kube-ovn dist/images/install-cni.sh @ v1.13.15, v1.14.41, v1.15.24, v1.16.2: copies
  kube-ovn, loopback, portmap, macvlan, plus ipvlan at v1.14.41 and v1.15.24 only.
- containernetworking/plugins build_linux.sh @ v1.6.2, v1.9.0, v1.9.1: every plugins/{meta,main,
  ipam}/* directory but windows is built into the release tarball (static and tuning included).
"""

from __future__ import annotations

import io
import itertools
import tarfile
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from macmatrix.backends.kind.stack import install, inventory
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.build import manifests
from macmatrix.errors import BadInput
from macmatrix.spec import stacks
from macmatrix.spec.cases import AXES, DEFAULTS, Case, _valid
from macmatrix.spec.netconf import plugin_types


@pytest.mark.parametrize("name", stacks.stack_names())
def test_every_plugin_the_matrix_can_generate_is_on_every_stacks_nodes(name: str) -> None:
    stack = stacks.get(name)
    assert inventory.known(stack) == []  # the repo's stacks are all in the upstream-read data
    inv = inventory.inventory(stack)
    needed = inventory.matrix_plugin_types()
    inventory.check(inv, needed)  # raises MissingPlugin otherwise
    # what the harness copies is exactly what kind + Kube-OVN + Multus lack
    assert set(inv.installs) == set(needed) - set(inventory.shipped(stack))
    assert {"static", "tuning"} <= set(inv.installs)  # the default matrix's ipam and chain
    # bridge (spec/plugins/bridge.py): kind's node image copies host-local, loopback, ptp,
    # portmap (images/base/Dockerfile @ v0.32.0) and Kube-OVN loopback, portmap, macvlan
    # [, ipvlan] (dist/images/Dockerfile.base @ each tag): the harness copies it into every node
    assert "bridge" not in inventory.shipped(stack) and "bridge" in inv.installs
    assert inv.plugins["bridge"] == inventory.HARNESS_SOURCE.format(tag=stack.cni_plugins)


def test_the_matrix_types_come_from_the_generated_nads() -> None:
    types = inventory.matrix_plugin_types()
    by_id = {c.id: c for c in _all_cases()}
    for plugin, case_id in types.items():  # each names a case whose NAD really names it
        assert plugin in plugin_types(manifests.nad_config(by_id[case_id], "ns"))
    # the full product of the axes names exactly these (manifests._ipam, nad_config)
    assert set(types) == {"macvlan", "bridge", "static", "host-local", "kube-ovn", "tuning"}


def _all_cases() -> list[Case]:
    names = list(AXES)
    every = (dict(zip(names, v, strict=True)) for v in itertools.product(*AXES.values()))
    return [Case(**axes) for axes in every if _valid(axes)]


def test_a_short_inventory_fails_naming_the_plugin_and_the_stack() -> None:
    stack = stacks.get("kube-ovn-v1.14")
    full = inventory.inventory(stack)
    short = inventory.Inventory(
        stack.name,
        {k: v for k, v in full.plugins.items() if k != "static"},
        tuple(n for n in full.installs if n != "static"),
        full.release,
    )
    with pytest.raises(inventory.MissingPlugin) as e:
        inventory.check(short, inventory.matrix_plugin_types())
    text = str(e.value)
    assert "stack kube-ovn-v1.14" in text and "'static'" in text and "ipam-static" in text
    # the same check guards a run's selection: one line, bad input naming the case
    case = Case(**DEFAULTS)  # ipam static
    with pytest.raises(BadInput, match=r"stack kube-ovn-v1.14: no 'static' \(needed by macvlan"):
        inventory.check_cases(short, [case])


def test_upstream_lists_per_tag() -> None:
    # ipvlan only where install-cni.sh copies it; kind's four; static/tuning in every release
    assert "ipvlan" not in inventory.KUBE_OVN_INSTALL_CNI["v1.13.15"]
    assert "ipvlan" in inventory.KUBE_OVN_INSTALL_CNI["v1.14.41"]
    assert "ipvlan" in inventory.KUBE_OVN_INSTALL_CNI["v1.15.24"]
    assert "ipvlan" not in inventory.KUBE_OVN_INSTALL_CNI["v1.16.2"]
    for release in inventory.CNI_PLUGINS_RELEASES.values():
        assert {"static", "tuning", "macvlan", "host-local", "dhcp"} <= set(release)
        assert "windows" not in release
    v14 = inventory.shipped(stacks.get("kube-ovn-v1.14"))
    assert v14["ptp"].startswith("kubernetes-sigs/kind images/base/Dockerfile")
    # Kube-OVN's install-cni.sh copies loopback/portmap with `cp -f` over kind's
    assert v14["portmap"] == "kubeovn/kube-ovn dist/images/install-cni.sh @ v1.14.41"
    assert v14["passthru"].startswith("k8snetworkplumbingwg/multus-cni")


def test_a_stack_outside_the_data_assumes_only_what_is_certain() -> None:
    import dataclasses

    s = dataclasses.replace(stacks.get("kube-ovn-v1.14"), kube_ovn="v1.14.99", cni_plugins="v1.8.0")
    assert inventory.known(s) == ["kube_ovn=v1.14.99", "cni_plugins=v1.8.0"]
    inv = inventory.inventory(s)
    # only kube-ovn is assumed from Kube-OVN: macvlan is copied where a node lacks it
    assert "macvlan" in inv.installs and "kube-ovn" not in inv.installs
    assert "assumed" in inv.plugins["kube-ovn"]


def _tarball(path: Path, names: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            data = f"binary {name}".encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(("machine", "arch"), [("aarch64", "arm64"), ("x86_64", "amd64")])
def test_plugins_are_copied_where_missing_from_the_hosts_arch_tarball(
    machine: str, arch: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("platform.machine", lambda: machine)
    stack = stacks.get("kube-ovn-v1.14")
    tgz = _tarball(tmp_path / "p.tgz", ["bridge", "macvlan", "static", "tuning"])
    fetched: list[str] = []
    ran: list[list[str]] = []

    def fake_fetch(url: str, *_: Any, **__: Any) -> Path:
        fetched.append(url)
        return tgz

    # the worker already has tuning (a kept cluster); everything else is missing
    monkeypatch.setattr(install, "fetch", fake_fetch)
    monkeypatch.setattr(install, "_ok", lambda argv: argv[2] == "w" and argv[-1].endswith("tuning"))
    monkeypatch.setattr(install, "sh", lambda argv, *a, **k: ran.append(list(argv)) or "")
    inst = install.Installer(
        stack,
        None,
        Lock(tmp_path / "l"),
        tmp_path / "kc",
        client.ApiClient(),
        tmp_path,
        log=io.StringIO(),
    )
    assert inst.plugins(["cp", "w"]) == ["bridge", "static", "tuning"]
    url = f"/{stack.cni_plugins}/cni-plugins-linux-{arch}-{stack.cni_plugins}.tgz"
    assert len(fetched) == 1 and fetched[0].endswith(url)
    assert stack.cni_plugins_url() in stack.downloads()  # downloads() uses the same arch
    copies = [a[3] for a in ran if a[:2] == ["docker", "cp"]]
    assert copies == [
        "cp:/opt/cni/bin/bridge",
        "cp:/opt/cni/bin/static",
        "cp:/opt/cni/bin/tuning",
        "w:/opt/cni/bin/bridge",
        "w:/opt/cni/bin/static",
    ]
    assert (tmp_path / "cni-v1.9.0" / "static").read_bytes() == b"binary static"
    # nothing missing anywhere: no download at all
    fetched.clear()
    monkeypatch.setattr(install, "_ok", lambda argv: True)
    inst.plugins(["cp", "w"])
    assert fetched == []


def _paste(plugin: str) -> Any:
    from macmatrix.spec.userinput import parse_text, resolve

    conf = (
        '{"cniVersion": "1.0.0", "plugins": [{"type": "macvlan", "master": "eth1", '
        f'"ipam": {{"type": "static"}}}}, {{"type": "{plugin}"}}]}}'
    )
    text = f"kind: NetworkAttachmentDefinition\nmetadata: {{name: m}}\nspec:\n  config: '{conf}'\n"
    return resolve(parse_text(text + "---\nm\n", "t"))


def test_repro_on_kind_copies_a_release_plugin_and_is_unsupported_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pasted NAD naming a plugin the nodes lack: `bandwidth` is in every pinned plugins
    release (copied in); `whereabouts` is in none and shipped by nobody (unsupported)."""
    from macmatrix.backends.kind.pods import KindPods
    from macmatrix.observe import PodObservation
    from macmatrix.workflows import repro

    handed: list[list[str]] = []

    def run_pod(self: Any, pod: str, ns: str, attachments: Any, annotations: Any) -> Any:
        handed.append(list(self.cluster.extra_plugins))  # what prepare hands Installer.plugins
        return PodObservation(name=pod, error="stand-in: no cluster here")

    monkeypatch.setattr(KindPods, "run_pod", run_pod)
    monkeypatch.chdir(tmp_path)
    stack = stacks.get("kube-ovn-v1.16")
    assert "bandwidth" not in inventory.shipped(stack)
    assert "bandwidth" in inventory.inventory(stack, ["bandwidth"]).installs

    entry = repro.run(_paste("bandwidth"), "kind", stack_name="kube-ovn-v1.16")
    assert handed == [["bandwidth", "macvlan", "static", "tuning"]]  # tuning: the fix search
    assert entry["outcome"] != "unsupported"

    entry = repro.run(_paste("whereabouts"), "kind", stack_name="kube-ovn-v1.16")
    assert len(handed) == 1  # no pod was made
    assert entry["outcome"] == "unsupported"
    assert "'whereabouts'" in entry["reason"] and "kube-ovn-v1.16" in entry["reason"]
    assert "containernetworking/plugins v1.9.1" in entry["reason"]
