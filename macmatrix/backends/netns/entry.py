"""The netns backend in the registry (backends/registry.py): real CNI plugins in real network
namespaces; what `--backend auto` falls back to when no Docker engine answers."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from macmatrix.backends.base import Backend, PastedRun, PodRunner, ReproOptions
from macmatrix.backends.registry import BackendEntry, Options, option, register
from macmatrix.spec.cases import Case
from macmatrix.spec.userinput import Request


def open_backend(opts: Options) -> Backend:
    """--plugins VERSION|debian, else --stack's plugins, else --cni-bin-dir / the default dirs."""
    from macmatrix.backends.gobuild.cni_plugins import choose
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S, NetnsBackend

    picked = choose(option(opts, "plugins"), option(opts, "stack"), option(opts, "cni_bin_dir"))
    return NetnsBackend(
        picked.bin_dirs,
        workers=option(opts, "workers"),
        label=picked.label,
        notes=picked.notes,
        timeout=option(opts, "plugin_timeout", DEFAULT_PLUGIN_TIMEOUT_S),
    )


def check(opts: Options) -> None:
    """What `open_backend` would refuse, without building or creating anything."""
    from macmatrix.backends.base import (
        DEFAULT_PLUGIN_TIMEOUT_S,
        check_plugin_timeout,
        check_workers,
    )
    from macmatrix.backends.gobuild.cni_plugins import check_choice

    check_workers(option(opts, "workers"))
    check_plugin_timeout(option(opts, "plugin_timeout", DEFAULT_PLUGIN_TIMEOUT_S))
    check_choice(option(opts, "plugins"), option(opts, "stack"), option(opts, "cni_bin_dir"))


def open_pods(opts: Options) -> PodRunner:
    """repro: the pasted NADs' plugins from --cni-bin-dir (or the default dirs)."""
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S, NetnsBackend

    return NetnsBackend(
        cni_bin_dirs=option(opts, "cni_bin_dir"),
        timeout=option(opts, "plugin_timeout", DEFAULT_PLUGIN_TIMEOUT_S),
    )


def repro(request: Request, opts: ReproOptions) -> PastedRun:
    """repro: the pasted plugins run here in-process, from --cni-bin-dir (or the default dirs);
    IPAM substitution and the inputs this tier cannot run: backends/podrun.in_process."""
    from macmatrix.backends import podrun
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S, NetnsBackend

    timeout = DEFAULT_PLUGIN_TIMEOUT_S if opts.plugin_timeout is None else opts.plugin_timeout
    bin_dirs = list(opts.cni_bin_dir) if opts.cni_bin_dir else None
    with NetnsBackend(cni_bin_dirs=bin_dirs, timeout=timeout) as nb:
        return podrun.in_process(nb, request, opts, "netns", nb.bin_dirs)


def unsupported(case: Case) -> str | None:
    """Cases that need Kube-OVN (spec/cases.py Case.netns_unsupported)."""
    return case.netns_unsupported()


def plan(cases: Sequence[Case], opts: Options) -> str:
    from macmatrix.backends.netns.plan import render

    return render(cases)


def unavailable(opts: Options) -> str | None:
    from macmatrix.backends.netns.backend import unavailable as why_not

    return why_not(option(opts, "cni_bin_dir"))


def before_threads() -> None:
    """Not root: enter the rootless user namespace while the process has no threads yet
    (unshare(2) refuses a threaded one); when that fails, `unavailable` says why later."""
    import os

    if os.geteuid() == 0:
        return
    from macmatrix.backends.netns import rootless
    from macmatrix.errors import InfraError

    with suppress(InfraError):
        rootless.enter()


ENTRY = register(
    BackendEntry(
        name="netns",
        summary="real CNI plugins in real network namespaces, Multus emulated (root or rootless)",
        open=open_backend,
        plan=plan,
        check=check,
        unavailable=unavailable,
        skip_when_unavailable=True,
        auto_rank=100,  # the fallback: needs nothing but this machine
        pods=open_pods,
        repro=repro,
        unsupported=unsupported,
        substitutes_ipam=True,
        confines_state=True,
        fix_in_process=True,
        order=10,
        before_threads=before_threads,
    )
)
