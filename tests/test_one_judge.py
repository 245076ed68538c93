"""The matrix and repro judge with one judge (verdict.judge_pods) and write one entry shape
(results.entry): repro of a matrix case's own NAD + pod, on the real plugins, gives the outcome
and the checks the matrix gives that pod. A second judging path would drift from this."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from macmatrix.backends import podrun
from macmatrix.backends.netns.backend import NetnsBackend
from macmatrix.build import manifests
from macmatrix.build.ipam_substitute import apply as substitute_ipam
from macmatrix.judge import verdict
from macmatrix.run import results
from macmatrix.spec import cases
from macmatrix.spec.userinput import parse_text, resolve
from macmatrix.workflows import repro

NS = "mm-onejudge"
# matrix check -> repro's name for it (repro tags each check with its interface)
AS_REPRO = {
    "sandbox_created": "sandbox_created",
    "secondary_mac_honoured": "mac_honoured[net1]",
    "primary_mac_honoured": "primary_mac_honoured[eth0]",
    "status_reports_mac": "status_reports_mac[net1]",
    "status_matches_kernel": "status_matches_kernel[net1]",
    "kubeovn_annotation_matches_kernel": "kubeovn_annotation_matches_kernel[net1]",
}
ENTRY_KEYS = {"id", "axes", "outcome", "reason", "requested", "pods", "checks", "attempts"}


def case_yaml(case: cases.Case) -> str:
    """The case's own NAD, its Subnet (kube-ovn IPAM) and replica 0's pod, as a user pastes them."""
    docs = [manifests.nad(case, NS), manifests.pod(case, NS, 0, "busybox")]
    subnet = manifests.subnet(case, NS)
    return yaml.safe_dump_all([*docs, *([subnet] if subnet else [])], sort_keys=False)


@pytest.fixture(scope="module")
def runnable() -> list[cases.Case]:
    every = cases.load(cases.default_matrix_path())
    out = [c for c in every if not c.netns_unsupported()]
    assert len(out) > 40, "the default matrix lost its netns cases"
    return out


def test_repro_of_every_matrix_case_judges_as_the_matrix(runnable: list[cases.Case]) -> None:
    mismatches: list[str] = []
    outcomes: set[str] = set()
    with NetnsBackend() as nb:
        observed = nb.run(runnable)
        for case in runnable:
            obs = observed[case.id]
            assert obs.status == "ran", f"{case.id}: {obs.reason}"
            # repro runs one pod: compare with the matrix's judgement of replica 0 alone
            first = replace(obs, pods=obs.pods[:1])
            alone = verdict.judge(case, first)
            mine = results.case_entry(case, first, alone, None)
            request = resolve(parse_text(case_yaml(case), f"{case.id}.yaml"))
            to_run, subs, refused = substitute_ipam(request)
            assert refused is None, f"{case.id}: {refused}"
            pod = podrun.run_pod(nb, to_run, {})[0]
            theirs = repro.build_entry(request, pod, "ran", "", [], nb.stack(), 0.0, subs)

            assert set(mine) & set(theirs) >= ENTRY_KEYS, case.id  # one entry shape
            outcomes.add(alone.outcome)
            if alone.outcome != theirs["outcome"]:
                mismatches.append(f"{case.id}: {alone.outcome} vs repro {theirs['outcome']}")
            for name, check in alone.checks.items():
                got = theirs["checks"].get(AS_REPRO[name])
                if got is None or got["ok"] != check.ok:
                    mismatches.append(f"{case.id}: {name} ok={check.ok} vs repro {got}")
                elif name == "secondary_mac_honoured" and check.expected != [got["expected"]]:
                    mismatches.append(f"{case.id}: asked {check.expected} vs {got['expected']}")
            extra = set(theirs["checks"]) - {AS_REPRO[n] for n in alone.checks}
            # the one asymmetry, in what is asked (not in judging): repro counts a NAD's static
            # `mac` as asked for (its `config` route), the matrix's request axis does not
            static = case.tuning == "static" and case.has_tuning and case.request == "none"
            if extra and extra != ({"mac_honoured[net1]"} if static else set()):
                mismatches.append(f"{case.id}: repro-only checks {sorted(extra)}")
    assert not mismatches, "\n".join(mismatches)
    assert {"works", "broken"} <= outcomes  # the comparison covered both outcomes


def test_both_namings_are_one_set_of_rules() -> None:
    """Kube-OVN's attachment annotation and the primary eth0, as a kind pod reports them: the
    matrix's names (per role, over replicas) and repro's (per interface) judge the same."""
    from macmatrix.observe import CaseObservation, PodObservation, network_status_entry

    mac, other = "02:00:00:00:00:01", "02:00:00:00:00:02"
    key = "att.ns.kubernetes.io/mac_address"
    pod = PodObservation(
        "p",
        interfaces={"eth0": "0a:00:00:00:00:01", "net1": mac},
        network_status=[
            network_status_entry(
                "ns/att", {"interfaces": [{"name": "net1", "mac": mac, "sandbox": "/x"}]}, "net1"
            )
        ],
        annotations={key: other},
    )
    wants = [
        verdict.Want("net1", mac, annotation=True, annotation_key=key),
        verdict.Want("eth0", "0a:00:00:00:00:09", primary=True),
    ]
    obs = CaseObservation("c", pods=[pod])
    by_role = verdict.judge_pods(obs, [wants])
    tagged = verdict.judge_pods(obs, [wants], per_interface=True)
    assert by_role.outcome == tagged.outcome == "broken"
    assert {AS_REPRO[n]: c.ok for n, c in by_role.checks.items()} == {
        n: c.ok for n, c in tagged.checks.items()
    }
    assert not tagged.checks["kubeovn_annotation_matches_kernel[net1]"].ok
    assert not tagged.checks["primary_mac_honoured[eth0]"].ok
    # no eth0 observed (netns has no Kube-OVN primary): not judged, in both namings
    bare = replace(pod, interfaces={"net1": mac}, annotations={})
    for per_interface in (False, True):
        got = verdict.judge_pods(CaseObservation("c", pods=[bare]), [wants], per_interface)
        assert got.outcome == "works" and not any("primary" in n for n in got.checks)
