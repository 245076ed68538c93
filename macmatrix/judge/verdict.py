"""Checks, outcomes, and the model of what upstream is expected to do with a requested MAC.

Observations come in from a backend; this module judges them (named checks -> an outcome) and
predicts, from the upstream facts in shared/UPSTREAM.md, what each case *should* show. A case's
test passes when the judged outcome and checks equal the expectation, so a combination known to
be broken passes its test while the table still shows it broken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from macmatrix import macs, versions
from macmatrix.backends import registry
from macmatrix.observe import CaseObservation, PodObservation, status_mac
from macmatrix.spec import plugins as plugin_registry
from macmatrix.spec import requests
from macmatrix.spec.cases import Case
from macmatrix.spec.netconf import OVN_PROVIDER, key_provider
from macmatrix.spec.plugins import chain
from macmatrix.spec.plugins.base import CONFIG, capmac
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

# The matrix names the checks by role over its replicas (net1: secondary_mac_honoured, ...);
# repro tags them with the interface (mac_honoured[net1], ...). Both come from judge_pods(), one
# set of rules; _ROLE_ORDER is the order a verdict lists them in.
_ROLE_ORDER = (
    Check.MAC_HONOURED,
    Check.PRIMARY_MAC_HONOURED,
    Check.STATUS_REPORTS_MAC,
    Check.STATUS_MATCHES_KERNEL,
    Check.KUBEOVN_ANNOTATION_MATCHES_KERNEL,
)
_ROLE_NAME = {Check.MAC_HONOURED: Check.SECONDARY_MAC_HONOURED}


@dataclass(frozen=True)
class Want:
    """What one interface of a pod asked for, and what of it is judged.

    `mac`: the MAC asked for, normalised (None: nothing asked, so no honoured check).
    `primary`: Kube-OVN's eth0 (ovn.kubernetes.io/mac_address); judged only where the backend
    observed an eth0 at all (the netns backend has no Kube-OVN primary).
    `annotation`: Kube-OVN writes `<provider>.kubernetes.io/mac_address` for this attachment
    (its IPAM allocates) and it is judged; False also where the IPAM ran substituted
    (ipam_substitute: no Kube-OVN wrote it, see results not_judged). `annotation_key`: that key,
    when known.
    """

    ifname: str
    mac: str | None = None
    primary: bool = False
    annotation: bool = False
    annotation_key: str | None = None


def _pod_checks(pod: PodObservation, wants: Sequence[Want]) -> list[tuple[Check, str, CheckResult]]:
    """(check, ifname, result) for one pod that ran, in the order of its interfaces."""
    out: list[tuple[Check, str, CheckResult]] = []
    for w in wants:
        kernel = pod.interfaces.get(w.ifname)
        if w.primary:
            if w.ifname in pod.interfaces:
                honoured = CheckResult(w.mac, kernel, kernel == w.mac)
                out.append((Check.PRIMARY_MAC_HONOURED, w.ifname, honoured))
            continue
        if w.mac is not None:
            out.append((Check.MAC_HONOURED, w.ifname, CheckResult(w.mac, kernel, kernel == w.mac)))
        status = status_mac(pod.network_status, w.ifname)
        reports = CheckResult(True, status is not None, status is not None)
        out.append((Check.STATUS_REPORTS_MAC, w.ifname, reports))
        agree = CheckResult(kernel, status, status is None or status == kernel)
        out.append((Check.STATUS_MATCHES_KERNEL, w.ifname, agree))
        if w.annotation:
            raw = pod.annotations.get(w.annotation_key) if w.annotation_key else None
            ann = macs.normalise(raw)
            matches = CheckResult(kernel, ann, ann is None or ann == kernel)
            out.append((Check.KUBEOVN_ANNOTATION_MATCHES_KERNEL, w.ifname, matches))
    return out


def judge_pods(
    obs: CaseObservation, wants: Sequence[Sequence[Want]], per_interface: bool = False
) -> Verdict:
    """The one judge: named checks and an outcome for the pods of a matrix case or a repro.

    `wants[i]`: what pod i asked for, per interface. `per_interface` names the checks
    `<check>[<ifname>]` with one value each (repro: one pod, any interfaces); otherwise by role
    over the pods, each value a list per pod (the matrix: replicas of one secondary, net1).
    """
    if obs.status != Status.RAN:
        return Verdict(Outcome(obs.status), obs.reason)
    errors = [p.error for p in obs.pods if p.error]
    checks: dict[str, CheckResult] = {
        Check.SANDBOX_CREATED: CheckResult(True, not errors, not errors)
    }
    if errors:
        return Verdict(Outcome.BROKEN, f"sandbox failed: {errors[0]}", checks)
    per_pod = [_pod_checks(p, w) for p, w in zip(obs.pods, wants, strict=True)]
    if per_interface:
        for found in per_pod:
            for name, ifname, result in found:
                checks[name.tagged(ifname)] = result
    else:
        for name in _ROLE_ORDER:
            row = [r for found in per_pod for n, _, r in found if n == name]
            if not row:
                continue
            expected = True if name == Check.STATUS_REPORTS_MAC else [r.expected for r in row]
            observed = [r.observed for r in row]
            ok = all(r.ok for r in row)
            checks[_ROLE_NAME.get(name, name)] = CheckResult(expected, observed, ok)
        if len(obs.pods) > 1:
            # one secondary per pod in the matrix: its MACs must differ across the replicas
            for ifname in [w.ifname for w in wants[0] if not w.primary][:1]:
                kernel = [p.interfaces.get(ifname) for p in obs.pods]
                seen = [k for k in kernel if k]
                distinct = len(seen) == len(set(seen)) == len(kernel)
                checks[Check.UNIQUE_ACROSS_REPLICAS] = CheckResult("distinct", kernel, distinct)
    # The IP CR's spec.macAddress (obs ip_cr_mac) is recorded, never judged: for an IPAM-only
    # (macvlan) attachment Kube-OVN leaves it empty on purpose (kube-ovn PR #4242, v1.13.0+), and
    # its own e2e asserts `ExpectEmpty(ipCR.Spec.MacAddress)` (test/e2e/multus/e2e_test.go,
    # v1.16.2). tests/test_kubeovn_ip_cr.py keeps any check from calling that broken.
    failing = [name for name, c in checks.items() if not c.ok]
    if not failing:
        return Verdict(Outcome.WORKS, "", checks)
    return Verdict(Outcome.BROKEN, "; ".join(_explain(n, checks[n]) for n in failing), checks)


def case_wants(case: Case, obs: CaseObservation) -> list[list[Want]]:
    """What each replica of a matrix case asked for (build/manifests.py makes the same asks)."""
    # Kube-OVN owns `<provider>.kubernetes.io/mac_address` only for its own IPAM; where the netns
    # backend ran static instead, no Kube-OVN wrote it: not judged (results not_judged).
    annotation = case.ipam == "kube-ovn" and not obs.ipam_substituted
    out = []
    for i, pod in enumerate(obs.pods):
        wants = [Want(SECONDARY, case.requested_mac(i), False, annotation, _attachment_key(pod))]
        if case.primary_mac == "yes":
            wants.append(Want(PRIMARY, case.requested_primary_mac(i), primary=True))
        out.append(wants)
    return out


def judge(case: Case, obs: CaseObservation) -> Verdict:
    """Turn a matrix case's observation into named checks and one outcome (judge_pods)."""
    return judge_pods(obs, case_wants(case, obs))


def _attachment_key(pod: PodObservation) -> str | None:
    """The case's one attachment annotation key the backend reported (its provider is the case's
    NAD in the run's namespace, which the observation does not carry)."""
    for key in pod.annotations:
        provider = key_provider(key)
        if provider is not None and provider != OVN_PROVIDER:
            return key
    return None


def _explain(name: str, check: CheckResult) -> str:
    return f"{name}: expected {_short(check.expected)}, observed {_short(check.observed)}"


def _short(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return "none" if value is None else str(value)


# --------------------------------------------------------------------------- the model


def _mac_source(case: Case, plugins: str | None) -> tuple[str, list[str]]:
    """Which request ends up as net1's kernel MAC: 'requested', 'static' or 'random'.

    Every plugin of the chain (spec/plugins: main, then tuning) takes the MAC from the channels
    the request reaches it on (spec/requests: the element `mac` as CNI_ARGS MAC, and as
    runtimeConfig.mac for plugins declaring capabilities.mac; `cni-args` as args.cni.mac) if it
    reads them at this plugins release, else from a static `mac` in its own entry; the last
    plugin that sets one wins. The annotation route reaches no plugin.
    """
    why: list[str] = []
    source = "random"
    for plugin, entry in chain(case, None):
        offered = requests.channels(case.request, capmac(entry))
        read = [
            r.channel
            for r in plugin.routes
            if r.channel in offered and (r.since is None or versions.at_least(plugins, r.since))
        ]
        if read:
            why.append(f"{plugin.name} sets the requested MAC from {' and '.join(read)}")
            source = "requested"
            continue
        ignored = sorted(offered - set(read))
        if ignored:
            why.append(f"{plugin.name} ({plugins}) does not read {', '.join(ignored)}")
        if CONFIG in plugin.channels() and entry.get("mac"):
            why.append(f"{plugin.name} applies the NAD's static mac to every pod")
            source = "static"
    if case.asks_annotation_mac and source != "requested":
        why.append(
            "nothing sets a CNI plugin's MAC from <provider>.kubernetes.io/mac_address "
            "(Kube-OVN only reads it for its own attachments)"
        )
    return source, why


# cniVersion -> the first containernetworking/plugins release that accepts it (see model()).
CNI_VERSION_NEEDS = {"1.0.0": "v1.0.0", "1.1.0": "v1.2.0"}


def model(case: Case, stack: dict[str, Any]) -> Expectation:
    """Predict a case's outcome and checks from upstream behaviour (shared/UPSTREAM.md)."""
    backend = str(stack.get("backend", ""))
    plugins = stack.get("cni_plugins")
    # what differs per backend is its registry entry's (backends/registry.py); a results file
    # may name a backend this build does not have: judged as one that runs every case
    entry = registry.find(backend)
    refused = entry.unsupported(case) if entry is not None else None
    if refused:
        return Expectation(Outcome.UNSUPPORTED, {}, [f"{backend} backend: {refused}"])
    # a backend without Kube-OVN and the matrix's substitute_ipam: static IPAM ran, Kube-OVN's
    # annotation is not judged
    substituted = entry is not None and entry.substitutes_ipam and case.substitute_ipam
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
    # A plugin feature newer than the release (macvlan's linkInContainer: v1.3.0).
    for plugin, _entry in chain(case, None):
        need = plugin.requires(case)
        if need and not versions.at_least(plugins, need[0]):
            return Expectation(
                Outcome.BROKEN,
                {Check.SANDBOX_CREATED: False},
                [f"{need[1]} needs plugins {need[0]}+ ({plugins})"],
            )
    source, why = _mac_source(case, plugins)
    main = plugin_registry.get(case.plugin)
    duplicate = source == "static" and case.n_replicas > 1
    if duplicate and main is not None and main.duplicate_mac_fails:
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
        # A duplicate MAC the main plugin accepts (bridge: separate veths) reaches every pod.
        checks[Check.UNIQUE_ACROSS_REPLICAS] = not duplicate
        if duplicate:
            why.append(f"{case.plugin} gives every pod the NAD's static MAC: not unique")
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
