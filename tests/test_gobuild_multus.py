"""`python -m macmatrix.backends.gobuild.multus`: which Multus releases a command line names.

The argument handling is tested in-process with `ensure` (the real build, e2e/test_real_multus.py
and .ci/run exercise it) replaced by a recorder; the entry point itself runs as .ci/run calls it
for --help and bad input, which never reach a build.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from macmatrix.backends.gobuild import multus, toolchain
from macmatrix.errors import BadInput
from macmatrix.spec import stacks

REPO = Path(__file__).resolve().parents[1]
ENTRY = [sys.executable, "-m", "macmatrix.backends.gobuild.multus"]


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The versions main() asked to build, in order; the SIGTERM handler left alone."""
    asked: list[str] = []

    def ensure(version: str) -> Path:
        asked.append(version)
        return tmp_path / version / "multus"

    monkeypatch.setattr(multus, "ensure", ensure)
    monkeypatch.setattr(toolchain, "sigterm_unwinds", lambda: None)
    return asked


def test_newest_is_the_newest_stacks_pin(
    built: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert multus.main(["--newest"]) == 0
    want = stacks.get(stacks.newest()).multus
    assert built == [want]
    assert capsys.readouterr().out.split() == [str(tmp_path / want / "multus")]


def test_stacks_and_versions_each_once_in_the_order_given(built: list[str]) -> None:
    every = stacks.load()
    names = sorted(every)
    assert multus.main(["v4.0.2", *(a for n in names for a in ("--stack", n)), "--newest"]) == 0
    pins = [every[n].multus for n in names]
    assert built == list(dict.fromkeys(["v4.0.2", *pins]))
    assert len(built) == len(set(built))


def test_all_is_every_stacks_pin_once_oldest_stack_first(built: list[str]) -> None:
    assert multus.main(["--all", "--newest"]) == 0
    pins = [stacks.get(n).multus for n in stacks.stack_names()]
    assert built == list(dict.fromkeys([stacks.get(stacks.newest()).multus, *pins]))
    assert set(built) == set(pins)


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        ([], "VERSION: name a Multus release"),
        (["4.2.4"], "VERSION: '4.2.4' is not a Multus release"),
        (["v4.2.4; rm -rf /"], "VERSION: 'v4.2.4; rm -rf /' is not a Multus release"),
        (["--stack", "no-such-stack"], "--stack: unknown stack 'no-such-stack'"),
        (["--nope"], "unrecognized arguments: --nope"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], field: str) -> None:
    proc = subprocess.run([*ENTRY, *argv], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert field in proc.stderr and "Traceback" not in proc.stderr
    if argv != ["--nope"]:  # argparse's own usage line comes first there
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_help_names_every_way_in() -> None:
    proc = subprocess.run([*ENTRY, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert all(w in proc.stdout for w in ("VERSION", "--stack", "--newest", "--all"))


def test_check_version_names_its_field() -> None:
    with pytest.raises(BadInput, match=r"^--multus: 'latest' is not a Multus release"):
        multus.check_version("latest", "--multus")
    assert multus.check_version("v4.2.4") == "v4.2.4"


def test_ci_builds_multus_through_the_entry_point() -> None:
    """.ci/run names the module (so moving it breaks this test, not CI), no inline `python3 -c`."""
    script = (REPO / ".ci" / "run").read_text()
    assert "python3 -m macmatrix.backends.gobuild.multus " in script
    inline = [line for line in script.splitlines() if "-c" in line and "gobuild" in line]
    assert not inline, inline
