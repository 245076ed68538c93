"""Scaling benchmark of the netns backend: cost per case at 80, 600 and 2,000 cases.

For each size, a child process runs `macmatrix.run.runner.execute` (the path of `macmatrix run`:
plugin calls, judging, results.json, results.md) and reports its wall time and its own peak RSS;
then the very plugin calls it made (read back from results.json) are replayed bare, with plain
subprocess exec on as many threads, no harness (bench_netns.bare_calls). Both run here, one after
the other, so their ratio is measured under the same load. Prints numbers; asserts nothing.

Matrices: 80 = e2e/matrix.yaml; 600 and 2,000 = bench/matrices/ (see there).

Run as root (or rootless): python bench/bench_scale.py [--sizes 80,600,2000] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MATRICES = {
    80: REPO / "e2e" / "matrix.yaml",
    600: REPO / "bench" / "matrices" / "cases-600.yaml",
    2000: REPO / "bench" / "matrices" / "cases-2000.yaml",
}


def child(matrix: str, out: str, workers: int) -> None:
    """One harness run in this process; prints {"wall_s", "rss_mb", "runnable", "prefix"}."""
    from macmatrix.backends.netns.backend import NetnsBackend
    from macmatrix.run.runner import execute
    from macmatrix.spec import cases
    from macmatrix.views.report import results_md

    cs = cases.load(matrix)
    with NetnsBackend(workers=workers) as nb:
        start = time.perf_counter()
        execute(nb, cs, Path(out), matrix, None, 2, on_finish=results_md(Path(out)))
        wall = time.perf_counter() - start
        prefix = nb.prefix
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runnable = sum(1 for c in cs if not c.netns_unsupported())
    print(json.dumps({"wall_s": wall, "rss_mb": rss_mb, "runnable": runnable, "prefix": prefix}))


def harness(size: int, workers: int) -> tuple[dict, Path]:
    out = Path(tempfile.mkdtemp(prefix=f"mm-bench-{size}-"))
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(MATRICES[size]), str(out), str(workers)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1]), out


def replay(out: Path, prefix: str, workers: int) -> tuple[float, int]:
    sys.path.insert(0, str(REPO / "bench"))
    from bench_netns import bare_calls

    from macmatrix.backends.netns.backend import find_bin_dirs

    doc = json.loads((out / "results.json").read_text())
    per_case = [[i for p in e["pods"] for i in p.get("invocations", [])] for e in doc["cases"]]
    calls = sum(len(c) for c in per_case)
    return bare_calls(per_case, prefix, workers, find_bin_dirs(None)), calls


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="80,600,2000")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    workers = max(2, min(8, 2 * (os.cpu_count() or 1)))
    print(f"workers: {workers}; load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    head = "cases  run  calls   harness_s  bare_s  ratio  ms/run  bare_ms/run  peak_RSS_MB"
    print(head)
    for size in (int(s) for s in args.sizes.split(",")):
        ratios, walls, bares, rss = [], [], [], []
        for _ in range(args.repeat):
            got, out = harness(size, workers)
            b, calls = replay(out, got["prefix"], workers)
            subprocess.run(["rm", "-rf", str(out)], check=False)
            walls.append(got["wall_s"])
            bares.append(b)
            ratios.append(got["wall_s"] / b)
            rss.append(got["rss_mb"])
        w, b, n = statistics.median(walls), statistics.median(bares), got["runnable"]
        print(
            f"{size:5d} {n:4d} {calls:6d} {w:11.2f} {b:7.2f} "
            f"{statistics.median(ratios):6.2f} {1000 * w / n:8.1f} {1000 * b / n:13.1f}"
            f" {max(rss):12.0f}"
        )
    print("targets: ratio <= 1.3 at every size, ms/case flat, peak RSS < 150 MB at 2000")


if __name__ == "__main__":
    main()
