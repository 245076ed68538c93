"""Checks and outcomes on crafted observations, and the model's upstream rules."""

from __future__ import annotations

import pytest

from macmatrix.judge.verdict import differences, judge, model
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import DEFAULTS, Case
from macmatrix.types import Outcome

NETNS = {"backend": "netns", "cni_plugins": "1.1.1"}
KIND = {"backend": "kind", "cni_plugins": "1.9.0", "kube_ovn": "v1.14.41"}


def case(**axes: str) -> Case:
    return Case(**{**DEFAULTS, **axes})


def pod(
    kernel: str | None, status: str | None = "same", name: str = "p0", **kw: object
) -> PodObservation:
    reported = kernel if status == "same" else status
    ns = [{"name": "ns/n", "interface": "net1", **({"mac": reported} if reported else {})}]
    return PodObservation(name, interfaces={"net1": kernel}, network_status=ns, **kw)  # type: ignore[arg-type]


def test_requested_mac_on_kernel_and_status_works() -> None:
    c = case()
    v = judge(c, CaseObservation(c.id, pods=[pod(c.requested_mac(0))]))
    assert v.outcome == Outcome.WORKS and all(ch.ok for ch in v.checks.values())
    assert set(v.checks) == {
        "sandbox_created",
        "secondary_mac_honoured",
        "status_reports_mac",
        "status_matches_kernel",
    }


def test_random_kernel_mac_is_broken_and_says_both_macs() -> None:
    c = case()
    v = judge(c, CaseObservation(c.id, pods=[pod("aa:bb:cc:dd:ee:f0")]))
    assert v.outcome == Outcome.BROKEN
    assert c.requested_mac(0) in v.reason and "aa:bb:cc:dd:ee:f0" in v.reason


def test_status_disagreeing_with_kernel_is_broken_and_upper_case_is_not() -> None:
    c = case()
    mac = c.requested_mac(0)
    bad = judge(c, CaseObservation(c.id, pods=[pod(mac, status="02:00:00:00:00:99")]))
    assert not bad.checks["status_matches_kernel"].ok
    upper = judge(c, CaseObservation(c.id, pods=[pod(mac, status=mac.upper())]))
    assert (
        upper.outcome == Outcome.WORKS
    )  # tuning writes the raw string; it still names the same MAC


def test_missing_status_mac_fails_its_own_check() -> None:
    c = case(request="none")
    v = judge(c, CaseObservation(c.id, pods=[pod("02:00:00:00:00:05", status=None)]))
    assert v.outcome == Outcome.BROKEN and not v.checks["status_reports_mac"].ok
    assert v.checks["status_matches_kernel"].ok


def test_duplicate_macs_across_replicas_are_caught() -> None:
    c = case(request="none", replicas="2")
    same = [pod("02:00:00:00:00:05", name="a"), pod("02:00:00:00:00:05", name="b")]
    assert not judge(c, CaseObservation(c.id, pods=same)).checks["unique_across_replicas"].ok
    diff = [pod("02:00:00:00:00:05", name="a"), pod("02:00:00:00:00:06", name="b")]
    assert judge(c, CaseObservation(c.id, pods=diff)).outcome == Outcome.WORKS


def test_sandbox_error_is_broken_with_the_cni_message() -> None:
    c = case()
    v = judge(c, CaseObservation(c.id, pods=[PodObservation("p", error="macvlan: boom")]))
    assert (
        v.outcome == Outcome.BROKEN
        and "boom" in v.reason
        and v.checks["sandbox_created"].ok is False
    )


def test_infra_and_unsupported_pass_through() -> None:
    c = case()
    assert (
        judge(c, CaseObservation(c.id, status="infra-error", reason="x")).outcome == "infra-error"
    )
    assert judge(c, CaseObservation(c.id, status="unsupported", reason="y")).reason == "y"


@pytest.mark.parametrize(
    "axes, honoured",
    [
        ({}, True),  # single macvlan + capabilities: element mac
        ({"macvlan_capmac": "off"}, True),  # CNI_ARGS MAC= is enough for macvlan >= 0.8.7
        ({"request": "cni-args"}, False),  # macvlan ignores args.cni
        ({"request": "cni-args", "chain": "conflist", "tuning": "plain"}, True),  # tuning reads it
        ({"request": "annotation"}, False),  # nothing applies the annotation to macvlan
        ({"request": "annotation", "chain": "conflist", "tuning": "capmac"}, False),
        (
            {"request": "networks", "chain": "conflist", "tuning": "static"},
            True,
        ),  # MAC= beats static
    ],
)
def test_model_secondary_mac_routes(axes: dict[str, str], honoured: bool) -> None:
    e = model(case(**axes), NETNS)
    assert e.checks["secondary_mac_honoured"] is honoured
    assert e.outcome == (Outcome.WORKS if honoured else Outcome.BROKEN)
    assert e.why  # every prediction says why


def test_model_version_rules() -> None:
    assert model(case(cni_version="1.1.0"), NETNS).checks == {"sandbox_created": False}
    assert (
        model(case(cni_version="1.1.0"), {**NETNS, "cni_plugins": "1.2.0"}).outcome == Outcome.WORKS
    )
    missing = model(case(cni_version="missing"), NETNS)
    assert missing.checks["status_reports_mac"] is False and missing.outcome == Outcome.BROKEN
    assert model(case(ipam="kube-ovn"), NETNS).outcome == "unsupported"
    assert (
        model(case(macvlan_capmac="off"), {**NETNS, "cni_plugins": "0.8.6"}).outcome
        == Outcome.BROKEN
    )


def test_model_static_tuning_mac_on_two_pods_fails_the_second_sandbox() -> None:
    e = model(case(request="none", replicas="2", chain="conflist", tuning="static"), NETNS)
    assert e.outcome == Outcome.BROKEN and e.checks == {"sandbox_created": False}


@pytest.mark.parametrize(
    "version, how, agrees",
    [
        ("v1.11.9", "networks", False),  # Kube-OVN's own random MAC in the annotation
        ("v1.12.0", "annotation", True),  # removed: nothing to disagree
        ("v1.13.2", "networks", True),
        ("v1.13.3", "networks", True),  # element mac written, and the kernel has it
        ("v1.14.41", "annotation", False),  # user's annotation stays, kernel is random
    ],
)
def test_model_kube_ovn_annotation_by_version(version: str, how: str, agrees: bool) -> None:
    e = model(case(ipam="kube-ovn", request=how), {**KIND, "kube_ovn": version})
    assert e.checks["kubeovn_annotation_matches_kernel"] is agrees


def test_differences_name_outcome_and_checks() -> None:
    c = case()
    v = judge(c, CaseObservation(c.id, pods=[pod("aa:bb:cc:dd:ee:f0")]))
    diffs = differences(v, model(c, NETNS))
    assert "outcome: expected works, observed broken" in diffs
    assert any("secondary_mac_honoured" in d for d in diffs)
    ok = judge(c, CaseObservation(c.id, pods=[pod(c.requested_mac(0))]))
    assert differences(ok, model(c, NETNS)) == []
