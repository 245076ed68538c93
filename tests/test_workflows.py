"""The GitHub workflows, offline: schema-valid, and wired to commands that really exist."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from macmatrix import cli
from macmatrix.cli import run

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
    assert set(inputs) == {"stacks", "k", "record_lock"}
    assert inputs["record_lock"]["type"] == "boolean" and inputs["record_lock"]["default"] is False


def test_nightly_matrix_comes_from_stacks_toml() -> None:
    doc = load(NIGHTLY)
    first = scripts(doc, "matrix")
    assert (
        "python -m macmatrix.workflows.ci_matrix" in first
        and '--github-output "$GITHUB_OUTPUT"' in first
    )
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
    assert names == [
        "results-${{ matrix.stack }}",
        "proposed-baseline-${{ matrix.stack }}",
        "kind-logs-${{ matrix.stack }}",
    ]
    # the run step has its own, shorter limit so the uploads after it still happen
    run_step = next(s for s in steps(doc, "kind") if s.get("id") == "run")
    assert run_step["timeout-minutes"] < doc["jobs"]["kind"]["timeout-minutes"]


def test_nightly_cell_command_line_is_accepted_by_macmatrix_run() -> None:
    """The flags the workflow passes exist in `macmatrix run` (a renamed flag fails here)."""
    parser = argparse.ArgumentParser()
    run.add_run_options(parser)
    run_script = next(s for s in steps(load(NIGHTLY), "kind") if s.get("id") == "run")["run"]
    flags = re.search(r"args=\((.*?)\)", run_script)
    assert flags is not None
    argv = [w.replace('"$STACK"', "s").replace('"$OUT"', "o") for w in flags.group(1).split()]
    args = parser.parse_args([*argv, "-k", "expr"])
    assert (args.backend, args.stack, args.out, args.keep_cluster) == ("kind", "s", "o", True)
    # every optional flag the step adds exists too
    extra = re.findall(r"args\+=\((.*?)\)", run_script)
    assert {"--baseline", "--no-baseline", "--require-lock", "-k"} <= {e.split()[0] for e in extra}
    args = parser.parse_args([*argv, "--baseline", "b.json", "--require-lock"])
    assert (args.baseline, args.require_lock) == ("b.json", True)
    assert parser.parse_args([*argv, "--no-baseline"]).no_baseline


def test_nightly_report_job_aggregates_and_bundles_proposals() -> None:
    doc = load(NIGHTLY)
    job = doc["jobs"]["report"]
    assert set(job["needs"]) == {"matrix", "kind"}
    assert "!cancelled()" in job["if"]  # runs even when some cells failed
    patterns = [
        s["with"]["pattern"]
        for s in steps(doc, "report")
        if "download-artifact" in s.get("uses", "")
    ]
    assert patterns == ["results-*", "proposed-baseline-*"]
    text = scripts(doc, "report")
    assert "macmatrix report" in text and "--html report/index.html" in text
    assert '>> "$GITHUB_STEP_SUMMARY"' in text
    assert (
        "python -m macmatrix.workflows.ci_gate bundle proposed-all/proposed-baseline-* "
        "--out proposed" in text
    )
    bundle = [s for s in steps(doc, "report") if s.get("uses", "").startswith("actions/upload")]
    assert bundle[-1]["with"] == {**bundle[-1]["with"], "name": "proposed-baselines-and-lock"}
    # the per-stack artifacts never match the bundle's name (a stack called "s" included)
    assert not fnmatch.fnmatchcase("proposed-baselines-and-lock", "proposed-baseline-*")
    assert {"report", "compare", "baseline"} <= set(cli.SUBCOMMANDS)


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


# --------------------------------------------------------------------------- the kind job's gate


def test_kind_job_ends_with_a_gate_that_cannot_be_skipped() -> None:
    """The last step judges the run; nothing in the job may swallow its failure."""
    doc = load(NIGHTLY)
    job = doc["jobs"]["kind"]
    gate = steps(doc, "kind")[-1]
    assert gate.get("id") == "gate"
    assert gate["if"] == "${{ !cancelled() }}"  # runs after failed steps too
    assert "python -m macmatrix.workflows.ci_gate verdict" in gate["run"]
    assert gate["env"]["RUN_RC"] == "${{ steps.run.outputs.rc }}"
    assert gate["env"]["COMPARE_RC"] == "${{ steps.regress.outputs.rc }}"
    assert gate["env"]["BASELINE"] == "${{ steps.expect.outputs.baseline }}"
    assert "continue-on-error" not in job
    assert not [s.get("name") for s in steps(doc, "kind") if "continue-on-error" in s]
    run_step = next(s for s in steps(doc, "kind") if s.get("id") == "run")
    assert 'echo "rc=$rc" >> "$GITHUB_OUTPUT"' in run_step["run"]
    assert run_step["env"]["BASELINE"] == "${{ steps.expect.outputs.baseline }}"
    assert run_step["env"]["REQUIRE_LOCK"] == "${{ steps.expect.outputs.require_lock }}"


def test_kind_job_prepares_the_runner_like_kube_ovn_ci() -> None:
    """kubeovn/kube-ovn .github/workflows/build-x86-image.yaml at v1.16.2: free-disk-space
    (android, dotnet, haskell) before kind, and "Remove DNS search domain" (search line out of
    /etc/resolv.conf, then restart Docker). Both come before anything creates a cluster."""
    doc = load(NIGHTLY)
    names = [s.get("name") or s.get("uses") or s.get("run") for s in steps(doc, "kind")]
    disk, dns, run_at = (
        names.index("Free disk space"),
        names.index("Drop the DNS search domain"),
        [s.get("id") for s in steps(doc, "kind")].index("run"),
    )
    assert disk < run_at and dns < run_at
    disk_script = steps(doc, "kind")[disk]["run"]
    for path in ("/usr/local/lib/android", "/usr/share/dotnet", "/opt/ghc", "/usr/local/.ghcup"):
        assert path in disk_script
    dns_script = steps(doc, "kind")[dns]["run"]
    assert "/^search/d" in dns_script and "/etc/resolv.conf" in dns_script
    assert "systemctl restart docker" in dns_script


class Simulation:
    """Runs the kind job's own step scripts (from nightly.yml) in a scratch checkout.

    Only `macmatrix run` is replaced: a stub drives the real `macmatrix run` code path with a
    stand-in backend (observations scripted per case, no cluster). Every other command — ci_gate,
    compare, baseline update — is the real one. Host-touching steps (disk, DNS, log export) and
    `uses:` steps are not run.
    """

    SIMULATED = (
        "Expectation and lock",
        "Run the matrix on kind",
        "Regressions against the committed baseline",
        "Propose a baseline and the filled lock",
        "Gate",
    )
    STACK = "kube-ovn-v1.14"

    def __init__(self, tmp: Path, plan: dict[str, str], kexpr: str) -> None:
        self.root = tmp / "checkout"
        (self.root / "clusters").mkdir(parents=True)
        (self.root / "e2e" / "baselines").mkdir(parents=True)
        shutil.copy(REPO / "clusters" / "stacks.toml", self.root / "clusters")
        (self.root / "clusters" / "stacks.lock").write_text("{}\n")
        self.bin = tmp / "bin"
        self.bin.mkdir()
        stub = self.bin / "macmatrix"
        stub.write_text(f"#!{sys.executable}\n" + STUB)
        stub.chmod(0o755)
        (self.bin / "python").symlink_to(sys.executable)
        self.plan, self.kexpr = plan, kexpr
        self.summary = tmp / "summary.md"

    def run(self, doc: dict[str, Any]) -> tuple[bool, dict[str, dict[str, str]]]:
        """Job success (no simulated step failed) and each step's outputs."""
        outputs: dict[str, dict[str, str]] = {}
        ok = True
        for step in doc["jobs"]["kind"]["steps"]:
            if step.get("name") not in self.SIMULATED:
                continue
            cond = step.get("if")
            if cond is None and not ok:
                continue
            assert cond in (None, "${{ !cancelled() }}", "always()"), cond
            out_file = self.root / ".gh_output"
            out_file.write_text("")
            env = {
                "PATH": f"{self.bin}:{os.environ['PATH']}",
                "PYTHONPATH": str(REPO),
                "HOME": os.environ.get("HOME", "/root"),
                "GITHUB_OUTPUT": str(out_file),
                "GITHUB_STEP_SUMMARY": str(self.summary),
                "MM_PLAN": json.dumps(self.plan),
            }
            for key, value in {**doc["jobs"]["kind"]["env"], **step.get("env", {})}.items():
                env[key] = self.resolve(str(value), outputs)
            proc = subprocess.run(
                ["bash", "-e", "-c", step["run"]],
                cwd=self.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if step.get("id"):
                outputs[step["id"]] = dict(
                    line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line
                )
            if proc.returncode != 0:
                ok = False
        return ok, outputs

    def resolve(self, value: str, outputs: dict[str, dict[str, str]]) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1).strip()
            if expr == "matrix.stack":
                return self.STACK
            if expr == "inputs.k":
                return self.kexpr
            if expr == "inputs.record_lock":
                return "false"
            if expr == "github.workspace":
                return str(self.root)
            step = re.fullmatch(r"steps\.([\w-]+)\.outputs\.(\w+)", expr)
            if step:
                return outputs.get(step.group(1), {}).get(step.group(2), "")
            raise AssertionError(f"the simulation does not know ${{{{ {expr} }}}}")

        return re.sub(r"\$\{\{(.*?)\}\}", one, value)


# The stub `macmatrix`: `run` goes through the real CLI with a stand-in backend; the rest is real.
STUB = """
import json, os, random, sys
from macmatrix import cli
from macmatrix.observe import CaseObservation
from macmatrix.spec import stacks
from tests.test_compare import observe

class StandIn:
    def __init__(self, stack):
        self._stack = stack
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        pass
    def stack(self):
        return dict(self._stack)
    def run(self, cases, progress=None, on_case=None):
        plan, rng = json.loads(os.environ["MM_PLAN"]), random.Random(0)
        out = {c.id: observe(c, plan[c.id], rng) for c in cases}
        for obs in out.values():
            if on_case is not None:
                on_case(obs)
        return out

argv = sys.argv[1:]
if argv[:1] == ["run"]:
    stack = stacks.get(argv[argv.index("--stack") + 1]).as_stack_dict()
    cli.open_backend = lambda name, args: StandIn(stack)
    out = argv[argv.index("--out") + 1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "argv.json"), "w") as f:
        json.dump(argv, f)
sys.exit(cli.main(argv))
"""


def _two_cases() -> tuple[str, str, str]:
    from tests.test_compare import A, D  # static IPAM: networks mac, and no mac asked

    return A.id, D.id, f"({A.id} or {D.id}) and not master"


def test_simulated_nightly_is_red_when_every_case_breaks(tmp_path: Path) -> None:
    """The first real run broken everywhere (e.g. `static` missing on the nodes): red, and the
    proposal that a maintainer would review is uploaded anyway."""
    a, d, kexpr = _two_cases()
    sim = Simulation(tmp_path, {a: "broken", d: "status-lies"}, kexpr)
    ok, outputs = sim.run(load(NIGHTLY))
    assert outputs["expect"]["expectation"] == "model"
    assert outputs["run"]["rc"] == "1"
    assert not ok
    argv = json.loads((sim.root / "results" / sim.STACK / "argv.json").read_text())
    assert "--no-baseline" in argv and "--require-lock" not in argv
    proposed = sim.root / "proposed" / "e2e" / "baselines" / f"{sim.STACK}-kind.json"
    cases = json.loads(proposed.read_text())["cases"]
    assert {cases[a]["outcome"], cases[d]["outcome"]} == {"broken"}
    assert (sim.root / "proposed" / "clusters" / "stacks.lock").exists()
    assert "### Gate kube-ovn-v1.14: FAILED" in sim.summary.read_text()


def test_removing_the_gate_step_turns_that_nightly_green(tmp_path: Path) -> None:
    """What the test above guards: without the Gate step the same run passes (the old bug)."""
    a, d, kexpr = _two_cases()
    doc = load(NIGHTLY)
    doc["jobs"]["kind"]["steps"] = [s for s in steps(doc, "kind") if s.get("id") != "gate"]
    ok, _ = Simulation(tmp_path, {a: "broken", d: "status-lies"}, kexpr).run(doc)
    assert ok


def test_simulated_nightly_as_the_model_predicts_is_green(tmp_path: Path) -> None:
    a, d, kexpr = _two_cases()
    ok, outputs = Simulation(tmp_path, {a: "works", d: "works"}, kexpr).run(load(NIGHTLY))
    assert outputs["run"]["rc"] == "0"
    assert ok


def test_simulated_nightly_with_a_committed_baseline_goes_red_on_a_regression(
    tmp_path: Path,
) -> None:
    a, d, kexpr = _two_cases()
    first = Simulation(tmp_path / "first", {a: "works", d: "works"}, kexpr)
    assert first.run(load(NIGHTLY))[0]
    proposed = first.root / "proposed" / "e2e" / "baselines" / f"{first.STACK}-kind.json"

    again = Simulation(tmp_path / "same", {a: "works", d: "works"}, kexpr)
    shutil.copy(proposed, again.root / "e2e" / "baselines")  # the maintainer committed it
    ok, outputs = again.run(load(NIGHTLY))
    assert outputs["expect"]["baseline"] == f"e2e/baselines/{again.STACK}-kind.json"
    assert outputs["regress"]["rc"] == "0" and ok
    argv = json.loads((again.root / "results" / again.STACK / "argv.json").read_text())
    assert argv[argv.index("--baseline") + 1] == outputs["expect"]["baseline"]

    worse = Simulation(tmp_path / "worse", {a: "broken", d: "works"}, kexpr)
    shutil.copy(proposed, worse.root / "e2e" / "baselines")
    ok, outputs = worse.run(load(NIGHTLY))
    assert (outputs["run"]["rc"], outputs["regress"]["rc"]) == ("1", "1")
    assert not ok
    assert "regressions against e2e/baselines/kube-ovn-v1.14-kind.json" in worse.summary.read_text()
