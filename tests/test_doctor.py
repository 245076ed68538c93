"""`macmatrix doctor`: every check names what is missing and the fix; exit 0 ready, 3 not."""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix import cli
from macmatrix.cli import doctor as doctor_cli
from macmatrix.errors import BadInput
from macmatrix.workflows import doctor


def probe(**overrides: object) -> doctor.Probe:
    """A machine that has everything, unless told otherwise."""
    base: dict[str, object] = dict(
        which=lambda name: f"/usr/bin/{name}",
        engine=lambda: True,
        read=lambda path: "1048576",
        free_gb=lambda path: 100.0,
        euid=lambda: 0,
        reach=lambda host: True,
        registry=lambda name: None,
        exists=lambda path: True,
        namespace=lambda: None,
        leftovers=lambda: ([], []),
        executable=lambda path: True,
        go_version=lambda go: "go1.26.8",
        go_mod=lambda proxy, module, version: f"module {module}\n\ngo 1.24.2\n",
    )
    base.update(overrides)
    return doctor.Probe(**base)  # type: ignore[arg-type]


def run(capsys: pytest.CaptureFixture[str], argv: list[str], p: doctor.Probe) -> tuple[int, str]:
    rc = doctor_cli.main(argv, probe=p)
    return rc, capsys.readouterr().out


def test_all_good(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, ["--backend", "kind"], probe())
    assert rc == 0 and "=> kind: ready" in out and "FAIL" not in out


def test_no_docker_engine(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, ["--backend", "kind"], probe(engine=lambda: False))
    assert rc == 3
    assert "FAIL docker engine: no answer within 2s" in out
    assert "fix: start it (systemctl start docker" in out


def test_offline_and_low_limits(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(
        capsys,
        ["--backend", "kind"],
        probe(reach=lambda h: h != "dl.k8s.io", read=lambda p: "8192", free_gb=lambda p: 3.0),
    )
    assert rc == 3
    assert "FAIL network: cannot reach dl.k8s.io" in out
    assert "WARN fs.inotify.max_user_watches: 8192 (want >= 524288)" in out
    assert "fix: sysctl -w fs.inotify.max_user_watches=524288" in out
    assert "FAIL free disk" in out and "3.0 GB free" in out


def test_uncached_tools_are_a_warning_with_where_they_go(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out = run(capsys, ["--backend", "kind"], probe(exists=lambda p: False))
    assert rc == 0
    # one line per distinct (kind, kubectl) pin: each line's Kubernetes has its own kubectl
    for kubectl in ("v1.33.2", "v1.33.7", "v1.35.1"):
        assert out.count(f"WARN kind v0.32.0 / kubectl {kubectl}: not cached yet") == 1


def test_netns_needs_root_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    no_tuning = probe(
        euid=lambda: 1000,
        exists=lambda p: Path(p).name != "tuning",
        rootless=lambda: "user namespaces are off (user.max_user_namespaces = 0); enable them",
    )
    rc, out = run(capsys, ["--backend", "netns"], no_tuning)
    assert rc == 3
    assert "FAIL mode: not root, and no rootless netns (uid 1000): user namespaces are off" in out
    assert "fix: enable unprivileged user namespaces as said above, or run as root" in out
    assert "FAIL CNI plugin tuning: not in /opt/cni/bin, /usr/lib/cni" in out
    assert "apt-get install containernetworking-plugins" in out
    assert "ok   CNI plugin macvlan" in out and "ok   CNI plugin bridge" in out


def test_auto_reports_both_and_the_pick(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, [], probe(engine=lambda: False))
    assert "kind backend:" in out and "netns backend:" in out
    assert "--backend auto would pick netns" in out and rc == 0


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(BadInput, match="--backend: invalid choice: 'qemu'"):
        doctor_cli.main(["--backend", "qemu"], probe=probe())
    assert cli.main(["doctor", "--backend", "qemu"]) == 2  # one line: tests/test_cli_edges.py


def test_the_real_machine_does_not_crash(capsys: pytest.CaptureFixture[str]) -> None:
    rc = doctor_cli.main(["--backend", "netns"])
    assert rc in (0, 3) and "netns backend:" in capsys.readouterr().out


def test_stack_plugin_releases_need_go_or_the_cache(capsys: pytest.CaptureFixture[str]) -> None:
    """Without Go and an empty cache, netns stays ready (Debian's plugins) and says what's out."""
    bare = probe(
        which=lambda name: None if name == "go" else f"/usr/bin/{name}",
        exists=lambda p: "/go/bin/" not in str(p) and "cni-plugins" not in str(p),
        executable=lambda p: "/go/bin/" not in p,
    )
    rc, out = run(capsys, ["--backend", "netns"], bare)
    assert rc == 0 and "=> netns: ready" in out
    assert "WARN Go toolchain: not found" in out
    assert "WARN CNI plugins v1.6.2 (kube-ovn-v1.13): not built, and no Go toolchain" in out
    assert "netns, Debian's plugins (real plugins in real netns, Multus emulated): yes" in out
    assert "each stack's plugins (--plugins VERSION / --stack NAME): no: v1.6.2" in out


def test_go_present_means_every_stack_release_can_run(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(
        capsys, ["--backend", "netns"], probe(exists=lambda p: "cni-plugins" not in str(p))
    )
    assert rc == 0
    assert "ok   CNI plugins v1.9.0 (kube-ovn-v1.14): not built yet; the first run" in out
    assert "each stack's plugins (--plugins VERSION / --stack NAME): yes (v1.6.2, v1.9.0" in out


def test_root_without_the_capabilities_is_not_ready(capsys: pytest.CaptureFixture[str]) -> None:
    denied = probe(namespace=lambda: "cannot create a network namespace here ([Errno 1] EPERM)")
    rc, out = run(capsys, ["--backend", "netns"], denied)
    assert rc == 3 and "FAIL network namespace: cannot create" in out
    assert "CAP_SYS_ADMIN" in out and "=> netns: not ready" in out


def test_leftovers_are_listed_with_the_command_that_removes_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead = (["run abc123 (pid 4242, gone): 3 namespace(s)"], ["mm-old-node"])
    rc, out = run(capsys, ["--backend", "netns"], probe(leftovers=lambda: dead))
    assert rc == 0  # a warning: the backend still runs
    assert "WARN leftovers of killed runs: run abc123 (pid 4242, gone)" in out
    assert "fix: macmatrix cleanup" in out
    assert "WARN mm- namespaces without a run record: mm-old-node" in out


def test_the_apiserver_tier_needs_go_or_the_cache(capsys: pytest.CaptureFixture[str]) -> None:
    no_go = probe(
        which=lambda name: None if name == "go" else f"/usr/bin/{name}",
        exists=lambda p: not any(k in str(p) for k in ("/go/bin/", "control-plane", "/multus/")),
        executable=lambda p: "/go/bin/" not in p,
    )
    _rc, out = run(capsys, ["--backend", "netns"], no_go)
    assert "apiserver (real kube-apiserver + etcd on 127.0.0.1" in out
    assert "no (needs a Go toolchain to build Kubernetes v1." in out
    assert "multus (--backend multus: real thin Multus + kube-apiserver" in out
    assert "needs a Go toolchain to build multus v4." in out
    _rc, out = run(capsys, ["--backend", "netns"], probe())
    assert "the Kubernetes layer; no kubelet): yes (Kubernetes v1." in out


def test_the_multus_tier_says_why_not(capsys: pytest.CaptureFixture[str]) -> None:
    from macmatrix.workflows.doctor import multus_tier

    line = multus_tier(probe(euid=lambda: 1000), netns_ready=False)
    assert "multus (--backend multus" in line and ": no (" in line
    assert "netns backend cannot run here" in line and "needs root" in line
    assert "no kubelet): yes (multus v4." in multus_tier(probe(), netns_ready=True)


def test_each_stack_says_which_kube_apiserver_the_multus_tier_runs() -> None:
    """A stack whose kube-apiserver the Go proxy refuses runs on the newest stack's, and doctor
    says so plainly; once its own is built (exists), it is its own again."""
    from macmatrix.backends.gobuild import control_plane
    from macmatrix.spec import stacks
    from macmatrix.workflows.doctor import multus_stacks

    newest = control_plane.stack_kubernetes()
    own_refused = lambda p: not any(v in str(p) for v in control_plane.REFUSED_BY_PROXY)  # noqa: E731
    lines = multus_stacks(probe(exists=own_refused))
    assert len(lines) == len(stacks.stack_names())
    for name, line in zip(stacks.stack_names(), lines, strict=True):
        st = stacks.get(name)
        assert f"--stack {name}: multus {st.multus}, plugins {st.cni_plugins}" in line
        if st.kubernetes in control_plane.REFUSED_BY_PROXY:
            assert f"kube-apiserver {newest}, NOT the stack's {st.kubernetes}" in line
        else:
            assert f"kube-apiserver {st.kubernetes};" in line
        assert line.endswith("; built")
    nothing = multus_stacks(probe(exists=lambda p: False))
    assert all("needs a build of multus v4." in line for line in nothing)
    assert not any("NOT the stack's" in line for line in multus_stacks(probe()))


NO_GO = dict(which=lambda name: None if name == "go" else f"/usr/bin/{name}")


def test_doctor_finds_go_as_the_builds_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One function (toolchain.find_go): $MACMATRIX_GO wins over PATH, as for the builds."""
    monkeypatch.setenv("MACMATRIX_GO", "/opt/go-1.26/bin/go")
    _rc, out = run(capsys, ["--backend", "netns"], probe())
    assert "ok   Go toolchain: go1.26.8 at /opt/go-1.26/bin/go" in out
    absent = probe(executable=lambda p: p != "/opt/go-1.26/bin/go")  # `go` is on PATH
    _rc, out = run(capsys, ["--backend", "netns"], absent)
    assert "WARN Go toolchain: not found ($MACMATRIX_GO" in out
    monkeypatch.delenv("MACMATRIX_GO")
    _rc, out = run(capsys, ["--backend", "netns"], probe(**NO_GO))  # type: ignore[arg-type]
    assert "ok   Go toolchain: go1.26.8 at /usr/local/go/bin/go" in out  # the fallback path


def test_the_go_proxy_and_the_go_version_builds_need(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every module the stacks build is asked for its go.mod; Go must meet the newest `go`
    line among them (GOTOOLCHAIN=local never fetches a newer one)."""
    from macmatrix.backends.gobuild import control_plane

    monkeypatch.delenv("GOPROXY", raising=False)
    monkeypatch.setenv("GOENV", "off")
    asked: list[tuple[str, str, str]] = []

    def go_mod(proxy: str, module: str, version: str) -> str:
        asked.append((proxy, module, version))
        need = "1.25.0" if module == control_plane.KUBERNETES else "1.23"
        return f"module {module}\n\ngo {need}\n"

    rc, out = run(capsys, ["--backend", "netns"], probe(go_mod=go_mod))
    assert rc == 0
    assert {a[0] for a in asked} == {"https://proxy.golang.org"}
    assert len(asked) == len(set(asked)) == len(doctor.go_modules(doctor.stack_names(None)))
    assert "ok   Go module proxy: https://proxy.golang.org answers" in out
    assert "ok   Go version: go1.26.8 meets go 1.25.0" in out and "k8s.io/kubernetes@v1.3" in out
    rc, out = run(
        capsys, ["--backend", "netns"], probe(go_mod=go_mod, go_version=lambda go: "go1.24.9")
    )
    assert rc == 0  # Debian's plugins still run: a warning, with the fix
    assert "WARN Go version: go1.24.9 is older than go 1.25.0" in out
    assert "fix: install Go 1.25.0 or newer" in out


def test_a_proxy_that_does_not_answer_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOPROXY", "https://goproxy.example,direct")
    monkeypatch.setenv("MACMATRIX_CACHE", str(tmp_path))  # no go.mod in the module cache

    def refused(proxy: str, module: str, version: str) -> str:
        raise OSError(f"403 Forbidden for {module}")

    _rc, out = run(
        capsys, ["--backend", "netns", "--stack", "kube-ovn-v1.16"], probe(go_mod=refused)
    )
    assert "WARN Go module proxy: https://goproxy.example: 3 of 3 go.mod files not fetched" in out
    assert "403 Forbidden for" in out
    assert "WARN Go version: go1.26.8; cannot tell what the builds need" in out
    monkeypatch.setenv("GOPROXY", "off")
    _rc, out = run(capsys, ["--backend", "netns"], probe(go_mod=refused))
    assert "WARN Go module proxy: GOPROXY is off or direct only" in out


def test_the_real_proxy_answers_within_its_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    """The real probe against this machine's proxy (skipped where Go is absent)."""
    from macmatrix.backends.gobuild import toolchain

    if not toolchain.find_go():
        pytest.skip("no Go toolchain on this machine")
    checks = doctor.go_checks(doctor.Probe(), ["kube-ovn-v1.16"])
    names = {c.name: c for c in checks}
    assert names["Go toolchain"].ok
    proxy = names["Go module proxy"]
    assert proxy.ok or "not fetched" in proxy.detail  # either way, an answer in bounded time
    assert "Go version" in names


def test_the_multus_tier_per_stack_and_for_one_stack(capsys: pytest.CaptureFixture[str]) -> None:
    """Every stack gets a line saying whether it runs and why not; --stack narrows all of it."""
    from macmatrix.spec import stacks

    no_go_v13 = probe(
        **NO_GO,
        executable=lambda p: "/go/bin/" not in p,
        exists=lambda p: "v4.1.3" not in str(p),  # kube-ovn-v1.13's multus is not built
    )
    _rc, out = run(capsys, ["--backend", "netns"], no_go_v13)
    tier = next(ln for ln in out.splitlines() if "multus (--backend multus" in ln)
    others = ", ".join(n for n in stacks.stack_names() if n != "kube-ovn-v1.13")
    assert tier.endswith(
        f"only {others}; kube-ovn-v1.13: no (needs a Go toolchain to build multus v4.1.3)"
    )
    assert "--stack kube-ovn-v1.13: multus v4.1.3" in out
    assert "cannot run here: no Go toolchain to build multus v4.1.3" in out
    _rc, out = run(capsys, ["--backend", "netns", "--stack", "kube-ovn-v1.15"], no_go_v13)
    assert "tiers this machine can run (--stack kube-ovn-v1.15):" in out
    assert "yes (multus v4.2.3 built, 1 stack(s))" in out
    assert "kube-ovn-v1.13" not in out and "CNI plugins v1.9.0" not in out
    assert cli.main(["doctor", "--stack", "kube-ovn-v9"]) == 2


def test_the_go_proxy_is_asked_while_kinds_hosts_are(capsys: pytest.CaptureFixture[str]) -> None:
    """auto checks kind and netns: the go.mod fetches run while kind's host probes do, not
    before or after them (each side waits a little for the other to be under way)."""
    import threading

    fetching, reaching = threading.Event(), threading.Event()
    fetch_saw_reach: list[bool] = []
    reach_saw_fetch: list[bool] = []

    def go_mod(proxy: str, module: str, version: str) -> str:
        fetching.set()
        fetch_saw_reach.append(reaching.wait(3))
        return f"module {module}\n\ngo 1.24\n"

    def reach(host: str) -> bool:
        reaching.set()
        reach_saw_fetch.append(fetching.wait(3))
        return True

    run(capsys, ["--backend", "auto"], probe(go_mod=go_mod, reach=reach))
    assert fetch_saw_reach and all(fetch_saw_reach)
    assert reach_saw_fetch and all(reach_saw_fetch)


def test_detailed_checks_belong_to_registered_backends(capsys: pytest.CaptureFixture[str]) -> None:
    """A renamed or removed backend cannot keep dead detailed checks; every other registered
    backend gets the registry's own one-line probe."""
    from macmatrix.backends import registry

    assert set(doctor.DETAILED) <= set(registry.names())
    for name in set(registry.names()) - set(doctor.DETAILED):
        checks = doctor.backend_checks(name, probe(), ["kube-ovn-v1.16"])
        assert [c.name for c in checks] == [f"{name} backend"]
