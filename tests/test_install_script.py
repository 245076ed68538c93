"""install.sh as a real subprocess: the deadline kills its whole process group and names the
step it hung in (also through `macmatrix run`, exit 3), and our copy of the script never writes
the host's /usr/local/bin.

The fake scripts here are ours: they echo `[Step N/6] ...` lines and end with the two
kubectl-ko lines the way kubeovn/kube-ovn dist/images/install.sh does at v1.13.15, v1.14.41,
v1.15.24 and v1.16.2 (`[Step 6/6] Run network diagnose`:
`kubectl cp kube-system/<pod>:/kube-ovn/kubectl-ko /usr/local/bin/kubectl-ko` and
`chmod +x /usr/local/bin/kubectl-ko`). Only `kubectl` is a stand-in (a shell script logging its
arguments); the script, its children, the kill and the files are real.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
import tenacity
from kubernetes import client

from macmatrix import cli
from macmatrix.backends.kind import session as kind_session
from macmatrix.backends.kind.stack import cluster as cluster_mod
from macmatrix.backends.kind.stack import commands, install, script
from macmatrix.backends.kind.stack.cluster import Tools
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import InfraError
from macmatrix.spec import stacks

KO_LINES = (
    'kubectl cp kube-system/"$(kubectl -n kube-system get pods -o name | head -1)"'
    ":/kube-ovn/kubectl-ko /usr/local/bin/kubectl-ko\n"
    "chmod +x /usr/local/bin/kubectl-ko\n"
)
# a manifest line of the script that names /usr/local/bin *inside the node*: never patched
NODE_PATH = "          - mountPath: /usr/local/bin\n"


def fake_install(path: Path, body: str) -> Path:
    manifest = "cat > /dev/null <<EOF\n" + NODE_PATH + "EOF\n"  # like install.sh's manifests
    path.write_text("#!/bin/bash\nset -euo pipefail\n" + manifest + body + KO_LINES)
    return path


def hanging_body(pidfile: Path) -> str:
    """Hangs in step 2 in a child (like `kubectl rollout status` that never returns)."""
    return (
        'echo "[Step 1/6] Label kube-ovn-master node and label datapath type"\n'
        'echo "[Step 2/6] Install OVN components"\n'
        f"sleep 300 & echo $! > {pidfile}\n"
        "wait\n"
        'echo "[Step 3/6] Install Kube-OVN"\n'
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"  # a zombie is dead for our purpose


def alive(pid: int) -> bool:
    """Whether `pid` still runs 5 s after its SIGKILL (delivery is asynchronous; on a loaded
    machine a killed process can take a moment to go)."""
    try:
        for attempt in tenacity.Retrying(
            stop=tenacity.stop_after_delay(5), wait=tenacity.wait_fixed(0.05), reraise=True
        ):
            with attempt:
                assert not _running(pid)
    except AssertionError:
        return True
    return False


def test_step_lines_are_recognised() -> None:
    assert script.step_of("[Step 3/6] Install Kube-OVN\n") == "[Step 3/6] Install Kube-OVN"
    assert script.step_of("  [Step 0/6] Generate SSL key and cert") is not None
    assert script.step_of("Step 3/6 Install") is None
    assert script.step_of("deployment.apps/ovn-central created") is None


def test_a_hanging_script_is_killed_with_its_children_at_the_deadline(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    sh = fake_install(tmp_path / "install.sh", hanging_body(pidfile))
    seen: list[str] = []
    t0 = time.monotonic()
    res = script.run(
        ["bash", str(sh)], dict(os.environ), tmp_path, tmp_path / "log", 1.0, on_line=seen.append
    )
    took = time.monotonic() - t0
    assert res.timed_out and res.returncode is None
    assert res.step == "[Step 2/6] Install OVN components"
    assert seen[-1] == "[Step 2/6] Install OVN components"
    assert took < 30, "the deadline did not stop the wait"  # 300 s if it were ignored
    child = int(pidfile.read_text())
    assert not alive(child), "the script's child outlived the kill of its process group"
    assert "[Step 1/6]" in (tmp_path / "log").read_text()


def test_a_script_that_ends_reports_its_exit_code_and_last_line(tmp_path: Path) -> None:
    sh = tmp_path / "s.sh"
    sh.write_text('echo "[Step 1/6] one"\necho "boom" >&2\nexit 4\n')
    res = script.run(["bash", str(sh)], dict(os.environ), tmp_path, tmp_path / "log", 30.0)
    assert (res.returncode, res.last, res.step, res.timed_out) == (
        4,
        "boom",
        "[Step 1/6] one",
        False,
    )


def test_install_script_copy_redirects_kubectl_ko_only(tmp_path: Path) -> None:
    text = NODE_PATH + 'if ! sh -c "echo :$PATH: | grep -q :/usr/local/bin:"; then :; fi\n'
    out = commands.install_script_copy(text + KO_LINES, tmp_path / "bin")
    assert commands.HOST_KUBECTL_KO not in out
    assert out.count(f"{tmp_path}/bin/kubectl-ko") == 2
    assert NODE_PATH in out  # the kube-ovn-cni pod's mount inside the node is untouched


@pytest.mark.parametrize("lines", ["", KO_LINES + KO_LINES])
def test_an_unexpected_install_script_shape_is_refused(tmp_path: Path, lines: str) -> None:
    with pytest.raises(InfraError, match="/usr/local/bin/kubectl-ko") as e:
        commands.install_script_copy("echo hi\n" + lines, tmp_path)
    assert "\n" not in str(e.value)


def _fake_kubectl(folder: Path, calls: Path) -> Path:
    """A stand-in kubectl: logs its argv; `cp SRC DST` writes DST (as the real one would)."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "kubectl"
    exe.write_text(
        "#!/bin/bash\n"
        f'echo "$@" >> {calls}\n'
        'if [ "$1" = cp ]; then echo "#!/bin/sh" > "$3"; fi\n'
        'if [ "$1" = get ]; then echo pod/kube-ovn-cni-abc; fi\n'
    )
    exe.chmod(0o755)
    return exe


def _installer(tmp_path: Path, script_path: Path, kubectl: Path) -> install.Installer:
    inst = install.Installer(
        stacks.get("kube-ovn-v1.14"),
        Tools(tmp_path / "kind", kubectl),
        Lock(tmp_path / "lock"),
        tmp_path / "kc",
        client.ApiClient(),
        tmp_path / "work",
        log=io.StringIO(),
    )
    return inst


def test_the_install_run_writes_kubectl_ko_into_the_work_folder_not_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Path(commands.HOST_KUBECTL_KO)
    before = host.stat().st_mtime_ns if host.exists() else None
    calls = tmp_path / "calls"
    kubectl = _fake_kubectl(tmp_path / "tools", calls)
    src = fake_install(tmp_path / "install.sh", 'echo "[Step 6/6] Run network diagnose"\n')
    monkeypatch.setattr(install, "fetch", lambda *a, **k: src)
    inst = _installer(tmp_path, src, kubectl)
    copy = inst.install_script()
    env = commands.install_env(inst.kubeconfig, kubectl, bindir=commands.plugin_bin(inst.work))
    rc, last = inst._stream(commands.install_sh(copy), env)
    assert rc == 0, last
    ko = commands.plugin_bin(inst.work) / "kubectl-ko"
    assert ko.exists() and ko.stat().st_mode & 0o111
    assert "/usr/local/bin" not in calls.read_text()
    assert (host.stat().st_mtime_ns if host.exists() else None) == before
    assert copy.parent == inst.work and copy != src  # a copy in the cache, not upstream's file


def test_the_install_deadline_fires_and_names_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "child.pid"
    src = fake_install(tmp_path / "install.sh", hanging_body(pidfile))
    monkeypatch.setattr(install, "fetch", lambda *a, **k: src)
    monkeypatch.setattr(install, "INSTALL_TIMEOUT_S", 1.0)
    inst = _installer(tmp_path, src, _fake_kubectl(tmp_path / "tools", tmp_path / "calls"))
    monkeypatch.setattr(inst, "kube_ovn_state", lambda: "deployment/ovn-central not ready")
    monkeypatch.setattr(inst, "untaint_control_plane", lambda: None)
    with pytest.raises(InfraError, match=r"hung at \[Step 2/6\] Install OVN components") as e:
        inst.kube_ovn(None)
    assert "\n" not in str(e.value) and "killed after 1s" in str(e.value)
    assert not alive(int(pidfile.read_text()))


def test_macmatrix_run_exits_3_with_one_line_naming_the_hung_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole `macmatrix run --backend kind` path down to install.sh, with the cluster and
    the API replaced (none can exist here) and a real hanging script."""
    pidfile = tmp_path / "child.pid"
    src = fake_install(tmp_path / "install.sh", hanging_body(pidfile))
    kubectl = _fake_kubectl(tmp_path / "tools", tmp_path / "calls")
    monkeypatch.setenv("MACMATRIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(install, "fetch", lambda *a, **k: src)
    monkeypatch.setattr(install, "INSTALL_TIMEOUT_S", 1.0)
    monkeypatch.setattr(
        kind_session, "ensure_tools", lambda *a, **k: Tools(tmp_path / "kind", kubectl)
    )
    monkeypatch.setattr(cluster_mod.KindLifecycle, "up", lambda self, fresh=False: False)
    monkeypatch.setattr(cluster_mod.KindLifecycle, "nodes", lambda self: ["n1"])
    monkeypatch.setattr(cluster_mod.KindLifecycle, "preload", lambda self, image: None)
    deleted: list[str] = []
    monkeypatch.setattr(cluster_mod.KindLifecycle, "down", lambda self: deleted.append(self.name))
    monkeypatch.setattr(kind_session, "new_api_client", lambda *_: client.ApiClient())
    monkeypatch.setattr(
        install.Installer, "kube_ovn_state", lambda self: "deployment/ovn-central not ready"
    )
    monkeypatch.setattr(install.Installer, "untaint_control_plane", lambda self: None)
    argv: list[Any] = ["run", "--backend", "kind", "--stack", "kube-ovn-v1.14", "-q"]
    rc = cli.main([*argv, "--out", str(tmp_path / "out"), "-k", "ipam-static"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3
    final = [line for line in err if "infrastructure failure" in line]
    assert len(final) == 1 and err[-1] == final[0]
    assert "install.sh hung at [Step 2/6] Install OVN components" in final[0]
    assert deleted == ["mm-kube-ovn-v1-14"]  # the cluster is still deleted on the way out
    assert not alive(int(pidfile.read_text()))
