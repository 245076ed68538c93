"""`macmatrix doctor [--backend kind|netns|auto]`: can this machine run a backend, and if not, why.

Each check prints one line: ok/WARN/FAIL, what was found, and for anything missing the fix.
Exit 0 when the chosen backend can run (for `auto`: either one), 3 when something it needs is
missing (an infrastructure problem, not a finding), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from macmatrix.build.cni import DEFAULT_BIN_DIRS
from macmatrix.spec import plugins

# kind's known-issues page: too few inotify watches/instances make kubelet or pods fail.
INOTIFY_MIN = {"max_user_watches": 524288, "max_user_instances": 512}
KIND_DISK_MIN_GB = 20.0  # two kind nodes + Kube-OVN, Multus images, with room to spare
# what the matrix's NADs exec: every main and meta plugin of the registry (spec/plugins), and
# the IPAM plugins the netns backend runs (kube-ovn IPAM runs as static there)
NETNS_PLUGINS = (
    *plugins.main_plugins(),
    *(p.name for p in plugins.meta_plugins()),
    "static",
    "host-local",
)
HOSTS = ("github.com", "dl.k8s.io", "raw.githubusercontent.com")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.required else "WARN")
        text = f"{mark} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n       fix: {self.fix}"


@dataclass
class Probe:
    """The machine, as the checks see it; tests pass their own functions."""

    which: Callable[[str], str | None] = shutil.which
    engine: Callable[[], bool] | None = None
    read: Callable[[str], str | None] | None = None
    free_gb: Callable[[Path], float] | None = None
    euid: Callable[[], int] = os.geteuid
    reach: Callable[[str], bool] | None = None
    registry: Callable[[str], str | None] | None = None  # None: the registry's v2 API answers
    exists: Callable[[Path], bool] = Path.exists
    rootless: Callable[[], str | None] | None = None  # None: works; else why not
    # netns: create and remove a real namespace (None: it worked, else why not)
    namespace: Callable[[], str | None] | None = None
    # netns: what dead runs left behind, and `mm-` namespaces no run record claims
    leftovers: Callable[[], tuple[list[str], list[str]]] | None = None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _free_gb(path: Path) -> float:
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free / 1e9


def _reach(host: str) -> bool:
    from macmatrix.backends.kind.stack.download import reachable

    return reachable(host)


def _engine() -> bool:
    from macmatrix.backends.kind.stack.docker import engine_answers

    return engine_answers()


def _namespace() -> str | None:
    from macmatrix.backends.netns.backend import namespace_probe

    return namespace_probe()


def _leftovers() -> tuple[list[str], list[str]]:
    from macmatrix.backends.netns import runs

    dead = [left.describe() for left in runs.leftovers()]
    dead += [f"probe namespace {n} (its process is gone)" for n in runs.dead_probes()]
    return dead, runs.unrecorded_namespaces()


def kind_checks(probe: Probe) -> list[Check]:
    from macmatrix.backends.kind.stack.cluster import tools_paths
    from macmatrix.backends.kind.stack.download import cache_dir
    from macmatrix.spec.stacks import load

    engine = probe.engine or _engine
    read = probe.read or _read
    free = probe.free_gb or _free_gb
    reach = probe.reach or _reach
    out: list[Check] = []
    docker = probe.which("docker")
    out.append(
        Check(
            "docker CLI",
            bool(docker),
            docker or "not on PATH",
            "install Docker (Debian: apt-get install docker.io; docs.docker.com/engine/install)",
        )
    )
    answers = bool(docker) and engine()
    out.append(
        Check(
            "docker engine",
            answers,
            "answers" if answers else "no answer within 2s",
            "start it (systemctl start docker, or `dockerd &` as root) and make sure your user "
            "may use /var/run/docker.sock",
        )
    )
    try:
        stacks = load()
    except Exception as e:  # a broken stacks.toml is reported, not raised, by doctor
        out.append(Check("clusters/stacks.toml", False, str(e), "restore clusters/stacks.toml"))
        stacks = {}
    cache = cache_dir()
    pinned = {(s.kind, s.kubectl): s for _, s in sorted(stacks.items())}
    for stack in pinned.values():
        tools = tools_paths(stack, cache)
        have = [p.name for p in (tools.kind, tools.kubectl) if probe.exists(p)]
        missing = [p for p in (tools.kind, tools.kubectl) if not probe.exists(p)]
        out.append(
            Check(
                f"kind {stack.kind} / kubectl {stack.kubectl}",
                not missing,
                f"cached: {', '.join(have)}" if not missing else "not cached yet",
                f"the first run downloads them into {cache} (needs internet)",
                required=False,
            )
        )
    offline = [h for h in HOSTS if not reach(h)]
    out.append(
        Check(
            "network",
            not offline,
            "download hosts reachable" if not offline else f"cannot reach {', '.join(offline)}",
            "kind needs internet for kind, kubectl, install.sh, Multus, CNI plugins and images; "
            "run where github.com, dl.k8s.io, docker.io and ghcr.io are reachable, or pre-fill "
            f"{cache} and `docker pull`/`kind load` the images",
        )
    )
    out.extend(registry_checks(list(stacks.values()), probe))
    for key, minimum in INOTIFY_MIN.items():
        raw = read(f"/proc/sys/fs/inotify/{key}")
        value = int(raw) if raw and raw.isdigit() else 0
        out.append(
            Check(
                f"fs.inotify.{key}",
                value >= minimum,
                f"{value or 'unknown'} (want >= {minimum})",
                f"sysctl -w fs.inotify.{key}={minimum} (persist in /etc/sysctl.d/)",
                required=False,
            )
        )
    for label, path in (("cache", cache), ("docker data", Path("/var/lib/docker"))):
        gb = free(path)
        out.append(
            Check(
                f"free disk ({label}: {path})",
                gb >= KIND_DISK_MIN_GB,
                f"{gb:.1f} GB free (want >= {KIND_DISK_MIN_GB:.0f} GB)",
                "free space or point MACMATRIX_CACHE / Docker's data-root elsewhere",
            )
        )
    return out


def registry_checks(stacks: list[Any], probe: Probe) -> list[Check]:
    """One line per registry the stacks' images come from (node image, Kube-OVN, Multus): its v2
    API must answer, probed at once with a short deadline (stack/registries.py)."""
    from macmatrix.backends.kind.stack import registries

    by_registry = registries.registries(stacks)
    answers = registries.probe_all(by_registry, probe.registry or registries.probe)
    out = []
    for name, images in by_registry.items():
        why = answers[name]
        api = registries.API_HOST.get(name, name)
        shown = ", ".join(sorted({i.split("@")[0].rsplit(":", 1)[0] for i in images}))
        out.append(
            Check(
                f"registry {name}",
                why is None,
                f"{api} answers ({shown})" if why is None else f"{why} (needed for {shown})",
                f"the run pulls {len(images)} image(s) from {name}; allow https to {api}, or "
                "`docker pull` them through a mirror before the run (they are then loaded "
                "into the nodes)",
            )
        )
    return out


def netns_checks(probe: Probe) -> list[Check]:
    out: list[Check] = [mode_check(probe)]
    dirs = [Path(d) for d in DEFAULT_BIN_DIRS]
    for plugin in NETNS_PLUGINS:
        found = [d for d in dirs if probe.exists(d / plugin)]
        out.append(
            Check(
                f"CNI plugin {plugin}",
                bool(found),
                str(found[0] / plugin) if found else f"not in {', '.join(map(str, dirs))}",
                "apt-get install containernetworking-plugins (Debian puts them in /usr/lib/cni) "
                "or unpack a CNI plugins release into /opt/cni/bin",
            )
        )
    if probe.euid() == 0:  # rootless: mode_check tried a namespace; its /run is private
        # uid 0 is not enough: a container may drop CAP_SYS_ADMIN/CAP_NET_ADMIN. Decide by doing.
        why = (probe.namespace or _namespace)()
        out.append(
            Check(
                "network namespace",
                why is None,
                "created a namespace with a veth and removed it" if why is None else why,
                "run as root outside a restricted container, or give it CAP_SYS_ADMIN and "
                "CAP_NET_ADMIN (docker run --cap-add SYS_ADMIN --cap-add NET_ADMIN)",
            )
        )
        dead, unrecorded = (probe.leftovers or _leftovers)()
        out.append(
            Check(
                "leftovers of killed runs",
                not dead,
                "; ".join(dead) if dead else "none",
                "macmatrix cleanup (removes only what runs whose process is gone left behind)",
                required=False,
            )
        )
        if unrecorded:
            out.append(
                Check(
                    "mm- namespaces without a run record",
                    False,
                    ", ".join(unrecorded),
                    "an older macmatrix may still use them; once none runs: ip netns delete NAME",
                    required=False,
                )
            )
    nsenter = probe.which("nsenter")
    out.append(
        Check("nsenter", bool(nsenter), nsenter or "not on PATH", "apt-get install util-linux")
    )
    try:
        import pyroute2  # noqa: F401

        out.append(Check("pyroute2", True, "importable"))
    except ImportError:
        out.append(Check("pyroute2", False, "not importable", "pip install pyroute2==0.9.7"))
    return out


def _go(probe: Probe) -> str | None:
    from macmatrix.backends.gobuild.toolchain import FALLBACK_GO

    found = probe.which("go")
    return found or next((g for g in FALLBACK_GO if probe.exists(Path(g))), None)


def plugin_release_checks(probe: Probe) -> list[Check]:
    """Each stack's CNI plugins release: cached, buildable with Go, or out of reach.

    Never required: without them the netns backend runs Debian's plugins (the default).
    """
    from macmatrix.backends.gobuild import cni_plugins
    from macmatrix.spec.stacks import load

    go = _go(probe)
    out = [
        Check(
            "Go toolchain",
            bool(go),
            go or "not found (PATH, /usr/local/go/bin)",
            "install Go (https://go.dev/dl, or Debian's golang-go if new enough) to run each "
            "stack's CNI plugins; without it the netns backend runs Debian's plugins only",
            required=False,
        )
    ]
    try:
        stacks = load()
    except Exception as e:  # a broken stacks.toml is reported, not raised, by doctor
        return out + [Check("clusters/stacks.toml", False, str(e), "restore it", required=False)]
    by_version: dict[str, list[str]] = {}
    for name, stack in sorted(stacks.items()):
        by_version.setdefault(stack.cni_plugins, []).append(name)
    for version, names in sorted(by_version.items()):
        vdir = cni_plugins.version_dir(version)
        is_cached = probe.exists(vdir / cni_plugins.MARKER)
        detail = (
            f"built in {vdir / 'bin'}"
            if is_cached
            else "not built yet; the first run with it builds it (go install, ~30 s)"
            if go
            else "not built, and no Go toolchain to build it"
        )
        out.append(
            Check(
                f"CNI plugins {version} ({', '.join(names)})",
                is_cached or bool(go),
                detail,
                f"install Go, or copy a cache that holds {vdir}",
                required=False,
            )
        )
    return out


def tiers(probe: Probe, ready: dict[str, bool]) -> list[str]:
    """What each tier makes real, and whether this machine can run it (from the checks)."""
    states = {
        c.name.removeprefix("CNI plugins ").split(" (")[0]: c.ok
        for c in plugin_release_checks(probe)
        if c.name.startswith("CNI plugins ")
    }
    builds = [v for v, ok in states.items() if ok]
    missing = [v for v, ok in states.items() if not ok]
    netns = ready.get("netns")
    lines = []
    if netns is not None:
        lines.append(
            "netns, Debian's plugins (real plugins in real netns, Multus emulated): "
            + ("yes" if netns else "no (see the netns FAIL lines)")
        )
        if not netns:
            state = "no (see the netns FAIL lines)"
        elif missing:
            state = ("only " + ", ".join(builds) + "; " if builds else "no: ") + (
                f"{', '.join(missing)} need a Go toolchain (Debian's plugins stay the default)"
            )
        else:
            state = f"yes ({', '.join(builds)})"
        lines.append(f"netns, each stack's plugins (--plugins VERSION / --stack NAME): {state}")
    lines.append(apiserver_tier(probe))
    lines.append(multus_tier(probe, netns))
    lines += multus_stacks(probe)
    if "kind" in ready:
        lines.append(
            "kind (cluster, Kube-OVN, Multus, pods): "
            + ("yes" if ready["kind"] else "no (see the kind FAIL lines)")
        )
    return lines


def multus_tier(probe: Probe, netns_ready: bool | None = None) -> str:
    """The real-Multus tier (`--backend multus`, backends/multus): whether it runs here, why not.

    It needs what netns needs, root (it runs etcd and kube-apiserver inside the run's node
    namespace), and the newest stack's multus, kube-apiserver and CNI plugins built (or Go to
    build them).
    """
    from macmatrix.backends.gobuild import cni_plugins, control_plane, multus
    from macmatrix.spec.stacks import get, newest

    head = (
        "multus (--backend multus: real thin Multus + kube-apiserver + the stack's plugins, "
        "beside the emulation; no kubelet)"
    )
    try:
        stack = get(newest())
    except Exception as e:  # a broken stacks.toml is reported, not raised, by doctor
        return f"{head}: no ({e})"
    why: list[str] = []
    if netns_ready is False:
        why.append("the netns backend cannot run here (see the netns FAIL lines)")
    if probe.euid() != 0:
        why.append("needs root (etcd and kube-apiserver run inside the run's node namespace)")
    builds = (
        (f"multus {stack.multus}", multus.version_dir(stack.multus) / multus.MARKER),
        (
            f"Kubernetes {stack.kubernetes}",
            control_plane.version_dir(stack.kubernetes) / control_plane.MARKER,
        ),
        (
            f"CNI plugins {stack.cni_plugins}",
            cni_plugins.version_dir(stack.cni_plugins) / cni_plugins.MARKER,
        ),
    )
    missing = [what for what, marker in builds if not probe.exists(marker)]
    if missing and not _go(probe):
        why.append(f"needs a Go toolchain to build {', '.join(missing)}")
    if why:
        return f"{head}: no ({'; '.join(why)})"
    if missing:
        return f"{head}: yes after a build of {', '.join(missing)} (~100 CPU-seconds for multus)"
    return f"{head}: yes (multus {stack.multus} built in {multus.binary(stack.multus).parent})"


def multus_stacks(probe: Probe) -> list[str]:
    """`--backend multus --stack S` per stack: its Multus and plugins, which kube-apiserver it
    runs against (the newest stack's where the stack's own cannot be built here:
    control_plane.REFUSED_BY_PROXY), and what is still to build."""
    from macmatrix.backends.gobuild import cni_plugins, control_plane, multus
    from macmatrix.spec.stacks import get, stack_names

    try:
        names = stack_names()
        newest = control_plane.stack_kubernetes()
    except Exception:  # a broken stacks.toml is reported by multus_tier already
        return []
    built = probe.exists
    lines = []
    for name in names:
        st = get(name)
        apiserver, note = st.kubernetes, ""
        own_built = built(control_plane.version_dir(st.kubernetes) / control_plane.MARKER)
        if st.kubernetes in control_plane.REFUSED_BY_PROXY and not own_built:
            apiserver = newest
            note = (
                f", NOT the stack's {st.kubernetes} "
                f"({control_plane.REFUSED_BY_PROXY[st.kubernetes]})"
            )
        missing = [
            what
            for what, marker in (
                (f"multus {st.multus}", multus.version_dir(st.multus) / multus.MARKER),
                (
                    f"kube-apiserver {apiserver}",
                    control_plane.version_dir(apiserver) / control_plane.MARKER,
                ),
                (
                    f"plugins {st.cni_plugins}",
                    cni_plugins.version_dir(st.cni_plugins) / cni_plugins.MARKER,
                ),
            )
            if not built(marker)
        ]
        state = f"needs a build of {', '.join(missing)}" if missing else "built"
        lines.append(
            f"  --stack {name}: multus {st.multus}, plugins {st.cni_plugins}, "
            f"kube-apiserver {apiserver}{note}; {state}"
        )
    return lines


def apiserver_tier(probe: Probe) -> str:
    """The real kube-apiserver + etcd tier (e2e/test_kube_apiserver.py, marker `apiserver`)."""
    from macmatrix.backends.gobuild import control_plane

    head = "apiserver (real kube-apiserver + etcd on 127.0.0.1, the Kubernetes layer; no kubelet)"
    try:
        version = control_plane.stack_kubernetes()
    except Exception as e:  # a broken stacks.toml is reported, not raised, by doctor
        return f"{head}: no ({e})"
    if probe.exists(control_plane.version_dir(version) / control_plane.MARKER):
        return f"{head}: yes (Kubernetes {version} built in {control_plane.bin_dir(version)})"
    if _go(probe):
        return (
            f"{head}: yes after a build of Kubernetes {version} "
            "(python -m macmatrix.backends.gobuild.control_plane; "
            "~500 CPU-seconds, ~3 GB of Go caches)"
        )
    return f"{head}: no (needs a Go toolchain to build Kubernetes {version})"


def mode_check(probe: Probe) -> Check:
    """Root, or rootless (a user namespace of its own, tried for real in a child), and why."""
    uid = probe.euid()
    if uid == 0:
        return Check("mode", True, "root (uid 0)")
    if probe.rootless is None:
        from macmatrix.backends.netns.rootless import probe as rootless_probe

        why = rootless_probe()
    else:
        why = probe.rootless()
    if why is None:
        return Check(
            "mode",
            True,
            f"rootless (uid {uid}): unprivileged user namespaces work here, so the run enters "
            "one of its own and is root over its own namespaces only",
        )
    return Check(
        "mode",
        False,
        f"not root, and no rootless netns (uid {uid}): {why}",
        "enable unprivileged user namespaces as said above, or run as root (sudo)",
    )


def usable(checks: Sequence[Check]) -> bool:
    return all(c.ok or not c.required for c in checks)


def backend_checks(name: str, probe: Probe) -> list[Check]:
    """The checks of one backend: doctor's detailed ones where it has them, else the
    registry's probe (backends/registry.py `unavailable`) as one line."""
    if name == "kind":
        return kind_checks(probe)
    if name == "netns":
        return netns_checks(probe) + plugin_release_checks(probe)
    from macmatrix.backends import registry

    why = registry.unavailable(name, argparse.Namespace())
    return [Check(f"{name} backend", why is None, why or "available", "see the line above")]


def report(choice: str, probe: Probe) -> int:
    """Print the checks of backend `choice` (auto: every backend auto may pick) and the tiers;
    the exit code."""
    from macmatrix.backends import registry

    verdicts: dict[str, bool] = {}
    auto = choice == registry.AUTO
    for backend in registry.auto_candidates() if auto else (choice,):
        checks = backend_checks(backend, probe)
        print(f"{backend} backend:")
        for c in checks:
            print("  " + c.line())
        verdicts[backend] = usable(checks)
        print(f"  => {backend}: {'ready' if verdicts[backend] else 'not ready (see FAIL lines)'}")
    print("tiers this machine can run:")
    for line in tiers(probe, verdicts):
        print("  " + line)
    if auto:
        picked, _why = registry.pick_auto(lambda entry: _auto_refuses(entry, probe))
        print(f"--backend auto would pick {picked}")
        return 0 if verdicts[picked] else 3
    return 0 if all(verdicts.values()) else 3


def _auto_refuses(entry: Any, probe: Probe) -> str | None:
    """The auto pick with doctor's probe for the Docker engine (tests inject it)."""
    if entry.name != "kind":
        return entry.auto_refuses()
    engine = (probe.engine or _engine)() if probe.which("docker") else False
    return None if engine else "no Docker engine answers"
