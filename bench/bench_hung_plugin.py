"""How long a hung plugin costs a run, and how fast a signal unwinds it. Prints numbers only.

A stand-in `macvlan` (a shell script, first on the plugin path) never answers; the other plugins
are the real ones. Measures, with the given --plugin-timeout:
1. the whole default matrix: wall time and exit code (the circuit breaker should end it in about
   one timeout plus the DEL budget, not one per case and try);
2. SIGTERM and SIGINT sent while plugins hang: seconds until the run has exited.

Run as root: python bench/bench_hung_plugin.py [--plugin-timeout S]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from macmatrix.backends.netns.backend import DEFAULT_BIN_DIRS

STAND_IN = """#!/bin/sh
# stand-in for a hung CNI plugin: never answers, leaves a child behind
[ -n "$CNI_COMMAND" ] || exit 1
[ "$CNI_COMMAND" = VERSION ] && exit 1
sleep 600 &
exec sleep 600
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plugin-timeout", type=float, default=30.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hung = Path(tmp) / "bin"
        hung.mkdir()
        (hung / "macvlan").write_text(STAND_IN)
        (hung / "macvlan").chmod(0o755)
        dirs = [a for d in [hung, *DEFAULT_BIN_DIRS] for a in ("--cni-bin-dir", str(d))]
        argv = [sys.executable, "-m", "macmatrix.cli", "run", "--backend", "netns", "-q", *dirs]
        argv += ["--plugin-timeout", str(args.plugin_timeout), "--out", str(Path(tmp) / "o")]
        start = time.monotonic()
        proc = subprocess.run(argv, capture_output=True)
        print(
            f"default matrix, hung macvlan, --plugin-timeout {args.plugin_timeout:g}: "
            f"{time.monotonic() - start:.1f} s, exit {proc.returncode}"
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(3.0)  # plugins are hanging by now
            sent = time.monotonic()
            p.send_signal(sig)
            p.wait(timeout=120)
            print(f"{sig.name} during the hang: exited {time.monotonic() - sent:.2f} s later")


if __name__ == "__main__":
    main()
