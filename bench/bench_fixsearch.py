"""Benchmark of repro's fix search on the netns backend. Prints numbers; asserts nothing.

For every corpus input that does not work (tests/data/corpus.yaml `fix`), the wall time of
`repro.run` with and without the search (--no-fix), the search's own time, and how many
candidates it ran. Issue 11 asks the search to add at most ~2 s for a typical report.

Run as root: python bench/bench_fixsearch.py [--repeat N] [--workers N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import yaml

from macmatrix.spec.userinput import load_paths, resolve
from macmatrix.workflows import fixsearch, repro

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=4)
    args = p.parse_args()
    corpus = yaml.safe_load((DATA / "corpus.yaml").read_text())["corpus"]
    names = sorted(n for n, spec in corpus.items() if "fix" in (spec.get("repro") or {}))
    print(f"{'input':36} {'no-fix s':>9} {'with fix s':>10} {'search s':>9} {'tried':>5}  best")
    added = []
    for name in names:
        request = resolve(load_paths([str(DATA / "corpus" / name)]))
        plain, full, search = [], [], []
        tried, best = 0, "-"
        for _ in range(args.repeat):
            t = time.perf_counter()
            entry = repro.run(request, "netns", fix=False)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            fix = fixsearch.search(request, entry, workers=args.workers)
            search.append(time.perf_counter() - t)
            full.append(plain[-1] + search[-1])
            tried = len(fix.get("tried") or [])
            best = "+".join(fix["best"]["remedies"]) if fix.get("best") else "none found"
        med = statistics.median
        added.append(med(search))
        print(f"{name:36} {med(plain):9.3f} {med(full):10.3f} {med(search):9.3f} {tried:5}  {best}")
    print(
        f"search adds: median {statistics.median(added):.3f} s, max {max(added):.3f} s "
        f"over {len(names)} inputs (workers {args.workers}, {args.repeat} repeats each)"
    )


if __name__ == "__main__":
    main()
