"""`macmatrix cleanup [--dry-run]`: remove what killed netns runs left behind.

A run killed with SIGKILL (or a machine that lost power) cannot clean up after itself. Every
netns run records its id and PID (backends/netns/runs.py); this removes the namespaces, tuning
state files and temp folder of each recorded run whose process is gone, and the namespace of a
capability probe killed mid-probe (`mm-probe-<pid>-...`, its process gone); never anything of
a run or probe that is still alive. `macmatrix doctor --backend netns` lists the same leftovers.
Exit 0 when nothing is left (or --dry-run), 3 when something could not be removed.
"""

from __future__ import annotations

import sys


def clean(dry_run: bool) -> int:
    """Remove (or with `dry_run` list) the leftovers, one line each; the exit code."""
    from macmatrix.backends.netns import runs

    found = runs.leftovers()
    for left in found:
        print(("would remove " if dry_run else "removing ") + left.describe())
        if not dry_run:
            runs.remove(left)
    probes = runs.dead_probes()
    for name in probes:
        print(("would remove " if dry_run else "removing ") + f"probe namespace {name}")
        if not dry_run:
            runs.remove_probe(name)
    if not found and not probes:
        print("no leftovers of killed runs")
    for name in runs.unrecorded_namespaces():
        print(f"not touched: namespace {name} has no run record (an older macmatrix may use it)")
    if dry_run:
        return 0
    still = [left.record.run_id for left in runs.leftovers() if left.namespaces]
    still += runs.dead_probes()
    if still:
        print(f"could not remove the namespaces of {', '.join(still)}", file=sys.stderr)
        return 3
    return 0
