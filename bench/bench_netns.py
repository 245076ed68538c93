"""Benchmark of the netns backend on the default matrix. Prints numbers; asserts nothing.

1. harness: NetnsBackend.run() on every default case (namespaces, plugin calls, reads, cleanup).
2. bare: the very same plugin invocations the harness made (recorded stdin and env), replayed
   with plain subprocess exec in fresh namespaces, on the same number of threads, no harness.
3. end to end: `pytest e2e/ --backend netns` wall time (start-up included) and the peak RSS of
   `macmatrix run --backend netns`.

Run as root: python bench/bench_netns.py [--repeat N]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyroute2 import IPRoute, netns

from macmatrix.backends.netns.backend import NetnsBackend, create_netns, find_bin_dirs, in_netns
from macmatrix.spec import cases

REPO = Path(__file__).resolve().parents[1]


def harness(cs: list[cases.Case], workers: int) -> tuple[float, dict]:
    with NetnsBackend(workers=workers) as nb:
        start = time.perf_counter()
        obs = nb.run(cs)
        elapsed = time.perf_counter() - start
        node, prefix = nb.node, nb.prefix
    return elapsed, {"obs": obs, "node": node, "prefix": prefix}


def bare(recorded: dict, workers: int, bin_dirs: list[str]) -> float:
    """Replay every recorded plugin call per case, in order, with subprocess only."""
    per_case = [[inv for p in o.pods for inv in p.invocations] for o in recorded["obs"].values()]
    return bare_calls(per_case, recorded["prefix"], workers, bin_dirs)


def bare_calls(
    per_case: list[list[dict]],
    old_prefix: str,
    workers: int,
    bin_dirs: list[str],
    batch: int = 200,
) -> float:
    """Replay each case's recorded plugin calls (results.json `invocations`), in order.

    Pod namespaces are made before and removed after each batch of `batch` cases, untimed: made
    all at once for 2,000 cases, ~3,000 live namespace mounts slowed every call (the harness
    keeps only those of running cases), which would flatter the harness.
    """
    per_case = [calls for calls in per_case if calls]
    if len(per_case) > batch:
        return sum(
            bare_calls(per_case[i : i + batch], old_prefix, workers, bin_dirs, batch)
            for i in range(0, len(per_case), batch)
        )
    tag = f"mb{os.getpid() % 10000}-"
    node = tag + "node"
    made = [node, tag + "lan"]
    create_netns(node)
    create_netns(tag + "lan")
    masters = set()
    for calls in per_case:
        for inv in calls:
            m = inv["stdin"].get("master")
            if m:
                masters.add(m)
    with in_netns(node), IPRoute() as ipr:
        for i, m in enumerate(sorted(masters)):
            ipr.link(
                "add", ifname=m, kind="veth", peer={"ifname": f"b{i}", "net_ns_fd": tag + "lan"}
            )
            ipr.link("set", index=ipr.link_lookup(ifname=m)[0], state="up")
    pod_ns = sorted({inv_ns(inv) for calls in per_case for inv in calls})
    for name in pod_ns:
        create_netns(name.replace(old_prefix, tag))
        made.append(name.replace(old_prefix, tag))
    path = os.pathsep.join(bin_dirs)

    failures: list[int] = []

    def replay(calls: list[dict]) -> None:
        # ADD all pods' plugins, then DEL, as recorded (the harness's order).
        for inv in calls:
            env = {
                "PATH": os.environ["PATH"],
                "CNI_COMMAND": inv["command"],
                "CNI_CONTAINERID": "bench" + inv_ns(inv)[-6:],
                "CNI_NETNS": "/run/netns/" + inv_ns(inv).replace(old_prefix, tag),
                "CNI_IFNAME": inv["ifname"],
                "CNI_ARGS": inv["cni_args"],
                "CNI_PATH": path,
            }
            plugin = next(
                str(Path(d, inv["plugin"])) for d in bin_dirs if Path(d, inv["plugin"]).exists()
            )
            subprocess.run(
                ["nsenter", f"--net=/run/netns/{node}", plugin],
                input=json.dumps(inv["stdin"]).encode(),
                env=env,
                capture_output=True,
                check=False,
            )

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(replay, per_case))
        elapsed = time.perf_counter() - start
        if failures:
            print(f"warning: {len(failures)} replayed calls failed that passed in the harness")
        return elapsed
    finally:
        for name in reversed(made):
            netns.remove(name)


def inv_ns(inv: dict) -> str:
    """The pod namespace name a recorded call ran against (its CNI_NETNS)."""
    return Path(inv["netns"]).name


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - start


def end_to_end() -> tuple[float, float, int]:
    """Wall times of both entry points; RSS of `macmatrix run`, the first Python child."""
    out = ["--out", tempfile.mkdtemp()]
    run_s = timed([sys.executable, "-m", "macmatrix.cli", "run", "--backend", "netns", "-q", *out])
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # nsenter children are tiny
    pytest_args = ["e2e/test_mac_matrix.py", "--backend", "netns", "-q", "-p", "no:cacheprovider"]
    pytest_s = timed([sys.executable, "-m", "pytest", *pytest_args, *out])
    return pytest_s, run_s, rss_kb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cs = [c for c in cases.load(cases.default_matrix_path()) if not c.needs_kubeovn()]
    workers = max(2, min(8, 2 * (os.cpu_count() or 1)))
    h_times, b_times = [], []
    for _ in range(args.repeat):
        h, rec = harness(cs, workers)
        b = bare(rec, workers, find_bin_dirs(None))
        h_times.append(h)
        b_times.append(b)
    calls = sum(len(p.invocations) for o in rec["obs"].values() for p in o.pods)
    hm, bm = statistics.median(h_times), statistics.median(b_times)
    print(f"cases: {len(cs)} runnable on netns, plugin calls: {calls}, workers: {workers}")
    print(f"harness  median {hm:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in h_times)})")
    print(f"bare     median {bm:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in b_times)})")
    print(f"ratio harness/bare: {hm / bm:.2f}  (target <= 1.5)")
    pytest_s, run_s, rss_kb = end_to_end()
    print(f"pytest e2e/test_mac_matrix.py --backend netns: {pytest_s:.2f} s wall (target < 10 s)")
    print(
        f"macmatrix run --backend netns: {run_s:.2f} s wall, peak RSS {rss_kb / 1024:.0f} MB"
        " (target < 150 MB)"
    )


if __name__ == "__main__":
    main()
