"""The package's import graph keeps its layers (DESIGN.md "Layout and layers", issue 10 item 6).

Every module under macmatrix/ is parsed with `ast` (nothing is imported); its edges are every
`import`/`from ... import` anywhere in the file (module level and inside functions, absolute and
relative) and every `import_module("macmatrix....")` with a literal name. The test fails on:

- a module that no layer claims (a new module must be placed in LAYERS);
- an edge from a lower layer to a higher one;
- an import of macmatrix.cli from outside macmatrix.cli (nothing imports the CLI);
- an import cycle between modules (lazy, function-level imports count: they only hide a cycle).

KNOWN lists the violations that existed when this test landed, each with why it is still there.
TO OTHER HELPERS: when you fix one, DELETE its entry here in the same commit. The test also fails
when a KNOWN entry no longer occurs, so the list can only shrink and always tells the truth.
When a fix only shrinks a cycle, replace its entry with the smaller cycle this test prints.
Never add an entry to make a new violation pass: move the code to the right layer instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "macmatrix"

# Module-name prefixes per layer, low to high. A module belongs to the longest matching prefix.
LAYERS: dict[str, int] = {
    "macmatrix": 0,  # the package's __init__ only (see _layer)
    "macmatrix.errors": 0,
    "macmatrix.macs": 0,
    "macmatrix.versions": 0,
    "macmatrix.limits": 0,
    "macmatrix.observe": 0,
    "macmatrix.types": 0,
    "macmatrix.files": 0,
    "macmatrix.threads": 0,
    "macmatrix.data": 0,
    "macmatrix.spec": 1,
    "macmatrix.build": 2,
    "macmatrix.backends": 3,
    "macmatrix.judge": 4,
    "macmatrix.run": 5,
    "macmatrix.views": 6,
    "macmatrix.workflows": 7,
    "macmatrix.cli": 8,
    "macmatrix.pytest_plugin": 8,
    "macmatrix.e2e": 8,
}
LAYER_NAMES = ["core", "spec", "build", "backends", "judge", "run", "views", "workflows", "entry"]

# Today's violations: "importer -> imported" (upward edge or cli import) or
# "cycle: a <-> b <-> ..." (the sorted members of one strongly connected component) -> why/who.
KNOWN: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve_relative(importer: str, is_pkg: bool, level: int, module: str | None) -> str:
    base = importer.split(".") if is_pkg else importer.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _raw_imports(name: str, path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                target = _resolve_relative(name, _is_package(path), node.level, node.module)
            yield target, [alias.name for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value, []


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """importer -> the macmatrix modules it imports (`from pkg import mod` names the module)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names in _raw_imports(name, path):
            if target != "macmatrix" and not target.startswith("macmatrix."):
                continue
            hits = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if len(hits) < len(names) or not names:
                # Names that are not submodules come from the module itself (or its nearest
                # existing parent, for `import macmatrix.x.y` of a missing y: still a bug below).
                owner = target
                while owner not in modules and "." in owner:
                    owner = owner.rsplit(".", 1)[0]
                hits.append(owner)
            graph[name].update(h for h in hits if h != name)
    return graph


def _layer(module: str) -> int | None:
    if module == "macmatrix":
        return 0
    owners = [p for p in LAYERS if p != "macmatrix" and (module == p or module.startswith(p + "."))]
    return LAYERS[max(owners, key=len)] if owners else None


def _upward(graph: dict[str, set[str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for src, targets in graph.items():
        for dst in targets:
            ls, ld = _layer(src), _layer(dst)
            if ls is None or ld is None:
                continue
            if ld > ls:
                found[f"{src} -> {dst}"] = f"{LAYER_NAMES[ls]} imports {LAYER_NAMES[ld]}"
            elif _in_cli(dst) and not _in_cli(src):
                found[f"{src} -> {dst}"] = "imports the CLI"
    return found


def _in_cli(module: str) -> bool:
    return module == "macmatrix.cli" or module.startswith("macmatrix.cli.")


def _cycles(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Strongly connected components of more than one module (Tarjan), each with one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return {"cycle: " + " <-> ".join(c): _one_cycle(graph, c) for c in components}


def _one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest path from the component's first module back to itself (for the message)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return component


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _edges(_modules())


def test_the_walk_sees_the_package(graph: dict[str, set[str]]) -> None:
    # Guards the walker itself: a known downward edge and a function-level import are seen.
    assert "macmatrix.cli" in graph
    assert "macmatrix.errors" in graph["macmatrix.cli"]
    assert any(graph.values()), "no edges found: the walker is broken"


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    unplaced = sorted(m for m in graph if _layer(m) is None)
    assert not unplaced, f"place these modules in a layer (tests/test_layers.py LAYERS): {unplaced}"


def test_imports_that_target_no_module(graph: dict[str, set[str]]) -> None:
    modules = _modules()
    missing = sorted(
        f"{src} -> {target}"
        for src, path in modules.items()
        for target, _ in _raw_imports(src, path)
        if target.startswith("macmatrix.")
        and target not in modules
        and target.rsplit(".", 1)[0] not in modules
    )
    assert not missing, f"imports of modules that do not exist: {missing}"


def test_no_upward_import_and_nothing_imports_the_cli(graph: dict[str, set[str]]) -> None:
    found = _upward(graph)
    new = {edge: why for edge, why in found.items() if edge not in KNOWN}
    assert not new, "lower layer imports a higher one, or imports the CLI:\n" + "\n".join(
        f"  {edge}  ({why})" for edge, why in sorted(new.items())
    )


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    found = _cycles(graph)
    new = {key: path for key, path in found.items() if key not in KNOWN}
    assert not new, "import cycles:\n" + "\n".join(
        f"  {' -> '.join(path)}" for path in sorted(new.values())
    )


def test_known_violations_still_exist(graph: dict[str, set[str]]) -> None:
    """KNOWN only shrinks: a fixed violation must leave the list in the same commit."""
    found = set(_upward(graph)) | set(_cycles(graph))
    gone = sorted(key for key in KNOWN if key not in found)
    assert not gone, (
        "no longer found as listed in KNOWN (tests/test_layers.py): delete what you fixed; "
        "a cycle that changed shape is listed again by test_no_import_cycle: " + ", ".join(gone)
    )
