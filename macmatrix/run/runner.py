"""`macmatrix run`: the same run as `pytest e2e/`, sharing its code path (execute()).

Backend-agnostic: the backend is opened by cli.open_backend (the one place that knows both).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from macmatrix.backends.base import Backend, Progress
from macmatrix.build import manifests
from macmatrix.errors import BadInput
from macmatrix.judge.verdict import Expectation, judge, model
from macmatrix.observe import CaseObservation
from macmatrix.run.results import ResultsWriter, case_entry
from macmatrix.spec import cases as cases_mod
from macmatrix.spec.cases import Case
from macmatrix.types import CaseEntry, Outcome
from macmatrix.views import junit

BACKENDS = ("auto", "netns", "kind", "multus")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="multus: real Multus (thin) + kube-apiserver + the --stack's plugins, no kubelet",
    )
    p.add_argument(
        "--stack",
        default=None,
        help="stack name from clusters/stacks.toml (kind; netns: that stack's CNI plugins)",
    )
    p.add_argument(
        "--plugins",
        default=None,
        metavar="VERSION|debian",
        help="netns: CNI plugins release to build and run (e.g. v1.6.2), or debian (/usr/lib/cni)",
    )
    p.add_argument("--matrix", default=None, help="matrix YAML (default: e2e/matrix.yaml)")
    p.add_argument("-k", dest="keyword", default=None, help="select cases like pytest -k")
    p.add_argument("--out", default="results", help="output folder (default: ./results)")
    p.add_argument(
        "--baseline",
        default=None,
        help="results or baseline file as expectation (default: the committed one, if any)",
    )
    p.add_argument("--no-baseline", action="store_true", help="judge against the model only")
    p.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    p.add_argument("--keep-cluster", action="store_true", help="kind: keep the cluster")
    p.add_argument("--kubeconfig", default=None, help="run on an existing cluster")
    p.add_argument("--cni-bin-dir", action="append", default=None, help="netns: plugin dir")
    p.add_argument("--workers", type=int, default=None, help="netns: concurrent cases")
    add_plugin_timeout(p, "; a plugin that hangs on 3 cases is not called again in the run")
    p.add_argument("--retries", type=int, default=2, help="re-runs of infra-error cases")
    p.add_argument("--require-lock", action="store_true", help="kind: refuse unhashed downloads")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, no table")


def add_plugin_timeout(p: argparse.ArgumentParser, more: str = "") -> None:
    """--plugin-timeout, the same for `run` and `repro` (netns.check_plugin_timeout validates)."""
    p.add_argument(
        "--plugin-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help=f"netns: seconds one plugin call may take (default 30){more}",
    )


def load_cases(matrix: str | None, keyword: str | None) -> tuple[str, list[Case]]:
    path = Path(matrix) if matrix else cases_mod.default_matrix_path()
    if not matrix and not path.exists():
        raise BadInput("--matrix: no default matrix next to this install; pass --matrix FILE")
    selected = cases_mod.select(cases_mod.load(path), keyword)
    if not selected:
        raise BadInput(f"-k: {keyword!r} selects no case; see the ids with --dry-run")
    return str(path), selected


def load_baseline(path: str | None) -> dict[str, Any] | None:
    """A baseline (or results.json) given with --baseline; validated, one-line errors."""
    if not path:
        return None
    from macmatrix.views import baseline

    return baseline.load(path)


def committed_baseline(stack: dict[str, Any]) -> dict[str, Any] | None:
    """e2e/baselines/<stack>-<backend>.json when the repository has one for this stack.

    A baseline records one plugins release's behaviour: when it names another `cni_plugins`
    than the run's (another distribution's /usr/lib/cni, say), the version-aware model judges.
    """
    from macmatrix import versions
    from macmatrix.views import baseline

    try:
        path = baseline.baseline_path(stack)
    except BadInput:
        return None
    if not path.exists():
        return None
    doc = baseline.load(path)
    recorded = (doc.get("stack") or {}).get("cni_plugins")
    if recorded and versions.parse(recorded) != versions.parse(stack.get("cni_plugins")):
        return None
    return doc


def expectation_for(
    case: Case, stack: dict[str, Any], baseline: dict[str, Any] | None
) -> Expectation:
    """The baseline's word for a case when it has one, else the model of upstream behaviour."""
    if baseline:
        from macmatrix.views.baseline import expectation_from_baseline

        found = expectation_from_baseline(baseline, case.id)
        if found is not None:
            return found
    return model(case, stack)


def _settle(
    backend: Backend,
    cases: Sequence[Case],
    retries: int,
    progress: Progress,
    on_final: Callable[[CaseObservation, list[dict[str, Any]]], None],
) -> tuple[dict[str, CaseObservation], dict[str, list[dict[str, Any]]]]:
    """Run once, then re-run infra-error cases up to `retries` times (flaky when that helps).

    Every case that is final goes to `on_final` as it finishes (streamed into results.json).
    """
    from macmatrix.run.retry import settle

    settled = settle(
        lambda cs, sink: backend.run(cs, progress, on_case=sink),
        list(cases),
        retries,
        lambda obs, hist: on_final(obs, [a.to_json() for a in hist]),
    )
    tries = {cid: [a.to_json() for a in hist] for cid, hist in settled.history.items()}
    return settled.observations, tries


def _entry(
    case: Case,
    obs: CaseObservation,
    stack: dict[str, Any],
    baseline: dict[str, Any] | None,
    tries: list[dict[str, Any]] | None = None,
) -> CaseEntry:
    entry = case_entry(case, obs, judge(case, obs), expectation_for(case, stack, baseline))
    if tries and len(tries) > 1:
        entry["tries"] = tries
    return entry


def execute(
    backend: Backend,
    cases: Sequence[Case],
    out: Path,
    matrix: str,
    baseline: dict[str, Any] | None = None,
    retries: int = 2,
    progress: Progress | None = None,
    on_entry: Callable[[dict[str, Any]], None] | None = None,
    use_committed_baseline: bool = True,
) -> dict[str, Any]:
    """Run, judge and write results.json (+ results.md); shared by the CLI and the pytest plugin."""
    stack = backend.stack()
    if baseline is None and use_committed_baseline:
        baseline = committed_baseline(stack)
    writer = ResultsWriter(out / "results.json", stack, matrix, list(cases))
    by_id = {c.id: c for c in cases}

    def finished(obs: CaseObservation, tries: list[dict[str, Any]]) -> None:
        # Written at once (journal), so a crash or Ctrl-C keeps every finished case.
        if obs.case_id not in by_id:
            return
        if writer.finished(obs.case_id) and not any(p.invocations for p in obs.pods):
            return  # sent again only to flip `retryable`, which results.json does not hold
        writer.record(_entry(by_id[obs.case_id], obs, stack, baseline, tries))
        # On disk now; the backend and retry keep the observation until the run ends, so let
        # its plugin invocations (most of its size) go: memory stays flat with the case count.
        for pod in obs.pods:
            pod.invocations = []

    complete = False
    try:
        start = time.monotonic()
        observations, tries = _settle(
            backend, cases, retries, progress or (lambda *a: None), finished
        )
        writer.phase("matrix", time.monotonic() - start)
        phases = getattr(backend, "phases", None)
        for name, secs in (phases() if callable(phases) else {}).items():
            writer.phase(name, secs)
        # Cases the sink never saw (the backend returned nothing for them) are recorded now.
        writer.record_many(
            [
                _entry(case, observations[case.id], stack, baseline, tries.get(case.id))
                for case in cases
                if case.id in observations and not writer.finished(case.id)
            ]
        )
        if on_entry:
            for entry in writer.doc["cases"]:
                if entry.get("finished"):
                    on_entry(entry)
        complete = True
    finally:
        doc = writer.finish(complete)
        _write_markdown(doc, out / "results.md")
    return doc


def _write_markdown(doc: dict[str, Any], path: Path) -> None:
    from macmatrix.run.results import atomic_write
    from macmatrix.views.report import render_markdown

    atomic_write(path, render_markdown([doc]))


def exit_code(doc: dict[str, Any]) -> int:
    """0 all as expected; 1 a case differs from its expectation; 3 infra errors only."""
    if any(e.get("as_expected") is False for e in doc["cases"]):
        return 1
    if any(e["outcome"] == Outcome.INFRA_ERROR for e in doc["cases"]):
        return 3
    return 0


class TerminalProgress:
    """One updating line on a terminal, a line per 10% otherwise; writes to stderr."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = -1
        self.start = time.monotonic()

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.quiet:
            return
        pct = 100 * done // max(total, 1)
        line = f"[{done:>3}/{total}] {time.monotonic() - self.start:5.1f}s {message}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:150] + ("\n" if done == total else ""))
            sys.stderr.flush()
        elif pct // 10 != self.last // 10 or done == total:
            sys.stderr.write(line + "\n")
        self.last = pct


def dry_run_netns(cases: Sequence[Case]) -> str:
    lines = [f"# netns plan: {len(cases)} cases; nothing below has been created", ""]
    for case in cases:
        lines.append(f"## {case.id}")
        why = case.netns_unsupported()
        if why:
            lines += [f"unsupported on netns: {why}", ""]
            continue
        ns = "macmatrix"
        lines.append("NAD spec.config:")
        lines.append(json.dumps(manifests.nad_config(case, ns), indent=2))
        if case.substitute_ipam:
            lines.append(
                "ipam substituted: the kube-ovn IPAM runs as static with each replica's "
                f"address in {manifests.cidr(case)} (matrix substitute_ipam)"
            )
        for r in range(case.n_replicas):
            ann = manifests.pod_annotations(case, ns, r)
            lines.append(f"pod {manifests.pod_name(case, r)} annotations: {json.dumps(ann)}")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    from macmatrix.cli import default_stack, open_backend, resolve_backend

    p = argparse.ArgumentParser(prog="macmatrix run", description=__doc__)
    add_run_options(p)
    try:
        args = p.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.baseline and args.no_baseline:
        raise BadInput("--no-baseline: cannot be combined with --baseline FILE; pass one of them")
    matrix, selected = load_cases(args.matrix, args.keyword)
    baseline = load_baseline(args.baseline)
    name = resolve_backend(args.backend, announce=not args.quiet)
    args.stack = default_stack(name, args.stack, announce=not args.quiet)
    if args.dry_run:
        if name == "kind":
            from macmatrix.backends.kind.backend import dry_run

            print(dry_run(selected, args.stack or "", args.kubeconfig))
        elif name == "multus":
            from macmatrix.backends.multus.backend import dry_run as multus_plan

            print(multus_plan(selected, args.stack))
        else:
            print(dry_run_netns(selected))
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: {out} is a file; pass a folder (results.json, results.md go in it)")
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with open_backend(name, args) as backend:
            doc = execute(
                backend,
                selected,
                out,
                matrix,
                baseline,
                args.retries,
                TerminalProgress(args.quiet),
                use_committed_baseline=not args.no_baseline,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    junit.write(doc, out / "junit.xml")
    if not args.quiet:
        from macmatrix.views.report import render_terminal

        print(render_terminal(doc))
        print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'junit.xml'}")
    return exit_code(doc)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
