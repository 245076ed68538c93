"""Checks, outcomes, and the model of what upstream is expected to do with a requested MAC.

Observations come in from a backend; this module judges them (named checks -> an outcome) and
predicts, from the upstream facts in shared/UPSTREAM.md, what each case *should* show. A case's
test passes when the judged outcome and checks equal the expectation, so a combination known to
be broken passes its test while the table still shows it broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from macmatrix import macs, versions
from macmatrix.observe import CaseObservation, status_mac
from macmatrix.spec.cases import Case
from macmatrix.spec.netconf import OVN_PROVIDER, key_provider
from macmatrix.types import Check, CheckEntry, ExpectationEntry, Outcome, Status

SECONDARY = "net1"  # Multus names the first secondary interface net1 (UPSTREAM.md)
PRIMARY = "eth0"


@dataclass
class CheckResult:
    """One named check of a verdict (results.json `checks.<name>`)."""

    expected: Any
    observed: Any
    ok: bool

    def to_json(self) -> CheckEntry:
        return {"expected": self.expected, "observed": self.observed, "ok": self.ok}


@dataclass
class Verdict:
    outcome: Outcome
    reason: str
    checks: dict[str, CheckResult] = field(default_factory=dict)


@dataclass
class Expectation:
    """What a case should show: its outcome and, per check, whether it passes."""

    outcome: Outcome
    checks: dict[str, bool]
    why: list[str] = field(default_factory=list)
    source: str = "model"

    def to_json(self) -> ExpectationEntry:
        return {
            "outcome": self.outcome,
            "checks": self.checks,
            "why": self.why,
            "source": self.source,
        }


# --------------------------------------------------------------------------- judging


def judge(case: Case, obs: CaseObservation) -> Verdict:
    """Turn an observation into named checks and one outcome."""
    if obs.status != Status.RAN:
        return Verdict(Outcome(obs.status), obs.reason)
    checks: dict[str, CheckResult] = {}
    errors = [p.error for p in obs.pods if p.error]
    checks[Check.SANDBOX_CREATED] = CheckResult(True, not errors, not errors)
    if errors:
        return Verdict(Outcome.BROKEN, f"sandbox failed: {errors[0]}", checks)

    requested = [case.requested_mac(i) for i in range(len(obs.pods))]
    kernel = [p.interfaces.get(SECONDARY) for p in obs.pods]
    if case.asks_secondary_mac:
        checks[Check.SECONDARY_MAC_HONOURED] = CheckResult(requested, kernel, requested == kernel)
    if case.primary_mac == "yes":
        want = [case.requested_primary_mac(i) for i in range(len(obs.pods))]
        got = [p.interfaces.get(PRIMARY) for p in obs.pods]
        checks[Check.PRIMARY_MAC_HONOURED] = CheckResult(want, got, want == got)

    reported = [status_mac(p.network_status, SECONDARY) for p in obs.pods]
    checks[Check.STATUS_REPORTS_MAC] = CheckResult(
        True, [r is not None for r in reported], all(reported)
    )
    agree = all(r is None or r == k for r, k in zip(reported, kernel, strict=True))
    checks[Check.STATUS_MATCHES_KERNEL] = CheckResult(kernel, reported, agree)

    if case.ipam == "kube-ovn" and not obs.ipam_substituted:
        # Kube-OVN owns `<provider>.kubernetes.io/mac_address` only for its own IPAM; when the
        # netns backend ran static instead, no Kube-OVN wrote it: not judged (results.not_judged).
        ann = [_attachment_annotation(p.annotations) for p in obs.pods]
        ok = all(a is None or a == k for a, k in zip(ann, kernel, strict=True))
        checks[Check.KUBEOVN_ANNOTATION_MATCHES_KERNEL] = CheckResult(kernel, ann, ok)
    # The IP CR's spec.macAddress (obs ip_cr_mac) is recorded, never judged: for an IPAM-only
    # (macvlan) attachment Kube-OVN leaves it empty on purpose (kube-ovn PR #4242, v1.13.0+), and
    # its own e2e asserts `ExpectEmpty(ipCR.Spec.MacAddress)` (test/e2e/multus/e2e_test.go,
    # v1.16.2). tests/test_kubeovn_ip_cr.py keeps any check from calling that broken.
    if case.n_replicas > 1:
        seen = [k for k in kernel if k]
        checks[Check.UNIQUE_ACROSS_REPLICAS] = CheckResult(
            "distinct", kernel, len(seen) == len(set(seen)) == len(kernel)
        )

    failing = [name for name, c in checks.items() if not c.ok]
    if not failing:
        return Verdict(Outcome.WORKS, "", checks)
    return Verdict(Outcome.BROKEN, "; ".join(_explain(n, checks[n]) for n in failing), checks)


def _attachment_annotation(annotations: dict[str, str]) -> str | None:
    for key, value in annotations.items():
        provider = key_provider(key)
        if provider is not None and provider != OVN_PROVIDER:
            return macs.normalise(value)
    return None


def _explain(name: str, check: CheckResult) -> str:
    return f"{name}: expected {_short(check.expected)}, observed {_short(check.observed)}"


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return "none" if value is None else str(value)


# --------------------------------------------------------------------------- the model


def _mac_source(case: Case, plugins: str | None) -> tuple[str, list[str]]:
    """Which request ends up as net1's kernel MAC: 'requested', 'static' or 'random'."""
    why: list[str] = []
    # Multus passes the element `mac` as CNI_ARGS MAC= to every plugin, and as runtimeConfig.mac
    # only to plugins with capabilities.mac (multus pkg/types, libcni injectRuntimeConfig).
    element = case.asks_element_mac
    # macvlan: config mac < CNI_ARGS MAC < runtimeConfig.mac, since plugins v0.8.7 (PR #480).
    macvlan_reads_args = versions.at_least(plugins, "0.8.7")
    source = "requested" if element and macvlan_reads_args else "random"
    if element:
        why.append(
            "macvlan sets the element mac from CNI_ARGS MAC"
            + (" and runtimeConfig.mac" if case.macvlan_capmac == "on" else "")
        )
    if case.has_tuning:
        # tuning: mac < CNI_ARGS MAC < runtimeConfig.mac < args.cni.mac (plugins/meta/tuning).
        if case.request == "cni-args":
            why.append("tuning applies args.cni.mac (from the element's cni-args)")
            return "requested", why
        if element:
            why.append("tuning re-applies the element mac")
            return "requested", why
        if case.tuning == "static":
            why.append("tuning applies the NAD's static mac to every pod")
            return "static", why
    elif case.request == "cni-args":
        why.append("only tuning reads args.cni; macvlan ignores cni-args")
    if case.asks_annotation_mac and not element:
        why.append(
            "nothing sets a macvlan MAC from <provider>.kubernetes.io/mac_address "
            "(Kube-OVN only reads it for its own attachments)"
        )
    return source, why


# cniVersion -> the first containernetworking/plugins release that accepts it (see model()).
CNI_VERSION_NEEDS = {"1.0.0": "v1.0.0", "1.1.0": "v1.2.0"}


def model(case: Case, stack: dict[str, Any]) -> Expectation:
    """Predict a case's outcome and checks from upstream behaviour (shared/UPSTREAM.md)."""
    backend = stack.get("backend", "")
    plugins = stack.get("cni_plugins")
    if backend == "netns" and case.netns_unsupported():
        return Expectation(Outcome.UNSUPPORTED, {}, [f"netns backend: {case.netns_unsupported()}"])
    if backend == "multus" and case.multus_unsupported():
        return Expectation(
            Outcome.UNSUPPORTED, {}, [f"multus backend: {case.multus_unsupported()}"]
        )
    # netns/multus with the matrix's substitute_ipam: static IPAM ran, Kube-OVN's annotation is
    # not judged
    substituted = backend in ("netns", "multus") and case.substitute_ipam
    # A plugin rejects a cniVersion its CNI library does not list (skel: "incompatible CNI
    # versions"): spec 1.0.0 came with libcni v1.0.0 in plugins v1.0.0, 1.1.0 with libcni v1.1
    # in plugins v1.2.0 (containernetworking/plugins go.mod at those tags; ran: v0.8.6, v1.1.1).
    needs = CNI_VERSION_NEEDS.get(case.cni_version)
    if needs and not versions.at_least(plugins, needs):
        return Expectation(
            Outcome.BROKEN,
            {Check.SANDBOX_CREATED: False},
            [f"plugins {plugins} do not support cniVersion {case.cni_version}; it needs {needs}+"],
        )
    # linkInContainer (master inside the pod netns) needs plugins >= v1.3.0.
    if case.master == "eth0-in-pod" and not versions.at_least(plugins, "1.3.0"):
        return Expectation(
            Outcome.BROKEN,
            {Check.SANDBOX_CREATED: False},
            [f"linkInContainer needs plugins v1.3.0+ ({plugins})"],
        )
    source, why = _mac_source(case, plugins)
    if source == "static" and case.n_replicas > 1:
        # Pods of one case share a node (podAffinity, manifests._same_node) and so the lower device;
        # the kernel refuses a second macvlan with a MAC already in use there (drivers/net/
        # macvlan.c, macvlan_addr_busy -> EADDRINUSE), so the second pod's sandbox fails.
        why.append("the NAD's static MAC is already in use on the master: address already in use")
        return Expectation(Outcome.BROKEN, {Check.SANDBOX_CREATED: False}, why)
    checks: dict[str, bool] = {Check.SANDBOX_CREATED: True}
    if case.asks_secondary_mac:
        checks[Check.SECONDARY_MAC_HONOURED] = source == "requested"
    if case.primary_mac == "yes":
        checks[Check.PRIMARY_MAC_HONOURED] = True  # ovn.kubernetes.io/mac_address is honoured
        why.append("Kube-OVN honours ovn.kubernetes.io/mac_address on eth0")
    # No cniVersion means 0.1.0: the result has no interfaces, so Multus reports no mac.
    reports = case.cni_version != "missing"
    checks[Check.STATUS_REPORTS_MAC] = reports
    if not reports:
        why.append("no cniVersion: a 0.1.0 result has no interfaces, so network-status has no mac")
    checks[Check.STATUS_MATCHES_KERNEL] = True
    if substituted:
        why.append("ipam substituted: static ran instead of kube-ovn; its annotation not judged")
    elif case.ipam == "kube-ovn":
        checks[Check.KUBEOVN_ANNOTATION_MATCHES_KERNEL] = _kubeovn_annotation_agrees(
            case, stack.get("kube_ovn"), source, why
        )
    if case.n_replicas > 1:
        checks[Check.UNIQUE_ACROSS_REPLICAS] = True
    outcome = Outcome.WORKS if all(checks.values()) else Outcome.BROKEN
    return Expectation(outcome, checks, why)


def _kubeovn_annotation_agrees(
    case: Case, kube_ovn: str | None, source: str, why: list[str]
) -> bool:
    """Kube-OVN's `<provider>.kubernetes.io/mac_address` for an IPAM-only attachment, by version.

    <= v1.11: a MAC Kube-OVN allocated (never the kernel's); v1.12.0-v1.13.2: removed;
    v1.13.3+: the networks element's mac when given (kube-ovn PR #4836 era e2e).
    """
    if not versions.at_least(kube_ovn, "1.12.0"):
        why.append(f"Kube-OVN {kube_ovn}: the annotation carries its own random MAC")
        return False
    if not versions.at_least(kube_ovn, "1.13.3"):
        if case.asks_annotation_mac:
            why.append(f"Kube-OVN {kube_ovn} removes the attachment mac annotation")
        return True
    if case.asks_element_mac:
        why.append(f"Kube-OVN {kube_ovn} writes the element mac into the annotation")
        return source == "requested"
    # A user-set annotation stays, and nothing applies it to the kernel.
    return not case.asks_annotation_mac or source == "requested"


def differences(verdict: Verdict, expected: Expectation) -> list[str]:
    """Human lines for every way the verdict departs from the expectation (empty: as expected)."""
    out: list[str] = []
    if verdict.outcome != expected.outcome:
        out.append(f"outcome: expected {expected.outcome}, observed {verdict.outcome}")
    for name in sorted(set(expected.checks) | set(verdict.checks)):
        want = expected.checks.get(name)
        got = verdict.checks.get(name)
        got_ok = None if got is None else got.ok
        if want != got_ok:
            out.append(f"check {name}: expected ok={want}, observed ok={got_ok}")
    return out
