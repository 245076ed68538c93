"""The CLI's shape (issue 10 item 10): one module per subcommand under macmatrix/cli/, the options
several subcommands share defined once (cli/options.py), and no argparse in the library except
the `python -m` entry points CI calls."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from macmatrix import cli
from macmatrix.cli import options

PACKAGE = Path(cli.__file__).resolve().parents[1]
# `python -m` entry points used by .ci/run and .github/workflows (they keep their own argparse)
ENTRY_POINTS = {
    "workflows/ci_gate.py",
    "workflows/ci_matrix.py",
    "backends/gobuild/cni_plugins.py",
    "backends/gobuild/control_plane.py",
    "backends/gobuild/multus.py",
}
SHARED_FLAGS = {flag for option in options.OPTIONS.values() for flag in option.flags}
# Same spelling, another option: `report --markdown OUT` writes a file; `baseline plan-upgrade
# --dry-run` is an alias of its --in-place.
NOT_THE_SHARED_ONE = {("report.py", "--markdown"), ("baseline.py", "--dry-run")}


def _add_argument_flags(path: Path) -> list[tuple[int, str]]:
    """(line, flag) of every `.add_argument("--flag", ...)` call in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((node.lineno, arg.value))
    return found


def test_every_subcommand_is_a_module_of_the_cli_package() -> None:
    for name, (module, _help) in cli.SUBCOMMANDS.items():
        assert module == f"macmatrix.cli.{name}", f"{name}: its module is {module}"
        assert (PACKAGE / "cli" / f"{name}.py").is_file()


def test_shared_options_are_added_only_through_the_table() -> None:
    direct = [
        f"{path.relative_to(PACKAGE)}:{line} {flag}"
        for path in sorted((PACKAGE / "cli").glob("*.py"))
        if path.name != "options.py"
        for line, flag in _add_argument_flags(path)
        if flag in SHARED_FLAGS and (path.name, flag) not in NOT_THE_SHARED_ONE
    ]
    assert not direct, f"add these with cli.options.add(parser, NAME): {direct}"


def test_the_library_parses_no_command_line() -> None:
    parsing = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "cli"
        and str(path.relative_to(PACKAGE)) not in ENTRY_POINTS
        and _add_argument_flags(path)
    )
    assert not parsing, f"move the argparse of these into macmatrix/cli/: {parsing}"


@pytest.mark.parametrize("name", sorted(options.OPTIONS))
def test_a_shared_option_parses_the_same_wherever_it_is_added(name: str) -> None:
    # An override changes the words, never the flag, dest or type.
    p = argparse.ArgumentParser()
    action = options.add(p, name, help="other words")
    option = options.OPTIONS[name]
    assert action.help == "other words"
    assert tuple(action.option_strings) == option.flags
    flag_value = {"backend": "netns", "workers": "3", "plugin-timeout": "2.5"}.get(name, "x")
    argv = [option.flags[0]] + ([] if action.nargs == 0 else [flag_value])
    parsed = p.parse_args(argv).__dict__[action.dest]
    assert parsed == {
        "workers": 3,
        "plugin-timeout": 2.5,
        "backend": "netns",
    }.get(name, True if action.nargs == 0 else (["x"] if name == "cni-bin-dir" else "x"))
