""".ci/run without a Go toolchain: on CI (CI=true) it fails in one line instead of skipping the
per-release matrix, the apiserver tests and the multus tier; elsewhere it says so and goes on.
Runs the script's own Go step (from `plugin_versions=""` to its `fi`), with Go made absent the
way macmatrix itself is told where Go is (MACMATRIX_GO, toolchain.find_go)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def go_step() -> str:
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    start = lines.index('plugin_versions=""')
    branch = next(i for i in range(start, len(lines)) if lines[i].startswith('if [ -n "$have_go"'))
    end = next(i for i in range(branch, len(lines)) if lines[i] == "fi")
    # what comes after decides on plugin_versions: print it so the test sees the decision
    return "\n".join([*lines[start : end + 1], 'echo "versions=[$plugin_versions]"'])


def run_step(ci: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["MACMATRIX_GO"] = str(tmp_path / "no-go-here")  # find_go: absent
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", go_step()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ci_without_go_fails_in_one_line(tmp_path: Path) -> None:
    proc = run_step("true", tmp_path)
    assert proc.returncode == 1
    assert "versions=" not in proc.stdout  # stopped before the tiers could be skipped
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "CI=true and no Go toolchain" in lines[0], proc.stderr
    assert "multus tier" in lines[0] and "install Go" in lines[0]


def test_a_developer_without_go_goes_on_with_debians_plugins(tmp_path: Path) -> None:
    proc = run_step(None, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no Go toolchain: the netns matrix runs with Debian's CNI plugins only" in proc.stdout
    assert "versions=[]" in proc.stdout
