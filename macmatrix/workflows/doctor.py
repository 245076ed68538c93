"""`macmatrix doctor [--backend NAME|auto] [--stack NAME]`: can this machine run a backend, and
if not, why.

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
GO_PROXY_S = 5.0  # one go.mod from the Go module proxy; all are asked at once
GO_CHECKS_S = 45.0  # all Go checks (a cold `go env GOVERSION` can take seconds)


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
    # may this file be run (find_go's test for $MACMATRIX_GO and /usr/local/go/bin/go)
    executable: Callable[[str], bool] = lambda path: os.access(path, os.X_OK)
    go_version: Callable[[str], str] | None = None  # None: `go env GOVERSION`
    # (proxy URL, module, version) -> that version's go.mod from the Go module proxy; raises
    # OSError when it does not answer (None: an HTTPS GET with a GO_PROXY_S deadline)
    go_mod: Callable[[str, str, str], str] | None = None


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


def kind_checks(probe: Probe, names: Sequence[str] | None = None) -> list[Check]:
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
        stacks = {n: s for n, s in load().items() if names is None or n in names}
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
    """Go as the builds find it (toolchain.find_go: $MACMATRIX_GO, PATH, /usr/local/go), seen
    through the probe."""
    from macmatrix.backends.gobuild.toolchain import find_go

    return find_go(which=probe.which, executable=probe.executable)


def stack_names(stack: str | None) -> list[str]:
    """The stacks doctor looks at: `--stack NAME` (checked: BadInput naming the known ones),
    else every stack of clusters/stacks.toml."""
    from macmatrix.spec import stacks

    if stack:
        stacks.get(stack)
        return [stack]
    return stacks.stack_names()


def go_modules(names: Sequence[str]) -> list[tuple[str, str]]:
    """(module, version) of everything the Go tiers build for these stacks: the CNI plugins,
    Multus, and the kube-apiserver the multus tier runs (control_plane.apiserver_for)."""
    from macmatrix.backends.gobuild import cni_plugins, control_plane, multus
    from macmatrix.spec.stacks import get

    found: set[tuple[str, str]] = set()
    for name in names:
        st = get(name)
        found.add((cni_plugins.MODULE, st.cni_plugins))
        found.add((multus.MODULE, st.multus))
        found.add((control_plane.KUBERNETES, control_plane.apiserver_for(st.kubernetes)[0]))
    return sorted(found)


def _fetch_go_mod(proxy: str, module: str, version: str) -> str:
    import urllib.request

    url = f"{proxy}/{module}/@v/{version}.mod"  # the GOPROXY protocol (go help goproxy)
    with urllib.request.urlopen(url, timeout=GO_PROXY_S) as answer:
        return str(answer.read(1_000_000).decode("utf-8", "replace"))


def _go_mods(
    probe: Probe, proxy: str, wanted: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str | Exception]:
    """Every wanted go.mod at once (daemon threads: a hung lookup never delays exit), each
    bounded by GO_PROXY_S; the text, or why not."""
    import threading
    import time

    fetch = probe.go_mod or _fetch_go_mod
    got: dict[tuple[str, str], str | Exception] = {}

    def one(key: tuple[str, str]) -> None:
        try:
            got[key] = fetch(proxy, *key)
        except Exception as e:  # a probe reports, it never raises
            got[key] = e

    threads = [threading.Thread(target=one, args=(k,), daemon=True) for k in wanted]
    for t in threads:
        t.start()
    end = time.monotonic() + GO_PROXY_S + 1
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    return {k: got.get(k, TimeoutError(f"no answer within {GO_PROXY_S:g}s")) for k in wanted}


def go_checks(probe: Probe, names: Sequence[str]) -> list[Check]:
    """Go for the builds of these stacks: the toolchain, the module proxy answering (each
    module's go.mod fetched, bounded), and the Go version against the newest `go` line of
    those go.mods (GOTOOLCHAIN=local: Go never fetches a newer toolchain for a build).

    Never required: without them the netns backend runs Debian's plugins (the default)."""
    from macmatrix.backends.gobuild import toolchain

    go = _go(probe)
    gover = ""
    if go:
        try:
            gover = (probe.go_version or toolchain.go_version)(go)
        except Exception as e:  # reported, not raised, by doctor
            gover = f"no answer to `go env GOVERSION` ({e})"
    out = [
        Check(
            "Go toolchain",
            bool(go) and gover.startswith("go"),
            f"{gover} at {go}" if go else "not found ($MACMATRIX_GO, PATH, /usr/local/go/bin)",
            "install Go (https://go.dev/dl, or Debian's golang-go if new enough), or point "
            "MACMATRIX_GO at one, to run each stack's CNI plugins, kube-apiserver and Multus; "
            "without it the netns backend runs Debian's plugins only",
            required=False,
        )
    ]
    wanted = go_modules(names)
    proxy = toolchain.module_proxy()
    mods: dict[tuple[str, str], str | Exception] = {}
    if proxy is None:
        out.append(
            Check(
                "Go module proxy",
                False,
                "GOPROXY is off or direct only: the builds fetch from no proxy",
                "unset GOPROXY (Go's default is https://proxy.golang.org) or name a mirror",
                required=False,
            )
        )
    else:
        mods = _go_mods(probe, proxy, wanted)
        failed = {f"{m}@{v}": e for (m, v), e in mods.items() if isinstance(e, Exception)}
        out.append(
            Check(
                "Go module proxy",
                not failed,
                f"{proxy} answers (go.mod of {len(wanted)} module versions the builds need)"
                if not failed
                else f"{proxy}: {len(failed)} of {len(wanted)} go.mod files not fetched ("
                + "; ".join(f"{k}: {e}" for k, e in sorted(failed.items())[:3])
                + ")",
                f"allow https to {proxy.split('://', 1)[-1]} (or set GOPROXY to a mirror); "
                "without it only what is cached runs",
                required=False,
            )
        )
    if go and gover.startswith("go"):
        out.append(go_version_check(gover, wanted, mods))
    return out


def go_version_check(
    gover: str, wanted: Sequence[tuple[str, str]], mods: dict[tuple[str, str], str | Exception]
) -> Check:
    """The local Go against the newest `go` line of the modules built: from the proxy's
    answer, else the copy in the module cache (a build fetched it before)."""
    from macmatrix.backends.gobuild import toolchain

    need: tuple[tuple[int, int, int], str] | None = None
    unknown = []
    for module, version in wanted:
        text = mods.get((module, version))
        if not isinstance(text, str):
            try:
                text = toolchain.cached_go_mod(toolchain.cache_root(), module, version).read_text()
            except OSError:
                text = None
        line = toolchain.go_directive(text) if text else None
        if line is None:
            unknown.append(f"{module}@{version}")
        elif need is None or line > need[0]:
            need = (line, f"{module}@{version}")
    have = toolchain.parse_go_version(gover)
    if need is None or have is None:
        return Check(
            "Go version",
            False,
            f"{gover}; cannot tell what the builds need (no go.mod of {', '.join(unknown)})",
            "let the Go module proxy answer (the line above), then run doctor again",
            required=False,
        )
    wants = ".".join(map(str, need[0]))
    ok = have >= need[0]
    return Check(
        "Go version",
        ok,
        f"{gover} {'meets' if ok else 'is older than'} go {wants}, the newest `go` line of "
        f"the modules built ({need[1]})"
        + (f"; unknown for {', '.join(unknown)}" if unknown else ""),
        f"install Go {wants} or newer (builds run with GOTOOLCHAIN=local: Go never fetches "
        "a newer toolchain behind your back)",
        required=False,
    )


def release_checks(probe: Probe, names: Sequence[str]) -> list[Check]:
    """Each stack's CNI plugins release: cached, buildable with Go, or out of reach.

    Never required: without them the netns backend runs Debian's plugins (the default).
    """
    from macmatrix.backends.gobuild import cni_plugins
    from macmatrix.spec.stacks import get

    go = _go(probe)
    by_version: dict[str, list[str]] = {}
    for name in sorted(names):
        by_version.setdefault(get(name).cni_plugins, []).append(name)
    out = []
    for version, named in sorted(by_version.items()):
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
                f"CNI plugins {version} ({', '.join(named)})",
                is_cached or bool(go),
                detail,
                f"install Go, or copy a cache that holds {vdir}",
                required=False,
            )
        )
    return out


def plugin_release_checks(
    probe: Probe, names: Sequence[str] | None = None, go: Sequence[Check] | None = None
) -> list[Check]:
    """The netns backend's Go side: go_checks (given, when report() ran them already, beside
    the other network probes) and each stack's plugins release."""
    try:
        names = list(names) if names is not None else stack_names(None)
        found = list(go) if go is not None else go_checks(probe, names)
        return found + release_checks(probe, names)
    except Exception as e:  # a broken stacks.toml is reported, not raised, by doctor
        return [Check("clusters/stacks.toml", False, str(e), "restore it", required=False)]


def tiers(probe: Probe, ready: dict[str, bool], names: Sequence[str] | None = None) -> list[str]:
    """What each tier makes real, and whether this machine can run it (from the checks)."""
    try:
        names = list(names) if names is not None else stack_names(None)
        states = {
            c.name.removeprefix("CNI plugins ").split(" (")[0]: c.ok
            for c in release_checks(probe, names)
        }
    except Exception:  # a broken stacks.toml: the checks above said so
        names, states = [], {}
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
    lines.append(multus_tier(probe, netns, names))
    lines += multus_stacks(probe, names)
    if "kind" in ready:
        lines.append(
            "kind (cluster, Kube-OVN, Multus, pods): "
            + ("yes" if ready["kind"] else "no (see the kind FAIL lines)")
        )
    return lines


def _multus_stack(probe: Probe, name: str) -> tuple[str, str, list[str]]:
    """(kube-apiserver it runs against, why not the stack's own ("" when it is), what is not
    built yet) of `--backend multus --stack NAME` (control_plane.REFUSED_BY_PROXY: the
    releases this Go proxy cannot build, docs/real-multus.md)."""
    from macmatrix.backends.gobuild import cni_plugins, control_plane, multus
    from macmatrix.spec.stacks import get

    st = get(name)
    built = probe.exists
    apiserver, note = st.kubernetes, ""
    own_built = built(control_plane.version_dir(st.kubernetes) / control_plane.MARKER)
    if st.kubernetes in control_plane.REFUSED_BY_PROXY and not own_built:
        apiserver = control_plane.stack_kubernetes()
        note = f"NOT the stack's {st.kubernetes} ({control_plane.REFUSED_BY_PROXY[st.kubernetes]})"
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
    return apiserver, note, missing


def multus_tier(
    probe: Probe, netns_ready: bool | None = None, names: Sequence[str] | None = None
) -> str:
    """The real-Multus tier (`--backend multus`, backends/multus): whether it runs here for the
    stacks asked about (every stack, or `--stack`), and why not.

    It needs what netns needs, root (it runs etcd and kube-apiserver inside the run's node
    namespace), and each stack's multus, kube-apiserver and CNI plugins built (or Go to build
    them); multus_stacks says it stack by stack.
    """
    head = (
        "multus (--backend multus: real thin Multus + kube-apiserver + the stack's plugins, "
        "beside the emulation; no kubelet)"
    )
    try:
        names = list(names) if names is not None else stack_names(None)
        missing = {name: _multus_stack(probe, name)[2] for name in names}
    except Exception as e:  # a broken stacks.toml is reported, not raised, by doctor
        return f"{head}: no ({e})"
    why: list[str] = []
    if netns_ready is False:
        why.append("the netns backend cannot run here (see the netns FAIL lines)")
    if probe.euid() != 0:
        why.append("needs root (etcd and kube-apiserver run inside the run's node namespace)")
    if why:
        return f"{head}: no ({'; '.join(why)})"
    to_build = list(dict.fromkeys(what for m in missing.values() for what in m))
    if not to_build:
        from macmatrix.spec.stacks import get

        built = sorted({get(n).multus for n in names})
        return f"{head}: yes (multus {', '.join(built)} built, {len(names)} stack(s))"
    if _go(probe):
        return f"{head}: yes after a build of {', '.join(to_build)} (~100 CPU-seconds a multus)"
    ready = [n for n, m in missing.items() if not m]
    blocked = ", ".join(n for n, m in missing.items() if m)
    reason = f"needs a Go toolchain to build {', '.join(to_build)}"
    if not ready:
        return f"{head}: no ({reason})"
    return f"{head}: only {', '.join(ready)}; {blocked}: no ({reason})"


def multus_stacks(probe: Probe, names: Sequence[str] | None = None) -> list[str]:
    """`--backend multus --stack S` per stack: its Multus and plugins, which kube-apiserver it
    runs against (the newest stack's where the stack's own cannot be built here:
    control_plane.REFUSED_BY_PROXY), and what is still to build, or why it cannot be."""
    from macmatrix.spec.stacks import get

    try:
        names = list(names) if names is not None else stack_names(None)
        states = {name: _multus_stack(probe, name) for name in names}
    except Exception:  # a broken stacks.toml is reported by multus_tier already
        return []
    go = _go(probe)
    lines = []
    for name, (apiserver, note, missing) in states.items():
        st = get(name)
        state = (
            "built"
            if not missing
            else f"needs a build of {', '.join(missing)}"
            if go
            else f"cannot run here: no Go toolchain to build {', '.join(missing)}"
        )
        lines.append(
            f"  --stack {name}: multus {st.multus}, plugins {st.cni_plugins}, "
            f"kube-apiserver {apiserver}{', ' + note if note else ''}; {state}"
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


def backend_checks(
    name: str, probe: Probe, names: Sequence[str] | None = None, go: Sequence[Check] | None = None
) -> list[Check]:
    """The checks of one backend: doctor's detailed ones where it has them (DETAILED), else
    the registry's probe (backends/registry.py `unavailable`) as one line."""
    detailed = DETAILED.get(name)
    if detailed is not None:
        return detailed(probe, names, go)
    from macmatrix.backends import registry

    stack = names[0] if names is not None and len(names) == 1 else None
    why = registry.unavailable(name, argparse.Namespace(stack=stack))
    return [Check(f"{name} backend", why is None, why or "available", "see the line above")]


# Doctor's detailed checks, by registered backend name (tests/test_doctor.py: every key is a
# registered backend). They stay here, not in the registry entries: they print doctor's Check
# lines through its injectable Probe (workflows layer), and backends never import upward.
DETAILED: dict[
    str, Callable[[Probe, Sequence[str] | None, Sequence[Check] | None], list[Check]]
] = {
    "kind": lambda probe, names, go: kind_checks(probe, names),
    "netns": lambda probe, names, go: netns_checks(probe) + plugin_release_checks(probe, names, go),
}


class _Later:
    """A function run in a daemon thread from now on, so its network waits overlap the other
    checks' (kind's hosts and registries); `get` waits for it with a deadline."""

    def __init__(self, fn: Callable[[], list[Check]]):
        import threading

        self._result: list[Check] | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], list[Check]]) -> None:
        try:
            self._result = fn()
        except Exception as e:  # reported by get()
            self._error = e

    def get(self, deadline_s: float) -> list[Check]:
        self._thread.join(deadline_s)
        if self._result is not None:
            return self._result
        why = str(self._error) if self._error else f"no answer within {deadline_s:g}s"
        return [Check("Go toolchain", False, why, "run doctor again", required=False)]


def report(choice: str, probe: Probe, stack: str | None = None) -> int:
    """Print the checks of backend `choice` (auto: every backend auto may pick) and the tiers,
    for every stack or `stack` alone; the exit code."""
    from macmatrix.backends import registry

    if stack:
        names: list[str] | None = stack_names(stack)  # unknown: BadInput, exit 2
    else:
        try:
            names = stack_names(None)
        except Exception:  # a broken stacks.toml is reported, not raised, by the checks
            names = None
    auto = choice == registry.AUTO
    backends = registry.auto_candidates() if auto else (choice,)
    go_later = (
        _Later(lambda: go_checks(probe, names or []))
        if names is not None and "netns" in backends
        else None
    )
    found: dict[str, list[Check]] = {}
    # netns (which waits for the Go checks) last, so kind's network probes overlap them
    for backend in sorted(backends, key=lambda b: b == "netns"):
        go = go_later.get(GO_CHECKS_S) if go_later and backend == "netns" else None
        found[backend] = backend_checks(backend, probe, names, go)
    verdicts: dict[str, bool] = {}
    for backend in backends:
        checks = found[backend]
        print(f"{backend} backend:")
        for c in checks:
            print("  " + c.line())
        verdicts[backend] = usable(checks)
        print(f"  => {backend}: {'ready' if verdicts[backend] else 'not ready (see FAIL lines)'}")
    print("tiers this machine can run" + (f" (--stack {stack})" if stack else "") + ":")
    for line in tiers(probe, verdicts, names):
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
