"""The whole kind-backend plan as text, touching nothing (`macmatrix run --backend kind --dry-run`).

Built from the same command builders and manifests the real run uses, so reviewing the plan is
reviewing the run: the kind config, every command in order, and every manifest of the matrix.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import yaml

from macmatrix import data
from macmatrix.backends.kind.kube.matrix import WAVE_PODS, plan_waves
from macmatrix.backends.kind.stack import checksums, commands, images, inventory, node_images
from macmatrix.backends.kind.stack.cluster import Tools, tools_paths
from macmatrix.backends.kind.stack.download import cache_dir, cached_path
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.build import manifests
from macmatrix.spec.cases import Case
from macmatrix.spec.stacks import Stack

PLACEHOLDER_NS = "mm-<run-id>"


def kind_node_names(cluster: str) -> list[str]:
    """kind's node container names for clusters/kind-kube-ovn.yaml (1 control-plane, 1 worker)."""
    return [f"{cluster}-control-plane", f"{cluster}-worker"]


def cmd_line(argv: Sequence[str]) -> str:
    """A command as a plan line (also in the upgrade plan, stack/upgrade.py)."""
    return "  $ " + shlex.join(argv)


def download_lines(urls: Sequence[str], cache: Path, lock: Lock | None) -> list[str]:
    """Each download, where it is cached and how its checksum is verified (download.fetch)."""
    out = []
    for url in urls:
        known = lock.expected(url) if lock else None
        published = checksums.published_for(url)
        if known:
            state = f"sha256 {known} from {data.lock_label()}"
        elif published:
            state = f"verified against upstream's {published.rsplit('/', 1)[-1]}, then locked"
        else:
            state = "no checksum published upstream: sha256 locked on first download"
        out.append(f"  GET {url}")
        if published and not known:
            out.append(f"  GET {published}   # published sha256, checked before locking")
        out.append(f"      -> {cached_path(url, cache)}  ({state})")
    return out


def kube_ovn_workloads(sep: str = ", ") -> str:
    """Kube-OVN's deployments and daemonsets, whose readiness says it is installed."""
    return (
        "deployments "
        + ", ".join(commands.KUBE_OVN_DEPLOYMENTS)
        + sep
        + "daemonsets "
        + ", ".join(commands.KUBE_OVN_DAEMONSETS)
    )


def preload_lines(stack: Stack, tools: Tools, cluster: str, phase: str) -> list[str]:
    """Pull (when the host lacks it) and `kind load` each image `phase` needs (stack/images.py)."""
    out = []
    for item in images.preloads(stack, phase):
        pod = " (also the matrix pods' image)" if item.image == stack.pod_image else ""
        out.append(f"  image {item.image}{pod}: pulled with progress, then loaded into every node")
        out.append(
            cmd_line(commands.docker_image_present(item.image)) + "   # pull only if missing"
        )
        out.append(cmd_line(commands.docker_pull(item.image)))
        out.append(cmd_line(commands.kind_load_image(tools.kind, cluster, item.image)))
    return out


def install_sh_lines(
    stack: Stack,
    tools: Tools,
    kubeconfig: Path,
    work: Path,
    cache: Path,
    extra_env: dict[str, str] | None = None,
) -> list[str]:
    """Our copy of the tag's install.sh (kubectl-ko kept off the host), its run and deadline."""
    from macmatrix.backends.kind.stack.install import INSTALL_TIMEOUT_S

    copy = commands.install_script_path(work, stack.kube_ovn)
    bindir = commands.plugin_bin(work)
    env = "".join(f" {k}={v}" for k, v in (extra_env or {}).items())
    return [
        f"  write {copy} = {cached_path(stack.install_sh_url, cache)}",
        f"        with {commands.HOST_KUBECTL_KO} -> {bindir}/kubectl-ko "
        "(its [Step 6/6]; nothing on the host is written)",
        f"  env KUBECONFIG={kubeconfig} PATH={bindir}:{tools.kubectl.parent}:$PATH{env}",
        cmd_line(commands.install_sh(copy))
        + f"   # own process group; killed after {INSTALL_TIMEOUT_S:.0f}s, naming its [Step N/6]",
    ]


def multus_lines(
    stack: Stack, tools: Tools, cluster: str, kubeconfig: Path, work: Path
) -> list[str]:
    """Installing the stack's Multus thick: pull and load its image, then apply."""
    manifest = work / f"multus-daemonset-thick-{stack.multus}.yml"
    return [
        *preload_lines(stack, tools, cluster, images.MULTUS),
        f"  write {manifest} = {stack.multus_yaml_url}",
        f"        with ':snapshot-thick' -> ':{stack.multus}-thick'",
        *(cmd_line(argv) for argv in commands.multus_apply(tools.kubectl, kubeconfig, manifest)),
    ]


def node_image_lines(stack: Stack) -> list[str]:
    """Which Kubernetes the node image runs, why that one, and where its digest comes from."""
    out = [f"# node image {stack.node_image}: Kubernetes {stack.kubernetes}"]
    line = node_images.line_kubernetes(stack.kube_ovn)
    if line is None:
        out.append(f"#   Kube-OVN {stack.kube_ovn}: no upstream kind version in node_images.py")
    elif line[0] == stack.kubernetes:
        out.append(f"#   what Kube-OVN {stack.kube_ovn} tests on kind: {line[1]}")
    else:
        out.append(f"#   NOT what Kube-OVN {stack.kube_ovn} tests on kind ({line[0]}: {line[1]})")
    known = node_images.for_image(stack.node_image)
    out.append(
        f"#   digest from {known.digest_source}"
        if known
        else "#   digest not in node_images.py: as given in stacks.toml"
    )
    note = node_images.ipvs_note(stack.kubernetes)
    if note:
        out.append(f"#   {note}")
    return out


def plugin_lines(
    stack: Stack,
    inv: inventory.Inventory,
    nodes: Sequence[str],
    work: Path,
    cache: Path,
    replace: bool = False,
) -> list[str]:
    """/opt/cni/bin of every node with each binary's source, then the copies the harness makes
    (Installer.plugins): only where missing, or everywhere when `replace` (an upgrade)."""
    out = [f"  /opt/cni/bin on every node of {stack.name} (plugin, where it comes from):"]
    out.extend("    " + line for line in inventory.describe(inv))
    tarball = cached_path(stack.cni_plugins_url(), cache).name
    local = work / f"cni-{stack.cni_plugins}"
    out.append(f"  extract {', '.join('./' + n for n in inv.installs)} from {tarball} -> {local}/")
    for node in nodes:
        for name in inv.installs:
            if replace:
                note = "   # replaces the old release's copy"
            else:
                out.append(cmd_line(commands.plugin_present(node, name)) + "   # copy if missing")
                note = ""
            out.extend(
                cmd_line(argv) + note for argv in commands.plugin_copy(node, local / name, name)
            )
    return out


def api_calls(cases: Sequence[Case], wave_pods: int | None = WAVE_PODS) -> dict[str, int]:
    """Design numbers: API calls of the matrix phase, excluding watch chunks and retries."""
    pods = sum(c.n_replicas for c in cases)
    subnets = sum(1 for c in cases if c.ipam == "kube-ovn")
    return {
        "setup": 1 + len(cases) + subnets,  # namespace, NADs, Subnets
        "pod_creates": pods,
        "execs": 2 * pods,  # eth0 and net1
        "shared": 3,  # the IP CR list, namespace delete, >=1 event list
        "subnet_deletes": subnets,
        "waves": len(plan_waves(cases, wave_pods)),
    }


def wave_lines(cases: Sequence[Case], wave_pods: int | None) -> list[str]:
    """Which cases start together (kube/matrix.plan_waves); each wave settles before the next."""
    out = []
    waves = plan_waves(cases, wave_pods)
    for i, wave in enumerate(waves, 1):
        n = sum(c.n_replicas for c in wave)
        span = wave[0].id if len(wave) == 1 else f"{wave[0].id} .. {wave[-1].id}"
        out.append(f"  wave {i}/{len(waves)}: {len(wave)} case(s), {n} pod(s): {span}")
    out.append(
        "  a sandbox error with a transient cause (kube/transient.py) is waited out, then "
        "infra-error and retried; only a plugin's own refusal is a finding"
    )
    return out


def render(
    stack: Stack,
    cases: Sequence[Case],
    kubeconfig: str | None = None,
    cache: Path | None = None,
    lock: Lock | None = None,
    teardown: bool = True,
    wave_pods: int | None = WAVE_PODS,
) -> str:
    """The plan text; `teardown=False` stops after the matrix (the upgrade check keeps pods);
    `wave_pods` is the most pods started at once (MACMATRIX_WAVE_PODS, backends/kind.py)."""
    c = cache or cache_dir()
    tools = tools_paths(stack, c)
    name = stack.cluster_name()
    kc = Path(kubeconfig) if kubeconfig else c / "clusters" / name / "kubeconfig"
    work = c / "clusters" / name
    nodes = kind_node_names(name)
    inv = inventory.inventory(stack)
    if not kubeconfig:  # as run(): an existing cluster's nodes are the user's to equip
        inventory.check_cases(inv, cases)
    out: list[str] = []
    add = out.append

    add(f"# macmatrix kind plan: stack {stack.name}")
    for key, value in stack.as_stack_dict().items():
        add(f"#   {key}: {value}")
    out.extend(node_image_lines(stack))
    add("# Nothing below has been run: this is --dry-run.")
    add("")
    add(f"## 1. downloads (cached, verified against {data.lock_label()})")
    out.extend(download_lines([] if kubeconfig else stack.downloads(), c, lock))
    if kubeconfig:
        add("  none: an existing cluster is used as it is")
    add("")

    if kubeconfig:
        add("## 2. cluster: existing, from --kubeconfig (no kind create/delete, no installs)")
        add(f"  use {kc}")
        add(f"  check: Kube-OVN {kube_ovn_workloads('; ')}; ds/{commands.MULTUS_DS} ready")
        add("  the NADs expect a macvlan master `eth1` on every node (or use master=eth0-in-pod)")
        add("")
    else:
        add(f"## 2. cluster {name} (pytest-kind-ng KindCluster with the pinned kind/kubectl)")
        add(f"  kind config {stack.config_path()}:")
        for line in stack.config_path().read_text().splitlines():
            add("    | " + line)
        add("  docker engine must answer (docker version)")
        add(cmd_line(commands.kind_get_clusters(tools.kind)))
        add("  if the cluster exists (kept by --keep-cluster):")
        add("  " + cmd_line(commands.kind_export_kubeconfig(tools.kind, name, kc)))
        add("  else:")
        add(
            "  "
            + cmd_line(
                commands.kind_create(tools.kind, name, kc, stack.node_image, stack.config_path())
            )
        )
        add(cmd_line(commands.kind_get_nodes(tools.kind, name)))
        add("")
        add(f"## 3. Kube-OVN {stack.kube_ovn} (skipped when already ready at this tag)")
        add(f"  API: remove the {commands.CONTROL_PLANE_TAINT} taint from control-plane nodes")
        out.extend(preload_lines(stack, tools, name, images.KUBE_OVN))
        out.extend(install_sh_lines(stack, tools, kc, work, c))
        add(
            f"  success = readiness, not the exit code: {kube_ovn_workloads()} ready, "
            f"kube-ovn-cni image tag {stack.kube_ovn}"
        )
        add("")
        add(f"## 4. Multus {stack.multus} thick (skipped when already ready at this tag)")
        out.extend(multus_lines(stack, tools, name, kc, work))
        add("")
        copied = f"{', '.join(inv.installs)} from {stack.cni_plugins}"
        add(f"## 5. CNI plugins into every node ({copied})")
        out.extend(plugin_lines(stack, inv, nodes, work, c))
        add("")
        net = commands.network_name(stack)
        add(f"## 6. macvlan master: docker network {net}, its NIC named eth1 in every node")
        add(
            cmd_line(["docker", "network", "create", "--driver", "bridge", net]) + "   # if missing"
        )
        for node in nodes:
            add(cmd_line(["docker", "network", "connect", net, node]) + "   # if not connected")
            add(cmd_line(["docker", "inspect", node]) + f"   # the MAC Docker gave it on {net}")
            add(
                cmd_line(["docker", "exec", node, "ip", "-o", "link", "show"])
                + "   # the NIC with that MAC"
            )
            add(
                "  "
                + cmd_line(
                    ["docker", "exec", node, "ip", "link", "set", "dev", "<nic>", "name", "eth1"]
                )
                + "   # only when it is not eth1 already"
            )
        add("")

    calls = api_calls(cases, wave_pods)
    pods = calls["pod_creates"]
    add(
        f"## 7. the matrix: {len(cases)} case(s), {pods} pod(s), {calls['waves']} wave(s) of at "
        f"most {wave_pods or pods} pods (pod image {stack.pod_image}, already on every node)"
    )
    out.extend(wave_lines(cases, wave_pods))
    add(
        f"  API calls: {calls['setup']} setup + {pods} pod creates + {calls['execs']} execs "
        f"+ {calls['shared']} shared (+ one watch and one event list per {5}s chunk)"
    )
    add(
        f"  namespace {PLACEHOLDER_NS}; exec per running pod: "
        "cat /sys/class/net/eth0/address, cat /sys/class/net/net1/address"
    )
    add(
        "  read: network-status, ovn.kubernetes.io/* and <provider>.kubernetes.io/* annotations, "
        "Kube-OVN IP CRs (spec.macAddress)"
    )
    add(
        "  diagnostics for every case that is not fully fine: pod YAML, events, Multus and "
        "kube-ovn-cni logs on its node, /sys/class/net/* in the pod"
    )
    for case in cases:
        add("")
        add(f"### {case.id}")
        docs = []
        subnet = manifests.subnet(case, PLACEHOLDER_NS)
        if subnet:
            docs.append(subnet)
        docs.append(manifests.nad(case, PLACEHOLDER_NS))
        docs.extend(manifests.pods(case, PLACEHOLDER_NS, stack.pod_image))
        add(yaml.safe_dump_all(docs, sort_keys=False).rstrip())
    add("")
    if not teardown:
        return "\n".join(out) + "\n"
    add("## 8. teardown")
    add(f"  API: delete namespace {PLACEHOLDER_NS} and the run's Subnets")
    if not kubeconfig:
        add("  unless --keep-cluster:" + cmd_line(commands.kind_delete(tools.kind, name, kc))[1:])
        add(f"  unless --keep-cluster: $ docker network rm {commands.network_name(stack)}")
    return "\n".join(out) + "\n"
