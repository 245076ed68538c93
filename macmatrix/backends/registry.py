"""Backends by name: the one list of backend names and the one place that chooses a backend.

Each backend registers a `BackendEntry` from a module of its own (`macmatrix/backends/<name>/
entry.py`, found by `load()`; anything else may call `register()`): how to open it from the
command-line options, why it cannot run here (one line), its `--dry-run` plan, whether
`--backend auto` may pick it, and whether it runs a stack of clusters/stacks.toml or single
repro pods. `macmatrix run`, `repro`, `doctor` and the pytest plugin take their `--backend`
choices and their pick from here (DESIGN.md: "adding a backend is one new module").

The entries' callables import their backend lazily: importing this module (argparse choices)
loads neither the kubernetes client nor pyroute2.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from macmatrix.backends.base import Backend, PastedRun, PodRunner, ReproOptions
from macmatrix.errors import BadInput
from macmatrix.spec.cases import Case
from macmatrix.spec.userinput import Request

AUTO = "auto"
ENTRY_MODULE = "entry"  # macmatrix/backends/<package>/entry.py registers that backend

# The options a factory reads (argparse.Namespace of `run`/`repro`, or the pytest plugin's
# SimpleNamespace): read with getattr and a default, since not every command has every option.
Options = Any


@dataclass(frozen=True)
class BackendEntry:
    """What the registry knows about one backend."""

    name: str
    summary: str  # one line for --help and doctor
    open: Callable[[Options], Backend]  # the matrix backend for these options (caller closes)
    plan: Callable[[Sequence[Case], Options], str]  # --dry-run: the plan as text, no effects
    # the options' values checked, no effects: BadInput (one line, exit 2) for what it refuses;
    # `check()` runs it before a --dry-run plan and before `open`, so both refuse alike
    check: Callable[[Options], None] = lambda opts: None
    # why it cannot run on this machine, in one line; None when it can (or cannot tell early)
    unavailable: Callable[[Options], str | None] = lambda opts: None
    # pytest: an unavailable backend skips its tests (saying why) instead of failing them
    skip_when_unavailable: bool = False
    # --backend auto: candidates by ascending rank; `auto_refuses()` says why not (None: pick
    # it, giving `auto_why`, else the refusals of the candidates before it); None: never auto
    auto_rank: int | None = None
    auto_refuses: Callable[[], str | None] = lambda: None
    auto_why: str = ""
    runs_stacks: bool = False  # no --stack means the newest stack of clusters/stacks.toml
    # repro: a runner of single pods with pasted NADs (None: this backend cannot run one)
    pods: Callable[[Options], PodRunner] | None = None
    # repro: what this backend does with one pasted request (IPAM substitution, host checks,
    # the runner kept for the fix search); None: `pods` opened, the request run as pasted
    # (backends/podrun.run_on_pods)
    repro: Callable[[Request, ReproOptions], PastedRun] | None = None
    # the model (judge): why this backend cannot run a case, one line the judge prefixes with
    # "<name> backend: "; None when it can
    unsupported: Callable[[Case], str | None] = lambda case: None
    # no Kube-OVN here: a kube-ovn IPAM the matrix asks to substitute (`substitute_ipam`) runs
    # as static, so the judge does not judge Kube-OVN's annotation for it
    substitutes_ipam: bool = False
    # repro: state paths a pasted config sets (host-local dataDir, ...) go to the run's temp
    # folder instead (backends/netns/state_paths), and the entry lists them
    confines_state: bool = False
    # repro's fix search verifies candidates in-process on netns (with the repro's plugin
    # dirs); otherwise only on a runner the repro hook kept open (kind), else it says why not
    fix_in_process: bool = False
    order: int = 100  # place in the list of names (--help, doctor)
    # called once before the process starts threads (pytest_configure), when named explicitly
    before_threads: Callable[[], None] | None = None


_ENTRIES: dict[str, BackendEntry] = {}
_loaded = False


def register(entry: BackendEntry) -> BackendEntry:
    """Add a backend (its entry module calls this on import); a name is registered once."""
    if entry.name == AUTO:
        raise ValueError(f"backend name {AUTO!r} is reserved for the automatic pick")
    old = _ENTRIES.get(entry.name)
    if old is not None and old != entry:
        raise ValueError(f"backend {entry.name!r} is already registered")
    _ENTRIES[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a backend (tests that register a throwaway one)."""
    _ENTRIES.pop(name, None)


@contextmanager
def registered(entry: BackendEntry) -> Iterator[BackendEntry]:
    """`entry` registered for the duration of a `with` block (tests)."""
    load()
    register(entry)
    try:
        yield entry
    finally:
        unregister(entry.name)


def load() -> None:
    """Import every `macmatrix/backends/<package>/entry.py` once, so each registers itself."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import macmatrix.backends as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = f"{package.__name__}.{info.name}.{ENTRY_MODULE}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def entries() -> list[BackendEntry]:
    load()
    return sorted(_ENTRIES.values(), key=lambda e: (e.order, e.name))


def auto_candidates() -> tuple[str, ...]:
    """The backends `--backend auto` may pick, in list order."""
    return tuple(e.name for e in entries() if e.auto_rank is not None)


def names() -> tuple[str, ...]:
    """Every registered backend, in list order."""
    return tuple(e.name for e in entries())


def choices() -> tuple[str, ...]:
    """What `--backend` accepts: auto, then every registered backend."""
    return (AUTO, *names())


def find(name: str) -> BackendEntry | None:
    """The entry of `name`, or None (a results file may name a backend this build lacks)."""
    load()
    return _ENTRIES.get(name)


def get(name: str) -> BackendEntry:
    """The entry of `name`; BadInput naming the registered ones for anything else."""
    load()
    entry = _ENTRIES.get(name)
    if entry is None:
        raise BadInput(f"--backend: unknown backend {name!r}; use {', '.join(choices())}")
    return entry


# ----------------------------------------------------------------------------- choosing


def pick_auto(
    refuses: Callable[[BackendEntry], str | None] | None = None,
    need_pods: bool = False,
) -> tuple[str, str]:
    """(backend, why) for `--backend auto`: the first candidate by rank that does not refuse.

    `refuses` replaces the entries' own probes (doctor passes its injectable probe);
    `need_pods` passes over backends that cannot run a single repro pod, saying so.
    """
    refused: list[str] = []
    candidates = sorted(
        (e for e in entries() if e.auto_rank is not None), key=lambda e: (e.auto_rank, e.name)
    )
    for entry in candidates:
        why_not = refuses(entry) if refuses is not None else entry.auto_refuses()
        if why_not is None and need_pods and entry.pods is None:
            why_not = f"the {entry.name} backend cannot run a single repro pod in this build"
        if why_not is None:
            return entry.name, entry.auto_why or "; ".join(refused)
        refused.append(why_not)
    raise BadInput(
        "--backend auto: no backend can run here ("
        + "; ".join(refused)
        + "); name one of "
        + ", ".join(names())
    )


def resolve(name: str, announce: bool = True, log: TextIO | None = None) -> str:
    """`auto` -> the backend it picks, saying which and why; any other name is checked."""
    if name != AUTO:
        return get(name).name
    picked, why = pick_auto()
    if announce:
        print(f"macmatrix: --backend auto picked {picked} ({why})", file=log or sys.stderr)
    return picked


def default_stack(
    backend: str, stack: str | None, announce: bool = True, log: TextIO | None = None
) -> str | None:
    """A backend that runs stacks, without --stack, runs the newest in clusters/stacks.toml."""
    if stack or not get(backend).runs_stacks:
        return stack
    from macmatrix.spec.stacks import newest

    picked = newest()
    if announce:
        print(f"macmatrix: no --stack given; using the newest, {picked}", file=log or sys.stderr)
    return picked


def check(name: str, opts: Options) -> None:
    """BadInput (one line) when backend `name` refuses these options; the one place `run`,
    its `--dry-run` and the pytest plugin check them, before anything is planned or built."""
    get(name).check(opts)


@contextmanager
def opened(name: str, opts: Options) -> Iterator[Backend]:
    """The backend `name` opened with `opts` (checked first); closed again also on errors and
    Ctrl-C."""
    check(name, opts)
    backend = get(name).open(opts)
    try:
        yield backend
    finally:
        backend.close()


def plan(name: str, cases: Sequence[Case], opts: Options) -> str:
    """The `--dry-run` plan of backend `name`."""
    return get(name).plan(cases, opts)


def unavailable(name: str, opts: Options) -> str | None:
    """Why backend `name` cannot run here (one line), or None."""
    return get(name).unavailable(opts)


def option(opts: Options, name: str, default: Any = None) -> Any:
    """An option's value, `default` when this command does not have it or left it unset."""
    value = getattr(opts, name, None)
    return default if value is None else value
