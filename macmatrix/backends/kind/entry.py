"""The kind backend in the registry (backends/registry.py): a kind cluster with Kube-OVN and
Multus (or an existing cluster with --kubeconfig); what `--backend auto` picks when a Docker
engine answers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from macmatrix.backends.base import Backend, PastedRun, PodRunner, ReproOptions
from macmatrix.backends.registry import BackendEntry, Options, default_stack, option, register
from macmatrix.errors import BadInput
from macmatrix.spec.cases import Case
from macmatrix.spec.userinput import Request
from macmatrix.types import Status

if TYPE_CHECKING:
    from macmatrix.backends.kind.pods import KindPods

NO_ENGINE = (
    "no Docker engine answers; start Docker (or use --backend netns), "
    "see `macmatrix doctor --backend kind`"
)
REPRO_OUT = Path("results") / "repro"  # a repro's diagnostics


def check(opts: Options) -> None:
    """What `open_backend` would refuse, without creating anything."""
    if option(opts, "plugins"):
        raise BadInput(
            "--plugins: only for --backend netns; kind runs its stack's plugins "
            "(clusters/stacks.toml cni_plugins)"
        )
    if option(opts, "stack"):
        from macmatrix.spec import stacks

        stacks.get(option(opts, "stack"))  # unknown name: BadInput naming the known ones


def open_backend(opts: Options) -> Backend:
    """The matrix on the stack's kind cluster (created, or a kept one reused), or --kubeconfig."""
    from macmatrix.backends.kind.backend import KindBackend
    from macmatrix.backends.kind.session import KindCluster

    return KindBackend(
        KindCluster.from_options(
            stack_name=option(opts, "stack", ""),
            kubeconfig=option(opts, "kubeconfig"),
            keep_cluster=bool(option(opts, "keep_cluster", False)),
            out_dir=Path(option(opts, "out", "results")),
            require_lock=bool(option(opts, "require_lock", False)),
        )
    )


def open_pods(opts: Options) -> PodRunner:
    """repro: single pods on the kept kind cluster of --stack (the newest without one), created
    and kept when there is none, so the next repro starts in seconds."""
    return _kind_pods(opts)


def _kind_pods(opts: Options) -> KindPods:
    from macmatrix.backends.kind.pods import KindPods
    from macmatrix.backends.kind.session import KindCluster

    return KindPods(
        KindCluster.from_options(
            stack_name=default_stack("kind", option(opts, "stack")) or "",
            kubeconfig=None,
            keep_cluster=True,
            out_dir=REPRO_OUT,
        )
    )


def repro(request: Request, opts: ReproOptions) -> PastedRun:
    """repro: the pod as written (no IPAM is ever substituted) on the kept cluster. A plugin
    the nodes lack is copied in when the stack's plugins release has it (with those the fix
    search may add, `opts.later_types`); otherwise the input cannot run here: unsupported,
    never a (false) broken. The runner stays open for the fix search, whose candidates are
    pods on it; the caller closes it."""
    from macmatrix.backends import podrun
    from macmatrix.backends.kind.stack.inventory import needed_by

    runner = _kind_pods(opts)
    try:
        nads = [(b.network, b.nad.config) for b in request.bindings]
        extra = [("the fix search", {"type": t}) for t in opts.later_types]
        why = None
        if runner.need_plugins(needed_by(nads + extra)) is not None:  # else the search's too
            why = runner.need_plugins(needed_by(nads))
        if why:
            done = PastedRun(None, runner.stack(), Status.UNSUPPORTED, f"kind backend: {why}")
        else:
            done = podrun.run_as_pasted(runner, request)
    except BaseException:
        runner.close()
        raise
    done.runner = runner
    return done


def plan(cases: Sequence[Case], opts: Options) -> str:
    from macmatrix.backends.kind.backend import dry_run

    return dry_run(list(cases), option(opts, "stack", ""), option(opts, "kubeconfig"))


def unavailable(opts: Options) -> str | None:
    """--kubeconfig: the cluster is checked when opened; else a Docker engine must answer."""
    if option(opts, "kubeconfig"):
        return None
    return None if auto_refuses() is None else NO_ENGINE


def auto_refuses() -> str | None:
    from macmatrix.backends.kind.stack.docker import engine_answers

    return None if engine_answers() else "no Docker engine answers"


ENTRY = register(
    BackendEntry(
        name="kind",
        summary="a kind cluster with Kube-OVN, Multus and the stack's CNI plugins (needs Docker)",
        open=open_backend,
        plan=plan,
        check=check,
        unavailable=unavailable,
        auto_rank=10,  # preferred: everything real
        auto_refuses=auto_refuses,
        auto_why="a Docker engine answers",
        runs_stacks=True,
        pods=open_pods,
        repro=repro,
        order=20,
    )
)
