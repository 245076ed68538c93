"""The CLI's edges: every subcommand's usage mistakes are one line with exit 2, and `run
--dry-run` refuses exactly what a real run refuses (one check, backends/registry.check), before
any plan is printed or anything is built or created."""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix import cli
from macmatrix.backends.gobuild import cni_plugins
from macmatrix.errors import BadInput

# (options, words the one line must hold): each is refused by `run` without --dry-run
REFUSED = [
    (["--workers", "0"], ["--workers", ">= 1"]),
    (["--plugin-timeout", "-1"], ["--plugin-timeout", "> 0"]),
    (["--retries", "-2"], ["--retries", "0 or more"]),
    (["--plugins", "garbage"], ["--plugins", "v1.6.2"]),
    (["--backend", "netns", "--stack", "kube-ovn-v9"], ["--stack", "kube-ovn-v1.16"]),
    (["--backend", "multus", "--plugins", "v1.9.1"], ["--plugins", "only for --backend netns"]),
    (["--backend", "kind", "--plugins", "v1.9.1"], ["--plugins", "only for --backend netns"]),
    (
        ["--backend", "netns", "--stack", "kube-ovn-v1.13", "--plugins", "v1.9.1"],
        ["--plugins", "--stack", "v1.6.2"],
    ),
    (
        ["--backend", "netns", "--stack", "kube-ovn-v1.13", "--cni-bin-dir", "/usr/lib/cni"],
        ["--cni-bin-dir", "--stack"],
    ),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return rc, out, [ln for ln in err.splitlines() if not ln.startswith("macmatrix: --backend")]


@pytest.mark.parametrize("bad,words", REFUSED, ids=[" ".join(b) for b, _ in REFUSED])
@pytest.mark.parametrize("dry", [True, False], ids=["dry-run", "run"])
def test_run_refuses_bad_options_alike_with_and_without_dry_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: list[str], words: list[str], dry: bool
) -> None:
    out_dir = tmp_path / "out"
    argv = ["run", "--backend", "netns", *bad, "--out", str(out_dir), "-q"]
    rc, out, err = run(capsys, *argv, *(["--dry-run"] if dry else []))
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("macmatrix run: "), err
    assert all(w in err[0] for w in words), err[0]
    assert out == ""  # no plan, no table
    assert not out_dir.exists()  # nothing written, nothing built


def test_the_same_options_with_good_values_print_the_plan(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The refusals above come from the values: good ones plan and exit 0."""
    good = ["--workers", "1", "--plugin-timeout", "5", "--retries", "0", "--plugins", "debian"]
    rc, out, err = run(capsys, "run", "--backend", "netns", *good, "--dry-run", "-q")
    assert rc == 0, err
    assert out.startswith("# netns plan:")
    rc, out, err = run(
        capsys, "run", "--backend", "multus", "--stack", "kube-ovn-v1.15", "--dry-run"
    )
    assert rc == 0, err
    assert "kube-ovn-v1.15" in out.splitlines()[0]


def test_a_stack_and_plugins_on_netns_are_refused_not_resolved() -> None:
    """On netns a stack is its plugins release: two at once is refused, whatever the order."""
    with pytest.raises(BadInput, match=r"--plugins: cannot be combined with --stack"):
        cni_plugins.choose("v1.9.1", "kube-ovn-v1.13", None)
    with pytest.raises(BadInput, match=r"--plugins: cannot be combined with --stack"):
        cni_plugins.choose("debian", "kube-ovn-v1.13", None)
    cni_plugins.check_choice("debian", None, None)  # either alone is fine
    cni_plugins.check_choice(None, "kube-ovn-v1.13", None)


# (subcommand argv, the field or words the one line names): argparse's own refusals
USAGE_MISTAKES = [
    (["run", "--workers", "abc"], ["--workers", "'abc'", "pass a whole number"]),
    (["run", "--plugin-timeout", "x"], ["--plugin-timeout", "pass a number"]),
    (["run", "--backend", "nope"], ["--backend", "'nope'", "netns"]),
    (["run", "--bogus"], ["--bogus"]),
    (["repro", "--backend", "nope", "-"], ["--backend", "'nope'"]),
    (["repro"], ["FILE|-"]),
    (["compare", "only-one.json"], ["HEAD.json"]),
    (["report", "--max-bytes", "z", "x.json"], ["--max-bytes", "pass a whole number"]),
    (["lint"], ["FILE"]),
    (["doctor", "--backend", "nope"], ["--backend", "'nope'"]),
    (["cleanup", "--bogus"], ["--bogus"]),
    (["baseline"], ["update,check,plan-upgrade"]),
    (["baseline", "update"], ["RESULTS.json"]),
    (["baseline", "check", "r.json", "--baseline"], ["--baseline", "expected one argument"]),
]


@pytest.mark.parametrize("argv,words", USAGE_MISTAKES, ids=[" ".join(a) for a, _ in USAGE_MISTAKES])
def test_usage_mistakes_are_one_line_naming_the_field_and_the_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert len(err) == 1, err  # not the whole usage
    assert "usage:" not in err[0]
    assert all(w in err[0] for w in words), err[0]
    # the help of the (sub)command that refused: `baseline update`, never a `macmatrix update`
    sub = [a for a in argv[:2] if a in cli.SUBCOMMANDS or a in ("update", "check")]
    assert err[0].startswith(f"macmatrix {argv[0]}: ")
    assert err[0].endswith(f"see `macmatrix {' '.join(sub)} --help`"), err[0]


def test_help_still_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    for name in cli.SUBCOMMANDS:
        assert cli.main([name, "--help"]) == 0, name
        assert "usage: macmatrix" in capsys.readouterr().out
