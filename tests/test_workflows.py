"""The GitHub workflows, offline: schema-valid, and wired to commands that really exist."""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from macmatrix import cli, run

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
CI, NIGHTLY = WORKFLOWS / "ci.yml", WORKFLOWS / "nightly.yml"


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc  # type: ignore[no-any-return]


def steps(doc: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return doc["jobs"][job]["steps"]  # type: ignore[no-any-return]


def scripts(doc: dict[str, Any], job: str | None = None) -> str:
    jobs = [job] if job else list(doc["jobs"])
    return "\n".join(s.get("run", "") for j in jobs for s in steps(doc, j))


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema")
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("path", [CI, NIGHTLY], ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path: Path) -> None:
    proc = validate(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_really_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = NIGHTLY.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1)
    assert text != NIGHTLY.read_text()
    broken.write_text(text)
    assert validate(broken).returncode != 0


def test_ci_runs_lint_unit_and_netns_as_root() -> None:
    doc = load(CI)
    assert {"push", "pull_request"} <= set(doc["on"])
    text = scripts(doc)
    assert "ruff check" in text and "ruff format --check" in text
    assert "pytest tests" in text
    netns = scripts(doc, "netns")
    assert re.search(r"sudo .*macmatrix\)?\"? run --backend netns", netns), netns
    uploads = [s for s in steps(doc, "netns") if s.get("uses", "").startswith("actions/upload")]
    assert uploads and uploads[0]["if"] == "always()"
    unit = doc["jobs"]["unit"]
    assert unit["env"]["MACMATRIX_REQUIRE_BROWSER"] == "1"  # the browser test must not skip
    assert "chromium" in scripts(doc, "unit") and "check-jsonschema" in scripts(doc, "unit")
    for name, job in doc["jobs"].items():
        assert job.get("timeout-minutes"), f"ci job {name} has no timeout-minutes"


def test_nightly_triggers_and_inputs() -> None:
    doc = load(NIGHTLY)
    assert doc["on"]["schedule"][0]["cron"]
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"stacks", "k"}


def test_nightly_matrix_comes_from_stacks_toml() -> None:
    doc = load(NIGHTLY)
    first = scripts(doc, "matrix")
    assert "python -m macmatrix.ci_matrix" in first and '--github-output "$GITHUB_OUTPUT"' in first
    kind = doc["jobs"]["kind"]
    assert kind["needs"] == "matrix"
    assert kind["strategy"]["fail-fast"] is False
    assert kind["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    outputs = doc["jobs"]["matrix"]["outputs"]
    assert set(outputs) == {"matrix", "stacks"}
    for name, job in doc["jobs"].items():
        assert job.get("timeout-minutes"), f"nightly job {name} has no timeout-minutes"


def test_nightly_cell_runs_kind_and_uploads_unique_artifacts() -> None:
    doc = load(NIGHTLY)
    cell = scripts(doc, "kind")
    assert "macmatrix run" in cell and "--backend kind" in cell and '-k "$KEXPR"' in cell
    assert '"$kind_bin" export logs' in cell
    names = [
        s["with"]["name"]
        for s in steps(doc, "kind")
        if s.get("uses", "").startswith("actions/upload-artifact")
    ]
    assert names == ["results-${{ matrix.stack }}", "kind-logs-${{ matrix.stack }}"]
    # the run step has its own, shorter limit so the uploads after it still happen
    run_step = next(s for s in steps(doc, "kind") if s.get("id") == "run")
    assert run_step["timeout-minutes"] < doc["jobs"]["kind"]["timeout-minutes"]


def test_nightly_cell_command_line_is_accepted_by_macmatrix_run() -> None:
    """The flags the workflow passes exist in `macmatrix run` (a renamed flag fails here)."""
    parser = argparse.ArgumentParser()
    run.add_run_options(parser)
    cell = scripts(load(NIGHTLY), "kind")
    flags = re.search(r"args=\((.*?)\)", cell)
    assert flags is not None
    argv = [w.replace('"$STACK"', "s").replace('"$OUT"', "o") for w in flags.group(1).split()]
    args = parser.parse_args([*argv, "-k", "expr"])
    assert (args.backend, args.stack, args.out, args.keep_cluster) == ("kind", "s", "o", True)


def test_nightly_report_job_aggregates_and_gates_on_baselines() -> None:
    doc = load(NIGHTLY)
    job = doc["jobs"]["report"]
    assert set(job["needs"]) == {"matrix", "kind"}
    assert "!cancelled()" in job["if"]  # runs even when some cells failed
    download = next(s for s in steps(doc, "report") if "download-artifact" in s.get("uses", ""))
    assert download["with"]["pattern"] == "results-*"
    text = scripts(doc, "report")
    assert "macmatrix report" in text and "--html report/index.html" in text
    assert '>> "$GITHUB_STEP_SUMMARY"' in text
    assert 'macmatrix compare "$base" "$results" --markdown' in text
    assert 'base="e2e/baselines/$stack-kind.json"' in text
    assert 'exit "$status"' in text
    assert {"report", "compare"} <= set(cli.SUBCOMMANDS)


@pytest.mark.parametrize("path", [CI, NIGHTLY], ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_shell_script(path: Path) -> None:
    """Inputs reach scripts through env: `${{ inputs.x }}` inside `run:` would be injectable."""
    doc = load(path)
    for job in doc["jobs"]:
        for step in steps(doc, job):
            assert "${{" not in step.get("run", ""), (job, step.get("name"))


def test_report_command_in_nightly_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`macmatrix report` accepts the nightly's arguments (exit 2 only for the missing file)."""
    text = scripts(load(NIGHTLY), "report")
    line = next(x for x in text.splitlines() if x.strip().startswith("macmatrix report"))
    argv = shlex.split(line.replace('"${files[@]}"', str(tmp_path / "none.json")))[1:]
    assert argv[0] == "report"
    assert cli.main(argv) == 2
    assert "none.json: cannot read" in capsys.readouterr().err  # BadInput, not a usage error
