"""The shipped matrix files: the full-product example and the scaling benchmark's matrices."""

from __future__ import annotations

import itertools
from pathlib import Path

from macmatrix.spec import cases, plugins

REPO = Path(__file__).resolve().parents[1]


def _runnable_values() -> dict[str, set[str]]:
    """Per axis, every value some netns-runnable case can have (kube-ovn IPAM substituted)."""
    seen: dict[str, set[str]] = {a: set() for a in cases.AXES}
    for combo in itertools.product(*cases.AXES.values()):
        axes = dict(zip(cases.AXES, combo, strict=True))
        if axes["chain"] == "single" and axes["tuning"] != "none":
            continue
        case = cases.Case(**axes, substitute_ipam=axes["ipam"] in cases.SUBSTITUTABLE_IPAM)
        if case.netns_unsupported() is None:
            for a, v in axes.items():
                seen[a].add(v)
    return seen


def test_full_matrix_has_every_value_the_netns_backend_can_run() -> None:
    full = cases.load(REPO / "e2e" / "matrix-full.yaml")
    assert all(c.netns_unsupported() is None for c in full)
    covered = {a: {getattr(c, a) for c in full} for a in cases.AXES}
    assert covered == _runnable_values()
    # a full product per main plugin: the product of the covered values (single has no tuning;
    # a plugin varies only the masters it takes, spec/plugins)
    shapes = 1 + len(covered["tuning"])
    rest = [len(covered[a]) for a in cases.AXES if a not in ("chain", "tuning", "plugin", "master")]
    expected = 0
    for plugin in covered["plugin"]:
        n = shapes * len(plugins.get_masters(plugin))
        for k in rest:
            n *= k
        expected += n
    assert len(full) == expected == 4500


def test_bench_matrices_have_the_sizes_the_bench_prints() -> None:
    m600 = cases.load(REPO / "bench" / "matrices" / "cases-600.yaml")
    m2000 = cases.load(REPO / "bench" / "matrices" / "cases-2000.yaml")
    assert len(m600) == 600 and all(c.netns_unsupported() is None for c in m600)
    assert len(m2000) == 2000 and all(c.netns_unsupported() is None for c in m2000)
