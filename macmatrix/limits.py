"""Bounds on what users hand us: size, nesting depth and YAML alias expansion.

A 315-byte YAML alias bomb (anchors nesting 9 aliases per level) loads cheaply, because PyYAML
shares aliased nodes, but anything that walks the value (json.dumps, the linter) expands it to
billions of nodes; 20,000-deep YAML or 50,000-deep JSON ends in a RecursionError. Every reader
of user input (pastes for lint/repro, matrix files, results and baseline files) goes through
these loaders, so each of those is one BadInput line (exit 2) instead.

The bounds are generous for real inputs: a NAD + pod paste is a few kB nested about 8 deep,
and the largest results.json of the default matrix is well under a megabyte.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from macmatrix.errors import BadInput

MAX_PASTE_BYTES = 1 << 20  # a bug report's NADs and pod: a few kB
MAX_FILE_BYTES = 64 << 20  # results.json of a large matrix with diagnostics
MAX_DEPTH = 64  # nested lists/mappings; real NADs, pods and results go about 8 deep
MAX_NODES = 200_000  # values after expanding YAML aliases


def check_size(data: bytes | str, where: str, limit: int = MAX_PASTE_BYTES) -> None:
    size = len(data)
    if size > limit:
        raise BadInput(
            f"{where}: {size} bytes, more than the {limit} this reads; pass only the NADs and "
            "the pod (or the results file) it is about"
        )


def _too_deep(where: str) -> BadInput:
    return BadInput(
        f"{where}: nested more than {MAX_DEPTH} levels deep; no NAD, pod or results file is, "
        "so pass the real one"
    )


def check_depth(value: Any, where: str) -> None:
    """Raise BadInput when `value` nests lists/dicts deeper than MAX_DEPTH (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise _too_deep(where)
        stack.extend((c, depth + 1) for c in children)


def _too_many(where: str) -> BadInput:
    return BadInput(
        f"{where}: more than {MAX_NODES} values (after expanding YAML aliases &/*); "
        "write the values out instead of nesting aliases"
    )


def json_loads(text: str, where: str) -> Any:
    """json.loads with the depth bound; JSONDecodeError passes through for the caller's message."""
    try:
        value = json.loads(text)
    except RecursionError as e:
        raise _too_deep(where) from e
    check_depth(value, where)
    return value


def json_raw_decode(decoder: json.JSONDecoder, text: str, i: int, where: str) -> tuple[Any, int]:
    try:
        value, end = decoder.raw_decode(text, i)
    except RecursionError as e:
        raise _too_deep(where) from e
    check_depth(value, where)
    return value, end


class _TooDeep(yaml.YAMLError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting while composing (before PyYAML recurses too far)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep()
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, where: str) -> int:
    """Nodes the document stands for once every alias is written out (shared nodes counted once
    per use), without expanding it: memoised per node, iterative, cycles refused."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        n, done = stack.pop()
        key = id(n)
        if done:
            on_path.discard(key)
            kids = _children(n)
            sizes[key] = 1 + sum(sizes[id(c)] for c in kids)
            if sizes[key] > MAX_NODES:
                raise _too_many(where)
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise BadInput(f"{where}: a YAML alias refers to its own anchor; write it out")
        on_path.add(key)
        stack.append((n, True))
        stack.extend((c, False) for c in _children(n) if id(c) not in sizes)
    return sizes[id(node)]


def _children(n: yaml.Node) -> list[yaml.Node]:
    if isinstance(n, yaml.SequenceNode):
        return list(n.value)
    if isinstance(n, yaml.MappingNode):
        return [x for kv in n.value for x in kv]
    return []


def yaml_load_all(text: str, where: str) -> list[Any]:
    """yaml.safe_load_all with the depth and alias-expansion bounds; YAMLError passes through."""
    loader = _BoundedLoader(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _expanded_size(node, where)
            docs.append(loader.construct_document(node))
    except (_TooDeep, RecursionError) as e:
        raise _too_deep(where) from e
    finally:
        loader.dispose()
    return docs


def yaml_load(text: str, where: str) -> Any:
    """One YAML document (None when empty), bounded like yaml_load_all."""
    docs = yaml_load_all(text, where)
    if len(docs) > 1:
        raise yaml.composer.ComposerError(
            "expected a single document in the stream", None, "but found another document", None
        )
    return docs[0] if docs else None
