"""The real-Multus tier in the registry (backends/registry.py): Multus thin, built from its Go
module at the stack's pin, against a local kube-apiserver, with the stack's CNI plugins; never
picked by `--backend auto`."""

from __future__ import annotations

from collections.abc import Sequence

from macmatrix.backends.base import Backend, PastedRun, PodRunner, ReproOptions
from macmatrix.backends.registry import BackendEntry, Options, option, register
from macmatrix.errors import BadInput
from macmatrix.spec.cases import Case
from macmatrix.spec.userinput import Request


def check(opts: Options) -> None:
    """What `open_backend` would refuse, without building or creating anything."""
    from macmatrix.backends.base import (
        DEFAULT_PLUGIN_TIMEOUT_S,
        check_plugin_timeout,
        check_workers,
    )
    from macmatrix.spec import stacks

    if option(opts, "plugins") or option(opts, "cni_bin_dir"):
        raise BadInput(
            "--plugins/--cni-bin-dir: only for --backend netns; multus runs its --stack's "
            "plugins (clusters/stacks.toml cni_plugins)"
        )
    check_workers(option(opts, "workers"))
    check_plugin_timeout(option(opts, "plugin_timeout", DEFAULT_PLUGIN_TIMEOUT_S))
    if option(opts, "stack"):
        stacks.get(option(opts, "stack"))  # unknown name: BadInput naming the known ones


def open_backend(opts: Options) -> Backend:
    """The --stack's Multus, kube-apiserver and plugins (the newest stack without one)."""
    from macmatrix.backends.multus.backend import MultusBackend
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S

    return MultusBackend(
        option(opts, "stack"),
        workers=option(opts, "workers"),
        timeout=option(opts, "plugin_timeout", DEFAULT_PLUGIN_TIMEOUT_S),
    )


def open_pods(opts: Options) -> PodRunner:
    """repro: the pasted NADs and pod through the --stack's Multus and kube-apiserver."""
    from macmatrix.backends.multus.backend import MultusBackend
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S

    return MultusBackend(
        option(opts, "stack"), timeout=option(opts, "plugin_timeout", DEFAULT_PLUGIN_TIMEOUT_S)
    )


def repro(request: Request, opts: ReproOptions) -> PastedRun:
    """repro: the pasted NADs and pod go to a real kube-apiserver and the stack's thin Multus
    reads them from there, as in a cluster; IPAM substitution as on netns, and the cluster
    network gives the pod an eth0 a `linkInContainer` master can use. The fix search then
    verifies on netns with this stack's plugins release (`fix_dirs`)."""
    from macmatrix.backends import podrun
    from macmatrix.backends.multus.backend import MultusBackend
    from macmatrix.backends.netns.backend import DEFAULT_PLUGIN_TIMEOUT_S

    timeout = DEFAULT_PLUGIN_TIMEOUT_S if opts.plugin_timeout is None else opts.plugin_timeout
    with MultusBackend(opts.stack, timeout=timeout) as mb:
        dirs = [mb.plugins_dir]
        return podrun.in_process(mb, request, opts, "multus", dirs, True, fix_dirs=dirs)


def unsupported(case: Case) -> str | None:
    """What needs Kube-OVN here (spec/cases.py Case.multus_unsupported)."""
    return case.multus_unsupported()


def plan(cases: Sequence[Case], opts: Options) -> str:
    from macmatrix.backends.multus.backend import dry_run

    return dry_run(cases, option(opts, "stack"))


def unavailable(opts: Options) -> str | None:
    from macmatrix.backends.multus.backend import why_not_here

    return why_not_here(option(opts, "stack"))


ENTRY = register(
    BackendEntry(
        name="multus",
        summary="real Multus (thin) + kube-apiserver + the --stack's plugins, no kubelet",
        open=open_backend,
        plan=plan,
        check=check,
        unavailable=unavailable,
        runs_stacks=True,  # the stack's Multus, Kubernetes and plugins; the newest by default
        pods=open_pods,
        repro=repro,
        unsupported=unsupported,
        substitutes_ipam=True,
        confines_state=True,
        order=30,
    )
)
