"""The options several subcommands share, defined once (flag, dest, type, default, metavar).

A subcommand adds one with `add(parser, name)`; where its help text (or metavar, or default)
says something of its own, it passes that as an override, so `run --stack` and `repro --stack`
stay the same option while each explains it in its own words. Options only one subcommand has
stay in that subcommand's module.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

from macmatrix import data
from macmatrix.errors import BadInput


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


OPTIONS: dict[str, Option] = {
    # choices and help from backends/registry.py when added (a backend registered later counts)
    "backend": Option(("--backend",), {"default": "auto"}),
    "stack": Option(
        ("--stack",),
        {
            "default": None,
            "help": "stack name from clusters/stacks.toml (kind; netns: that stack's CNI plugins)",
        },
    ),
    "plugins": Option(
        ("--plugins",),
        {
            "default": None,
            "metavar": "VERSION|debian",
            "help": "netns: CNI plugins release to build and run (e.g. v1.6.2), or debian "
            "(/usr/lib/cni)",
        },
    ),
    # data_files() puts both in force for the command and checks them first
    "stacks": Option(
        ("--stacks",),
        {
            "default": None,
            "metavar": "FILE",
            "help": "your own stacks.toml instead of ours (default: $MACMATRIX_STACKS, else "
            "clusters/stacks.toml)",
        },
    ),
    "lock": Option(
        ("--lock",),
        {
            "default": None,
            "metavar": "FILE",
            "help": "the lock to check downloads (kind's, the Go builds') against and record "
            "their sha256 in, "
            "created or completed from ours (default: $MACMATRIX_LOCK, else clusters/stacks.lock "
            "in a checkout, else stacks.lock in the macmatrix cache)",
        },
    ),
    "matrix": Option(
        ("--matrix",), {"default": None, "help": "matrix YAML (default: e2e/matrix.yaml)"}
    ),
    "keyword": Option(
        ("-k",), {"dest": "keyword", "default": None, "help": "select cases like pytest -k"}
    ),
    "out": Option(("--out",), {"default": "results", "help": "output folder (default: ./results)"}),
    "baseline": Option(
        ("--baseline",),
        {
            "default": None,
            "help": "results or baseline file as expectation (default: the committed one, if any)",
        },
    ),
    "json": Option(("--json",), {"action": "store_true"}),
    "markdown": Option(
        ("--markdown",), {"action": "store_true", "help": "print Markdown for a PR comment"}
    ),
    "dry-run": Option(("--dry-run",), {"action": "store_true"}),
    "cni-bin-dir": Option(
        ("--cni-bin-dir",), {"action": "append", "default": None, "help": "netns: plugin dir"}
    ),
    "workers": Option(
        ("--workers",), {"type": int, "default": None, "help": "netns: concurrent cases"}
    ),
    # netns.check_plugin_timeout validates the value (0 or less: one line, exit 2)
    "plugin-timeout": Option(
        ("--plugin-timeout",),
        {
            "type": float,
            "default": 30.0,
            "metavar": "S",
            "help": "netns: seconds one plugin call may take (default 30)",
        },
    ),
    "allow-empty": Option(
        ("--allow-empty",),
        {
            "action": "store_true",
            "help": "exit 0 even when the two sides share no case (default: exit 2, comparing "
            "nothing is not a pass)",
        },
    ),
}


def add(p: argparse.ArgumentParser, name: str, **overrides: Any) -> argparse.Action:
    """Add the shared option `name` to `p`; `overrides` replace its help, metavar, default..."""
    option = OPTIONS[name]
    kwargs = {**option.kwargs}
    if name == "backend":
        from macmatrix.backends import registry

        kwargs["choices"] = registry.choices()
        kwargs["help"] = "; ".join(f"{e.name}: {e.summary}" for e in registry.entries())
    return p.add_argument(*option.flags, **{**kwargs, **overrides})


@contextmanager
def data_files(args: argparse.Namespace) -> Iterator[None]:
    """The user's `--stacks FILE` and `--lock FILE` (where the command has them) in force for the
    whole command (macmatrix.data.chosen), each checked before any work: a file that is missing
    or broken is one BadInput line naming the flag (exit 2)."""
    stacks_file, lock_file = getattr(args, "stacks", None), getattr(args, "lock", None)
    with data.chosen(stacks=stacks_file, lock=lock_file):
        if stacks_file:
            from macmatrix.spec import stacks

            stacks.load()  # its messages name --stacks
        if lock_file:
            from pathlib import Path

            from macmatrix.backends.kind.stack.lock import check_file

            check_file(Path(lock_file), "--lock")
        yield


# argparse's "argument --workers: invalid int value: 'abc'": the field, what is wrong with it
_ARGUMENT = re.compile(r"^argument ([^:]+): (.*)$", re.S)
# the fix for a value of the wrong type, by the start of argparse's complaint
_TYPE_FIX = {"invalid int value": "pass a whole number", "invalid float value": "pass a number"}


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one BadInput line (exit 2) instead of the whole
    usage: the field, what is wrong, the fix where argparse's message lacks one, and the
    subcommand's help (`macmatrix baseline update --help` for a subparser: its full prog).

    Every `macmatrix` subcommand's parser is one of these (subparsers inherit the class)."""

    def error(self, message: str) -> NoReturn:
        found = _ARGUMENT.match(message)
        if found:
            field_name, what = found.groups()
            fix = next((f for k, f in _TYPE_FIX.items() if what.startswith(k)), None)
            message = f"{field_name.split('/')[-1]}: {what}" + (f"; {fix}" if fix else "")
        raise BadInput(" ".join(f"{message}; see `{self.prog} --help`".split()))
