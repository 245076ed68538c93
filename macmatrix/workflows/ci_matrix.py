"""clusters/stacks.toml -> the GitHub Actions matrix of the nightly workflow.

The nightly job list is derived from stacks.toml at run time, so adding a stack is a one-file
change. Each matrix entry carries the stack name (used in artifact names, hence the strict name
check) and its pinned versions merged over `[defaults]`, for readable job names.

    python -m macmatrix.workflows.ci_matrix [--stacks-file FILE] [--stacks "a, b*"]
                                            [--github-output FILE]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from macmatrix import data
from macmatrix.errors import BadInput

DEFAULT_FILE = data.root() / data.STACKS
# Artifact names may not hold / \ : < > | * ? " or newlines; keep stack names boring.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def read_stacks(path: str | Path) -> dict[str, dict[str, Any]]:
    """Stack name -> its scalar settings over `[defaults]`; extra keys pass through untouched."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as e:
        raise BadInput(f"{p}: cannot read ({e.strerror}); pass --stacks-file PATH") from e
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{p}: not valid TOML ({e}); fix the file") from e
    stacks = data.get("stacks")
    if not isinstance(stacks, dict) or not stacks:
        raise BadInput(f'{p}: no [stacks."NAME"] tables; add one per stack to test')
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise BadInput(f"{p}: [defaults] must be a table")
    out: dict[str, dict[str, Any]] = {}
    for name, table in stacks.items():
        if not NAME_RE.match(name):
            raise BadInput(
                f'{p}: stacks."{name}": name must match {NAME_RE.pattern} (it names CI artifacts); '
                "rename it"
            )
        if not isinstance(table, dict):
            raise BadInput(f'{p}: stacks."{name}" must be a table of settings')
        merged = {**defaults, **table}
        out[name] = {k: v for k, v in merged.items() if isinstance(v, (str, int, float, bool))}
    return out


def select(names: Sequence[str], wanted: str | None) -> list[str]:
    """Names picked by a comma/space separated list of names or globs; '' or 'all': all."""
    words = [w for w in re.split(r"[,\s]+", wanted or "") if w]
    if not words or words == ["all"]:
        return list(names)
    picked: list[str] = []
    for word in words:
        hits = [n for n in names if fnmatch.fnmatchcase(n, word)]
        if not hits:
            raise BadInput(f"stacks: {word!r} matches no stack; known stacks: {', '.join(names)}")
        picked += [h for h in hits if h not in picked]
    return picked


def matrix(stacks: dict[str, dict[str, Any]], wanted: str | None = None) -> dict[str, Any]:
    """The `strategy.matrix` value: {"include": [{"stack": NAME, <settings>...}, ...]}."""
    include = []
    for name in select(list(stacks), wanted):
        entry = {k: v for k, v in stacks[name].items() if k != "stack"}
        include.append({"stack": name, **entry})
    return {"include": include}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m macmatrix.workflows.ci_matrix",
        description="Print the GitHub Actions matrix for the stacks in stacks.toml.",
    )
    parser.add_argument("--stacks-file", default=str(DEFAULT_FILE), metavar="FILE")
    parser.add_argument("--stacks", default="", help="names or globs, comma/space separated")
    parser.add_argument(
        "--github-output",
        metavar="FILE",
        help="also append `matrix=<json>` and `stacks=<names>` to this file ($GITHUB_OUTPUT)",
    )
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    result = matrix(read_stacks(args.stacks_file), args.stacks)
    text = json.dumps(result, separators=(",", ":"), sort_keys=True)
    print(text)
    if args.github_output:
        names = " ".join(e["stack"] for e in result["include"])
        with open(args.github_output, "a", encoding="utf-8") as f:
            f.write(f"matrix={text}\nstacks={names}\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BadInput as err:
        print(f"ci_matrix: {err}", file=sys.stderr)
        sys.exit(2)
