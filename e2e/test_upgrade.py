"""The in-place upgrade check on a real kind cluster (project issue #4).

    pytest e2e/test_upgrade.py -m kind --upgrade-from kube-ovn-v1.13 --upgrade-to kube-ovn-v1.14
    macmatrix baseline plan-upgrade kube-ovn-v1.13 kube-ovn-v1.14 --dry-run   # the plan only

Installs FROM on a fresh cluster, runs the matrix keeping its pods, upgrades Kube-OVN in place
with the new tag's install.sh (and Multus when its pin changes), then asserts the kept pods are
the same Running pods with the same eth0/net1 MACs and MAC annotations, runs the matrix again
and fails on regressions against the first run. Results: OUT/upgrade-<FROM>-to-<TO>/.
Skips, saying why, without both options, without a Docker engine, or offline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix.errors import InfraError
from macmatrix.pytest_plugin.matrix import _matrix_path, matrix_cases
from macmatrix.pytest_plugin.upgrade import upgrade_pair

pytestmark = pytest.mark.kind

# Where the check downloads from or pulls images (docs/kind.md "Downloads").
HOSTS = ("github.com", "raw.githubusercontent.com", "dl.k8s.io", "registry-1.docker.io", "ghcr.io")


def _why_not() -> str | None:
    from macmatrix.backends.kind.stack import docker
    from macmatrix.backends.kind.stack.download import reachable

    if not docker.engine_answers():
        return "no Docker engine answers (kind needs one; see `macmatrix doctor --backend kind`)"
    # reachable() resolves first: an offline machine sends no packet to these hosts
    offline = [h for h in HOSTS if not reachable(h)]
    if offline:
        return f"no internet: cannot reach {', '.join(offline)} (stacks are downloaded)"
    return None


def test_upgrade_in_place_keeps_pods_and_behaviour(request: pytest.FixtureRequest) -> None:
    config = request.config
    pair = upgrade_pair(config)
    if pair is None:
        pytest.skip("no upgrade asked: pass --upgrade-from STACK --upgrade-to STACK")
    # the pair itself was checked at start-up (macmatrix/pytest_plugin/upgrade.py pytest_configure)
    why = _why_not()
    if why:
        pytest.skip(why)

    from macmatrix.backends.kind.upgrade_session import KindUpgrade
    from macmatrix.workflows.upgrade_check import run_check

    out = Path(config.getoption("--out")) / f"upgrade-{pair[0]}-to-{pair[1]}"
    backend = KindUpgrade.for_upgrade(
        pair[0],
        pair[1],
        bool(config.getoption("--keep-cluster", default=False)),
        out,
        bool(config.getoption("--require-lock", default=False)),
    )
    try:
        outcome = run_check(
            backend,
            matrix_cases(config),
            out,
            str(_matrix_path(config)),
            retries=int(config.getoption("--retries", default=2)),
        )
    except InfraError as e:
        pytest.fail(f"infrastructure failure: {e}", pytrace=False)
    finally:
        backend.close()
    report = outcome.render() + f"\nfiles: {out}\n"
    assert outcome.checked_pods, "no kept pod was Running before the upgrade:\n" + report
    if outcome.pod_failures:
        pytest.fail("kept pods changed across the upgrade\n" + report, pytrace=False)
    code = outcome.exit_code()
    if code == 1:
        pytest.fail("regressions after the upgrade\n" + report, pytrace=False)
    if code == 3:
        pytest.fail("infra errors left cases unchecked (re-run)\n" + report, pytrace=False)
