"""The in-place upgrade check (kind backend): what changes between two stacks, and the plan.

Pure: which components change, the commands of the upgrade and the whole plan as text for
`--dry-run`. The cluster work lives in backends/kind/upgrade_session.py and stack/install.py;
the orchestration, and the gate on the two matrix runs (views/compare), in
workflows/upgrade_check.py.

How Kube-OVN documents an upgrade (checked 2026-11 against upstream):
- kubeovn/docs `docs/start/one-step-install.en.md`, "Upgrade" under "Script Installation": run
  the new version's install.sh; its `[Step 4/6]` restarts all container network Pods and
  "should be skipped" during an upgrade; parameters changed since the install must be set in
  the script again or they are reverted. (The Helm chart's upgrade is `helm upgrade`; our stacks
  install with install.sh, so they upgrade with install.sh.)
- kubeovn/kube-ovn `dist/images/install.sh`: from v1.14.16 on, `DEL_NON_HOST_NET_POD=false`
  skips step 4 (Kube-OVN's own upgrade CI runs `DEL_NON_HOST_NET_POD=false bash install.sh`);
  at v1.13.x step 4 always runs but only deletes pods with `restartPolicy: Always`, and the
  matrix pods are `restartPolicy: Never`, so they survive either script.
- install.sh's `ovs-ovn` DaemonSet is `RollingUpdate` at v1.14.41, v1.15.24, v1.16.2 (only the
  DPDK variant is `OnDelete`), so re-running the script rolls every Kube-OVN component.
- k8snetworkplumbingwg/multus-cni `deployments/multus-daemonset-thick.yml` at v4.1.3, v4.2.1,
  v4.2.3, v4.2.4: the `kube-multus-ds` DaemonSet is `RollingUpdate` and its init container
  re-copies multus-shim, so `kubectl apply` of TO's manifest upgrades Multus in place; it is
  applied only when the Multus pin changes.
- kube-ovn-cni's init container (`install-cni.sh`) copies Kube-OVN's own macvlan/ipvlan/portmap/
  loopback into /opt/cni/bin on every start: after the upgrade macvlan is the new release's, so
  the plugins macmatrix copied (static, tuning: stack/inventory.py) are replaced too when the
  stacks' CNI plugins differ (one release per chain).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macmatrix import data, versions
from macmatrix.backends.kind.stack import commands, images, inventory
from macmatrix.backends.kind.stack.cluster import tools_paths
from macmatrix.backends.kind.stack.download import cache_dir
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.backends.kind.stack.plan import (
    PLACEHOLDER_NS,
    cmd_line,
    download_lines,
    install_sh_lines,
    kind_node_names,
    kube_ovn_workloads,
    multus_lines,
    plugin_lines,
    preload_lines,
)
from macmatrix.backends.kind.stack.plan import render as render_install
from macmatrix.errors import BadInput
from macmatrix.spec.cases import Case
from macmatrix.spec.stacks import Stack

# install.sh's switch for "[Step 4/6] Delete pod that not in host network mode" (v1.14.16+).
SKIP_POD_RESTART_ENV = {"DEL_NON_HOST_NET_POD": "false"}
SKIP_POD_RESTART_SINCE = "v1.14.16"
# Fields an in-place upgrade cannot change: the cluster (kind, node image) stays what it is.
CLUSTER_FIELDS = ("kind", "node_image", "kubectl", "cluster_config")
# Of those, what the stacks may differ in: each line pins the Kubernetes its upstream tests on
# kind (stack/node_images.py), so adjacent lines differ; the upgrade keeps FROM's cluster (its
# node image, and the kubectl that matches it) and the plan says so.
KEPT_FROM_OLD = ("node_image", "kubectl")
# What a kept pod must still show after the upgrade (see kube/snapshot.py).
POD_CHECKS = (
    "still there with the same uid (not recreated)",
    "Running, every container running, no container restarts",
    "eth0 and net1 kernel MACs unchanged (exec cat /sys/class/net/<if>/address)",
    "Multus network-status, ovn.kubernetes.io/* and <provider>.kubernetes.io/* annotations "
    "unchanged (a key added by the new version is listed, not failed)",
)


@dataclass(frozen=True)
class Change:
    """One component's move between the two stacks."""

    component: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def __str__(self) -> str:
        if self.changed:
            return f"{self.component} {self.old} -> {self.new}"
        return f"{self.component} {self.new} (unchanged)"


@dataclass(frozen=True)
class UpgradePlan:
    """Everything that decides the upgrade's steps; `old`/`new` carry the cluster's name."""

    old: Stack  # renamed to the upgrade cluster, versions of FROM
    new: Stack  # renamed to the upgrade cluster, versions of TO
    from_name: str
    to_name: str
    to_kubernetes: str = ""  # what TO's own stack runs; the upgrade keeps FROM's cluster

    @property
    def kube_ovn(self) -> Change:
        return Change("Kube-OVN", self.old.kube_ovn, self.new.kube_ovn)

    @property
    def multus(self) -> Change:
        return Change("Multus", self.old.multus, self.new.multus)

    @property
    def cni_plugins(self) -> Change:
        return Change("CNI plugins", self.old.cni_plugins, self.new.cni_plugins)

    @property
    def cluster_name(self) -> str:
        return self.old.cluster_name()

    @property
    def skips_pod_restart(self) -> bool:
        """Whether the new install.sh honours DEL_NON_HOST_NET_POD=false."""
        return versions.at_least(self.new.kube_ovn, SKIP_POD_RESTART_SINCE, unknown=False)

    def install_env(self) -> dict[str, str]:
        """What install.sh gets on top of KUBECONFIG/PATH for the upgrade."""
        return dict(SKIP_POD_RESTART_ENV)

    def changed_downloads(self) -> list[str]:
        """URLs the upgrade downloads beyond FROM's install (the lock must cover them too)."""
        urls = [self.new.install_sh_url]
        if self.multus.changed:
            urls.append(self.new.multus_yaml_url)
        if self.cni_plugins.changed:
            urls.append(self.new.cni_plugins_url())
        return urls

    def changed_manifests(self) -> list[str]:
        """Which upstream manifests/scripts are applied again, and why."""
        out = [f"install.sh of Kube-OVN {self.new.kube_ovn} (re-run in place)"]
        if self.multus.changed:
            out.append(f"multus-daemonset-thick.yml of Multus {self.new.multus} (kubectl apply)")
        return out

    def as_stack_dict(self) -> dict[str, Any]:
        """The results' `stack` of the second run: TO's versions on a cluster that was FROM."""
        out = self.new.as_stack_dict()
        out["name"] = self.to_name
        out["upgraded_from"] = self.from_name
        return out


def cluster_label(from_name: str, new: Stack) -> str:
    """The upgrade cluster's stack name: never a kept FROM cluster of a plain run."""
    return f"up-{from_name}-to-{new.kube_ovn}"


def plan(old: Stack, new: Stack, field: str = "--upgrade-to") -> UpgradePlan:
    """The upgrade between two stacks of clusters/stacks.toml; BadInput for what cannot be one.

    `field` names the option in messages (`--upgrade-to` for pytest, `TO` for the CLI)."""
    if old.name == new.name:
        raise BadInput(f"{field}: {new.name} is the --upgrade-from stack; name two stacks")
    differ = [
        f for f in CLUSTER_FIELDS if f not in KEPT_FROM_OLD and getattr(old, f) != getattr(new, f)
    ]
    if differ:
        raise BadInput(
            f"{field}: {old.name} and {new.name} differ in {', '.join(differ)}, which an "
            "in-place upgrade of Kube-OVN/Multus cannot change; give both stacks the same "
            "cluster fields"
        )
    for what, a, b in (
        ("kube_ovn", old.kube_ovn, new.kube_ovn),
        ("multus", old.multus, new.multus),
    ):
        if (versions.parse(b) or (0, 0, 0)) < (versions.parse(a) or (0, 0, 0)):
            raise BadInput(
                f"{field}: {new.name}.{what} {b} is older than {old.name}'s {a}; "
                "a downgrade is not an upgrade check, swap --upgrade-from and --upgrade-to"
            )
    if old.kube_ovn == new.kube_ovn and old.multus == new.multus:
        raise BadInput(
            f"{field}: {old.name} and {new.name} run the same Kube-OVN and Multus; "
            "nothing to upgrade"
        )
    label = cluster_label(old.name, new)
    return UpgradePlan(
        dataclasses.replace(old, name=label),
        dataclasses.replace(new, name=label, **{f: getattr(old, f) for f in KEPT_FROM_OLD}),
        old.name,
        new.name,
        new.kubernetes,
    )


def adjacent_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """(older, next) for stacks sorted by version: the upgrades a release manager gates."""
    return list(zip(names, names[1:], strict=False))


# ----------------------------------------------------------------------------- the dry-run plan


def render(
    up: UpgradePlan, cases: Sequence[Case], cache: Path | None = None, lock: Lock | None = None
) -> str:
    """The whole in-place check as text: FROM's install and kept pods, the upgrade, the checks,
    the second run and the comparison. Builds on plan.render so both plans share their steps."""
    c = cache or cache_dir()
    tools = tools_paths(up.new, c)
    work = c / "clusters" / up.cluster_name
    kc = work / "kubeconfig"
    nodes = kind_node_names(up.cluster_name)
    pods = sum(case.n_replicas for case in cases)
    out: list[str] = []
    add = out.append
    add(f"# macmatrix in-place upgrade check: {up.from_name} -> {up.to_name} (kind backend)")
    add("# changes: " + "; ".join(str(ch) for ch in (up.kube_ovn, up.multus, up.cni_plugins)))
    add(f"# cluster {up.cluster_name}: created fresh for this check (an old one is deleted first)")
    if up.to_kubernetes and up.to_kubernetes != up.new.kubernetes:
        add(
            f"# Kubernetes stays {up.old.kubernetes} ({up.from_name}'s node image, kubectl "
            f"{up.old.kubectl}): an in-place upgrade keeps the cluster; {up.to_name} alone runs "
            f"{up.to_kubernetes}"
        )
    add("# Nothing below has been run: this is --dry-run.")
    add("")
    add(f"# ===== part 1: {up.from_name} as a normal run would install it, pods KEPT =====")
    install = render_install(up.old, cases, cache=c, lock=lock, teardown=False)
    install = install.replace(f"stack {up.old.name}", f"stack {up.from_name}", 1)
    install = install.replace(
        f"#   name: {up.old.name}", f"#   name: {up.from_name} (cluster label {up.old.name})", 1
    )
    add(install.rstrip("\n"))
    add("")
    add(f"## 8. keep the {pods} pod(s) of step 7: no teardown; snapshot each Running pod")
    add(f"  API: list pods in {PLACEHOLDER_NS} (uid, phase, restarts, annotations)")
    add("  exec per Running pod: cat /sys/class/net/eth0/address, cat /sys/class/net/net1/address")
    add("")
    add(f"# ===== part 2: upgrade in place to {up.to_name} =====")
    add(f"## 9. downloads of the new pins (cached, verified against {data.lock_label()})")
    out.extend(download_lines(up.changed_downloads(), c, lock))
    add("")
    add(f"## 10. {up.kube_ovn}: the new tag's install.sh, re-run in place")
    add("  (kubeovn/docs one-step-install, Upgrade: skip [Step 4/6], keep install parameters)")
    if up.new.kube_ovn != up.old.kube_ovn:
        out.extend(preload_lines(up.new, tools, up.cluster_name, images.KUBE_OVN))
        out.extend(install_sh_lines(up.new, tools, kc, work, c, up.install_env()))
        if not up.skips_pod_restart:
            add(
                f"  note: install.sh {up.new.kube_ovn} predates DEL_NON_HOST_NET_POD; its step 4 "
                "deletes only restartPolicy=Always pods, the matrix pods are Never"
            )
        add(
            f"  success = readiness: {kube_ovn_workloads()} rolled out and ready, "
            f"kube-ovn-cni image tag {up.new.kube_ovn}"
        )
    else:
        add(f"  unchanged ({up.new.kube_ovn}): skipped")
    add("")
    add(f"## 11. {up.multus}")
    if up.multus.changed:
        out.extend(multus_lines(up.new, tools, up.cluster_name, kc, work))
    else:
        add(f"  pin unchanged ({up.new.multus}): not touched")
    add("")
    add(f"## 12. copied CNI plugins, {up.cni_plugins} (kube-ovn-cni re-copies its own on start)")
    if up.cni_plugins.changed:
        out.extend(plugin_lines(up.new, inventory.inventory(up.new), nodes, work, c, replace=True))
    else:
        add(f"  release unchanged ({up.new.cni_plugins}): the copied plugins stay")
    add("")
    add("# ===== part 3: checks =====")
    add("## 13. the kept pods of step 7, snapshot again and compared with step 8; each must be:")
    for line in POD_CHECKS:
        add(f"  - {line}")
    add("")
    add(
        f"## 14. the matrix again on the upgraded cluster: {len(cases)} case(s), {pods} pod(s) in "
        f"a new namespace mm-<run-id-2>, pod image {up.new.pod_image}"
    )
    add("  the same NADs, Subnets and pods as step 7 (manifests above), in the same waves")
    add("  then delete both namespaces and the runs' Subnets")
    add("")
    add("## 15. compare the two runs (macmatrix compare: outcome + check ok-values per case)")
    add("  fail (exit 1) on a regression: works before the upgrade, broken after")
    add("  fail (exit 3) when infra errors left cases unchecked; fixes and changes are listed")
    add("")
    add("## 16. teardown")
    add(
        "  unless --keep-cluster:"
        + cmd_line(commands.kind_delete(tools.kind, up.cluster_name, kc))[1:]
    )
    add(f"  unless --keep-cluster: $ docker network rm {commands.network_name(up.new)}")
    return "\n".join(out) + "\n"
