"""stacks.toml -> the nightly GitHub Actions matrix (workflows/ci_matrix.py), its first job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from macmatrix.errors import BadInput
from macmatrix.workflows import ci_matrix
from macmatrix.workflows.ci_matrix import tomllib

REPO = Path(__file__).resolve().parents[1]

SAMPLE = """
[defaults]
kind = "v0.32.0"
kubectl = "v1.36.1"

[stacks."kube-ovn-v1.13"]
kube_ovn = "v1.13.15"
multus = "v4.1.3"
cni_plugins = "v1.6.2"

[stacks."kube-ovn-v1.14"]
kube_ovn = "v1.14.41"
multus = "v4.2.1"
cni_plugins = "v1.9.0"
kind = "v0.33.0"
future_knob = "kept"
extra_table = { ignored = true }

[stacks."kube-ovn-v1.15"]
kube_ovn = "v1.15.24"
multus = "v4.2.3"
cni_plugins = "v1.9.1"
"""


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "stacks.toml"
    path.write_text(SAMPLE)
    return path


def test_every_stack_becomes_one_matrix_entry_with_defaults_merged(sample: Path) -> None:
    m = ci_matrix.matrix(ci_matrix.read_stacks(sample))
    assert [e["stack"] for e in m["include"]] == [
        "kube-ovn-v1.13",
        "kube-ovn-v1.14",
        "kube-ovn-v1.15",
    ]
    v13, v14, _ = m["include"]
    assert v13["kind"] == "v0.32.0" and v13["kubectl"] == "v1.36.1"  # from [defaults]
    assert v14["kind"] == "v0.33.0"  # a stack's own value wins
    assert v14["future_knob"] == "kept"  # unknown scalar keys pass through
    assert "extra_table" not in v14  # tables would not fit a matrix entry


def test_committed_stacks_file_gives_one_job_per_stack() -> None:
    path = REPO / "clusters" / "stacks.toml"
    if not path.exists():
        pytest.skip("clusters/stacks.toml not committed yet; the sample-file tests cover parsing")
    names = list(tomllib.loads(path.read_text())["stacks"])
    m = ci_matrix.matrix(ci_matrix.read_stacks(path))
    assert [e["stack"] for e in m["include"]] == names
    for entry in m["include"]:
        assert entry["kube_ovn"] and entry["multus"] and entry["cni_plugins"], entry


@pytest.mark.parametrize(
    "wanted, expected",
    [
        ("", ["kube-ovn-v1.13", "kube-ovn-v1.14", "kube-ovn-v1.15"]),
        ("all", ["kube-ovn-v1.13", "kube-ovn-v1.14", "kube-ovn-v1.15"]),
        ("kube-ovn-v1.14", ["kube-ovn-v1.14"]),
        (" kube-ovn-v1.15, kube-ovn-v1.13 ", ["kube-ovn-v1.15", "kube-ovn-v1.13"]),
        ("kube-ovn-v1.1[45]", ["kube-ovn-v1.14", "kube-ovn-v1.15"]),
        ("kube-ovn-v1.14 kube-ovn-*", ["kube-ovn-v1.14", "kube-ovn-v1.13", "kube-ovn-v1.15"]),
    ],
)
def test_stack_selection(sample: Path, wanted: str, expected: list[str]) -> None:
    m = ci_matrix.matrix(ci_matrix.read_stacks(sample), wanted)
    assert [e["stack"] for e in m["include"]] == expected


def test_unknown_stack_is_bad_input_naming_the_known_ones(sample: Path) -> None:
    with pytest.raises(BadInput, match=r"'v1\.99' matches no stack; known stacks: kube-ovn-v1\.13"):
        ci_matrix.matrix(ci_matrix.read_stacks(sample), "v1.99")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[stacks."a/b"]\nkube_ovn = "v1"\n', "name must match"),
        ('[stacks."bad name"]\nkube_ovn = "v1"\n', "name must match"),
        ("[defaults]\nkind = 'v0.32.0'\n", "no \\[stacks"),
        ("[stacks\n", "not valid TOML"),
        ("stacks = 3\n", "no \\[stacks"),
        ('[stacks]\n"x" = 3\n', "must be a table"),
    ],
)
def test_bad_stacks_file_is_one_bad_input(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "stacks.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        ci_matrix.read_stacks(path)


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read"):
        ci_matrix.read_stacks(tmp_path / "nope.toml")


def test_main_writes_github_outputs(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "github_output"
    out.write_text("earlier=1\n")  # $GITHUB_OUTPUT is appended to, never truncated
    rc = ci_matrix.main(
        ["--stacks-file", str(sample), "--stacks", "kube-ovn-v1.1[34]", "--github-output", str(out)]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    lines = out.read_text().splitlines()
    assert lines[0] == "earlier=1"
    outputs = dict(line.split("=", 1) for line in lines[1:])
    assert json.loads(outputs["matrix"]) == printed
    assert outputs["stacks"] == "kube-ovn-v1.13 kube-ovn-v1.14"
    assert "\n" not in outputs["matrix"]  # one line, or GitHub would cut the output


def test_module_entry_point_exits_2_with_one_line(sample: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "macmatrix.workflows.ci_matrix",
            "--stacks-file",
            str(sample),
            "--stacks",
            "x",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("ci_matrix: stacks: 'x' matches no stack")
    assert proc.stderr.count("\n") == 1
