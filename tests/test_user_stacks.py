"""A user's own stacks.toml and lock (`--stacks FILE`, `--lock FILE`; `$MACMATRIX_STACKS`,
`$MACMATRIX_LOCK`) instead of ours (issue 10 item 1: "a user's own files still override them by
flag"). Plans are real dry runs; the lock is written by the real download path with the network
replaced by the stand-in of tests/test_stack_checksums.py; our own files are checked unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from macmatrix import cli, data
from macmatrix.backends.kind import session
from macmatrix.backends.kind.stack.cluster import ensure_tools
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import InfraError
from macmatrix.spec import stacks

try:  # the stand-in network lives beside the checksum tests
    from test_stack_checksums import Net, net  # noqa: F401 - a fixture
except ImportError:  # tests/ imported as a package
    from tests.test_stack_checksums import Net, net  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
OURS = REPO / "clusters" / "stacks.toml"
# an extra stack with pins no stack of ours has together (Multus and plugins of other lines)
EXTRA = """
[stacks."my-extra"]
kube_ovn = "v1.16.2"
multus = "v4.2.3"
cni_plugins = "v1.8.0"
"""
SELECT = ["-k", "single and ipam-host-local and req-annotation and cni-1.0.0 and x1 and eth0-auto"]


@pytest.fixture
def mine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our stacks.toml plus one stack of the user's, in the user's folder."""
    monkeypatch.delenv(data.STACKS_ENV, raising=False)
    monkeypatch.delenv(data.LOCK_ENV, raising=False)
    path = tmp_path / "my-stacks.toml"
    path.write_text(OURS.read_text() + EXTRA)
    return path


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_the_users_extra_stack_is_planned_with_its_versions(
    mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--backend", "kind", "--stack", "my-extra", "--dry-run", *SELECT]
    assert cli.main([*argv, "--stacks", str(mine)]) == 0
    plan = capsys.readouterr().out
    assert plan.startswith("# macmatrix kind plan: stack my-extra")
    assert "#   multus: v4.2.3" in plan and "#   cni_plugins: v1.8.0" in plan
    assert "plugins/releases/download/v1.8.0/cni-plugins-linux-" in plan
    assert "multus-cni/v4.2.3/deployments/multus-daemonset-thick.yml" in plan
    # without the flag it is not ours to know
    assert cli.main(argv) == 2
    assert "--stack: unknown stack 'my-extra'" in one_line(capsys)


def test_the_environment_chooses_too_and_the_flag_wins(
    mine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(data.STACKS_ENV, str(mine))
    assert "my-extra" in stacks.stack_names()
    argv = ["run", "--backend", "kind", "--stack", "nope", "--dry-run", *SELECT]
    assert cli.main(argv) == 2
    assert "my-extra" in one_line(capsys)  # the unknown name lists the user's stacks
    assert cli.main([*argv, "--stacks", str(OURS)]) == 2
    assert "my-extra" not in one_line(capsys)
    assert data.stacks_file() == (mine, f"${data.STACKS_ENV}")  # the flag's choice is over


def test_upgrade_plans_read_the_users_stacks(
    mine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["baseline", "plan-upgrade", "kube-ovn-v1.15", "my-extra", "--stacks", str(mine)]
    assert cli.main(argv) == 0
    assert "kube-ovn-v1.15 -> my-extra" in capsys.readouterr().out
    assert cli.main([*argv, "--in-place"]) == 0
    assert "CNI plugins v1.9.1 -> v1.8.0" in capsys.readouterr().out
    assert cli.main(argv[:-2]) == 2  # ours has no my-extra
    assert "unknown stack 'my-extra'" in one_line(capsys)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "--stacks: cannot read"),
        ("[stacks.x\n", "not valid TOML"),
        ('[stacks."x"]\nkube_ovn = "v1.16.2"\n', "stacks.x lacks"),
        ("[defaults]\n", 'no [stacks."NAME"] tables'),
    ],
    ids=["missing", "syntax", "fields", "empty"],
)
@pytest.mark.parametrize("command", ["run", "doctor", "repro", "plan-upgrade"])
def test_a_broken_stacks_file_is_one_line_naming_the_flag_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    said: str,
    command: str,
) -> None:
    path = tmp_path / "broken.toml"
    if content is not None:
        path.write_text(content)
    argv = {
        "run": ["run", "--backend", "netns", "--dry-run"],
        "doctor": ["doctor", "--backend", "netns"],
        "repro": ["repro", str(REPO / "tests" / "data" / "corpus" / "issue-4834.yaml")],
        "plan-upgrade": ["baseline", "plan-upgrade", "a", "b"],
    }[command]
    assert cli.main([*argv, "--stacks", str(path)]) == 2
    err = one_line(capsys)
    assert "--stacks" in err and said in err and str(path) in err


def test_the_lock_flags_file_is_read_by_the_plan(
    mine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = stacks.get("my-extra", mine)
    digest = "e" * 64
    lock = tmp_path / "my.lock"
    lock.write_text(json.dumps({extra.kind_url(): digest}))
    argv = ["run", "--backend", "kind", "--stack", "my-extra", "--dry-run", *SELECT]
    assert cli.main([*argv, "--stacks", str(mine), "--lock", str(lock)]) == 0
    plan = capsys.readouterr().out
    assert f"verified against {lock})" in plan
    assert f"sha256 {digest} from {lock}" in plan
    assert json.loads(lock.read_text()) == {extra.kind_url(): digest}  # a plan writes nothing


def test_the_lock_flags_file_is_written_not_ours(mine: Path, tmp_path: Path, net: Net) -> None:
    """The kind path's download records the hash in the user's lock, created from ours."""
    ours = (REPO / data.LOCK).read_bytes()
    extra = stacks.get("my-extra", mine)
    kind_bin, kubectl_bin = b"\x7fELF stand-in kind", b"\x7fELF stand-in kubectl"
    sums = {
        u: hashlib.sha256(b).hexdigest()
        for u, b in [(extra.kind_url(), kind_bin), (extra.kubectl_url(), kubectl_bin)]
    }
    net.files[extra.kind_url()] = kind_bin
    net.files[extra.kind_url() + ".sha256sum"] = sums[extra.kind_url()].encode()
    net.files[extra.kubectl_url()] = kubectl_bin
    net.files[extra.kubectl_url() + ".sha256"] = sums[extra.kubectl_url()].encode()
    lock = tmp_path / "my.lock"
    with data.chosen(stacks=mine, lock=lock):
        assert session.lock_path() == lock
        ensure_tools(stacks.get("my-extra"), Lock(session.lock_path()), tmp_path / "cache")
    written = json.loads(lock.read_text())
    assert {u: written[u] for u in sums} == sums
    shipped = json.loads(ours)
    assert {u: written[u] for u in shipped} == shipped  # created from ours: nothing lost
    assert (REPO / data.LOCK).read_bytes() == ours
    assert session.lock_path() == REPO / data.LOCK  # the choice ends with the command


def test_the_lock_flag_is_in_force_for_the_whole_run(
    mine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Path] = []

    def open_backend(name: str, args: Any) -> Any:
        seen.append(session.lock_path())
        raise InfraError("stand-in: no cluster here")

    monkeypatch.setattr(cli, "open_backend", open_backend)
    lock = tmp_path / "my.lock"
    argv = ["run", "--backend", "kind", "--stack", "my-extra", "-q", *SELECT]
    code = cli.main([*argv, "--stacks", str(mine), "--lock", str(lock), "--out", str(tmp_path)])
    assert code == 3 and seen == [lock]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("{", "not valid JSON"),
        ('{"u": "nope"}', "is not a lower-case sha256"),
        ("[]", "JSON object"),
    ],
)
def test_a_broken_lock_is_one_line_naming_the_flag_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, said: str
) -> None:
    lock = tmp_path / "bad.lock"
    lock.write_text(content)
    argv = ["run", "--backend", "kind", "--dry-run", *SELECT, "--lock", str(lock)]
    assert cli.main(argv) == 2
    err = one_line(capsys)
    assert "--lock" in err and said in err
    assert cli.main([*argv[:-1], str(tmp_path / "no-such-folder" / "x.lock")]) == 2
    assert "--lock" in one_line(capsys)


def test_a_kind_config_beside_the_users_stacks_file_is_theirs(tmp_path: Path) -> None:
    path = tmp_path / "my-stacks.toml"
    path.write_text(
        OURS.read_text() + EXTRA.replace('v1.8.0"', 'v1.8.0"\ncluster_config = "my-kind.yaml"')
    )
    (tmp_path / "my-kind.yaml").write_text("kind: Cluster\n")
    assert stacks.get("my-extra", path).config_path() == tmp_path / "my-kind.yaml"
    # not beside it: ours
    assert (
        stacks.get(stacks.newest(), path).config_path()
        == stacks.clusters_dir() / "kind-kube-ovn.yaml"
    )


def test_the_pytest_plugin_takes_the_same_flags(mine: Path, tmp_path: Path) -> None:
    """`pytest --stacks FILE` is in force before the upgrade check's own option check reads it;
    a broken file is pytest's usage error (exit 4), one line naming the flag."""
    import subprocess
    import sys

    pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q"]
    upgrade = ["--upgrade-from", "kube-ovn-v1.15", "--upgrade-to", "my-extra"]
    upgrade.append("e2e/test_upgrade.py")
    proc = subprocess.run(
        [*pytest_cmd, "--stacks", str(mine), *upgrade],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[stacks.x\n")
    proc = subprocess.run(
        [*pytest_cmd, "--stacks", str(broken), *upgrade],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 4
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"ERROR: --stacks {broken}: ") and "not valid TOML" in errors[0]
