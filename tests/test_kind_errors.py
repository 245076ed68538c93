"""The kind backend's failures read as one line with exit 2 (bad input) or 3 (infrastructure)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from macmatrix import cli
from macmatrix.backends.kind.kube import podstate
from macmatrix.backends.kind.kube.wait import wait_for
from macmatrix.backends.kind.stack import cluster as cluster_mod
from macmatrix.backends.kind.stack.cluster import KindLifecycle, Tools
from macmatrix.errors import InfraError
from macmatrix.spec import stacks


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_unknown_stack_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["run", "--backend", "kind", "--stack", "kube-ovn-v0.1", "--dry-run", "-q"])
    assert rc == 2
    line = _one_line(capsys)
    assert "unknown stack 'kube-ovn-v0.1'" in line and "kube-ovn-v1.14" in line


def test_missing_stack_runs_the_newest_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--backend", "kind", "--dry-run", "-k", "x2 and single"]) == 0
    out, err = capsys.readouterr()
    assert "no --stack given; using the newest, kube-ovn-v1.16" in err
    assert "# macmatrix kind plan: stack kube-ovn-v1.16" in out


def test_dry_run_with_a_known_stack_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(
        [
            "run",
            "--backend",
            "kind",
            "--stack",
            "kube-ovn-v1.15",
            "--dry-run",
            "-q",
            "-k",
            "ipam-kube-ovn",
        ]
    )
    assert rc == 0
    assert "# macmatrix kind plan: stack kube-ovn-v1.15" in capsys.readouterr().out


def test_no_docker_engine_is_one_infra_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cluster_mod.docker, "engine_answers", lambda timeout=2.0: False)
    lc = KindLifecycle(
        stacks.get("kube-ovn-v1.14"),
        Tools(tmp_path / "kind", tmp_path / "kubectl"),
        tmp_path / "w",
        keep=False,
        log=io.StringIO(),
    )
    with pytest.raises(InfraError, match="no Docker engine answers; start Docker") as e:
        lc.up()
    assert "\n" not in str(e.value)


def test_a_failing_command_names_what_failed(tmp_path: Path) -> None:
    script = tmp_path / "kind"
    script.write_text(
        "#!/bin/sh\necho 'detail one' >&2\n"
        "echo 'ERROR: failed to create cluster: node image pull' >&2\nexit 1\n"
    )
    script.chmod(0o755)
    with pytest.raises(
        InfraError, match="kind create failed: ERROR: failed to create cluster: node image pull"
    ):
        cluster_mod.sh([str(script)], "kind create")
    with pytest.raises(InfraError, match="not found"):
        cluster_mod.sh([str(tmp_path / "missing")], "kind get clusters")


def test_image_pull_failure_message() -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "image": "docker.io/kubeovn/kube-ovn:v1.14.41",
                    "state": {
                        "waiting": {"reason": "ErrImagePull", "message": "dial tcp: no route"}
                    },
                }
            ],
        },
    }
    state = podstate.classify(pod, [], 0.0)
    assert state.kind == podstate.INFRA
    assert (
        state.message == "image pull failed for docker.io/kubeovn/kube-ovn:v1.14.41: "
        "ErrImagePull: dial tcp: no route"
    )


def test_waits_say_what_they_waited_for() -> None:
    with pytest.raises(
        InfraError,
        match=r"timed out after 0s waiting for Multus to be ready; last seen: 'ds not ready'",
    ):
        wait_for(
            lambda: "ds not ready", lambda s: not s, 0.05, "Multus to be ready", interval_s=0.01
        )
    assert wait_for(lambda: "", lambda s: not s, 1, "nothing") == ""


def test_long_waits_report_progress() -> None:
    said: list[str] = []
    answers = iter(["pending", "pending", "pending", ""])
    wait_for(
        lambda: next(answers),
        lambda s: not s,
        5,
        "Kube-OVN to be ready",
        interval_s=0.01,
        say=said.append,
        say_every_s=0.0,
    )
    assert said and said[0].startswith("still waiting for Kube-OVN to be ready (")
    assert said[0].endswith("'pending'")
