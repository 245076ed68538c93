"""The repro's Markdown, ready to paste into an issue: a pure view of the repro entry.

Order follows what a maintainer reads first: the outcome, the four MACs per interface, the likely
cause with its fix, then the evidence (checks, every plugin call as sent, versions, the input).
"""

from __future__ import annotations

import json
from typing import Any

from macmatrix.types import Outcome
from macmatrix.views.report import SYMBOL


def _cell(value: Any) -> str:
    text = "—" if value in (None, "") else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    return "—" if value in (None, "") else f"`{_cell(value)}`"


def _fence(data: Any, lang: str = "json") -> list[str]:
    text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=False)
    fence = "````" if "```" in text else "```"
    return [f"{fence}{lang}", text.rstrip("\n"), fence]


def _summary_line(entry: dict[str, Any]) -> str:
    parts = []
    for row in entry.get("interfaces", []):
        asked = (
            f"asked {row['requested']} ({row['route']})" if row.get("requested") else "asked none"
        )
        parts.append(f"{row['ifname']}: {asked}, kernel {row.get('kernel') or 'none'}")
    return "; ".join(parts)


def render_markdown(entry: dict[str, Any]) -> str:
    outcome = entry["outcome"]
    mark = " · ipam substituted" if entry.get("ipam_substituted") else ""
    out = [f"### macmatrix repro `{entry['id']}`: {SYMBOL.get(outcome, '?')} {outcome}{mark}", ""]
    if entry.get("reason"):
        out += [f"**Why:** {entry['reason']}", ""]
    out += _substituted(entry)
    out += _confined(entry)
    summary = _summary_line(entry)
    if summary:
        out += [f"> {summary}", ""]
    out += _interfaces(entry)
    out += _causes(entry)
    out += _fix(entry)
    out += _checks(entry)
    out += _invocations(entry)
    out += _versions(entry)
    out += _input(entry)
    return "\n".join(out).rstrip("\n") + "\n"


def _confined(entry: dict[str, Any]) -> list[str]:
    """State paths the pasted config set, kept in the run's temp folder instead (netns)."""
    rows = entry.get("state_confined") or []
    if not rows:
        return []
    out = ["#### State paths confined", ""]
    out += [
        f"- {r['network']} {r['plugin']} `{r['field']}`: {_code(r['written'])} was not used; "
        "the run kept this plugin's state in its own temp folder (removed afterwards)"
        for r in rows
    ]
    return [*out, ""]


def _substituted(entry: dict[str, Any]) -> list[str]:
    """The IPAMs that ran as static on netns: what, by what, why, and what is not judged."""
    subs = entry.get("ipam_substituted") or []
    if not subs:
        return []
    out = ["#### IPAM substituted", ""]
    for s in subs:
        out.append(
            f"- {s['network']} `{s['field']}`: `{s['replaced'].get('type')}` replaced by "
            f"`static` {_code(s['address'])} ({s['address_from']}), because {s['why']} "
            f"<sub>({s['source']})</sub>"
        )
    out += [
        "",
        "The MAC does not depend on the IPAM: "
        + str(subs[0].get("mac_unaffected_because", "")).rstrip(".")
        + ". Run with `--no-substitute` to skip this, or `--backend kind` for the real IPAM.",
        "",
    ]
    skipped = entry.get("not_judged") or []
    if skipped:
        out += ["Not judged (only the real IPAM decides it):", ""]
        out += [f"- {n['network']}: {n['what']}" for n in skipped]
        out.append("")
    return out


def _interfaces(entry: dict[str, Any]) -> list[str]:
    rows = entry.get("interfaces", [])
    out = ["#### MAC per interface", ""]
    if not rows:
        return out + ["No interface was requested.", ""]
    out += [
        "| interface | network | requested (route) | kernel | network-status | Kube-OVN annotation "
        "| verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        requested = f"{_code(r['requested'])} ({r['route']})" if r.get("requested") else "none"
        status = _code(r.get("status"))
        if r.get("status_raw") and r["status_raw"] != r.get("status"):
            status += f" (written as `{_cell(r['status_raw'])}`)"
        out.append(
            f"| {r['ifname']} | {_cell(r['network'])} | {requested} | {_code(r.get('kernel'))} "
            f"| {status} | {_code(r.get('annotation'))} | {_cell(r['verdict'])} |"
        )
    out.append("")
    pods = entry.get("pods") or []
    ran = bool(pods and pods[0].get("invocations"))
    notes = []
    for r in rows:
        others = {k: v for k, v in (r.get("routes") or {}).items() if k != r.get("route")}
        if others:
            also = ", ".join(f"{k} `{v}`" for k, v in others.items())
            notes.append(f"- {r['ifname']}: also asked by {also}")
        if r.get("told"):
            verb = "were" if ran else "would be"
            notes.append(
                f"- {r['ifname']}, what the plugins {verb} told (last wins): "
                + "; ".join(r["told"])
            )
    if (entry.get("stack") or {}).get("backend") == "netns" and any(
        r.get("annotation") for r in rows
    ):
        notes.append(
            "- Kube-OVN annotation: the netns backend runs no Kube-OVN, so this is the value as "
            "set on the pod; Kube-OVN may rewrite or remove it on a cluster"
        )
    return out + notes + ([""] if notes else [])


def _causes(entry: dict[str, Any]) -> list[str]:
    findings = entry.get("lint", [])
    out = ["#### Likely cause and fix", ""]
    if not findings:
        if entry["outcome"] == Outcome.WORKS:
            return out + ["Nothing to fix: the linter has no finding and every check passed.", ""]
        return out + [
            "The linter has no finding for this input; the reason above and the plugin calls "
            "below are the evidence.",
            "",
        ]
    for i, f in enumerate(findings, start=1):
        out.append(
            f"{i}. **{f['level']}** `{_cell(f['field'])}`: {f['message']}.  \n"
            f"   **Fix:** {f['fix']}.  \n   <sub>Source: {f['source']} ({f['rule']})</sub>"
        )
    return out + [""]


def _fix(entry: dict[str, Any]) -> list[str]:
    """The verified fix (fixsearch): the best working edit as a diff and as apply-ready YAML."""
    fix = entry.get("fix") or {}
    if not fix.get("searched"):
        return []
    tried = fix.get("tried") or []
    best = fix.get("best")
    out = ["#### Verified fix", ""]
    if not best:
        out += [f"No fix found: {len(tried)} candidate(s) tried on {fix['verified_on']}:", ""]
        for t in tried:
            out.append(
                f"- {' + '.join(t['remedies'])} ({'; '.join(t['edits'])}): {t['outcome']}"
                + (f" ({_cell(t['reason'])})" if t.get("reason") else "")
            )
        return out + [""]
    out += [
        f"**{' + '.join(best['remedies'])}**: {'; '.join(best['edits'])} — verified on "
        f"{fix['verified_on']} ({len(tried)} candidate(s) tried in {fix['duration_s']} s).",
        "",
        f"Diff of {best['diff_of']}:",
        "",
        *_fence(best["diff"], "diff"),
        "",
        "<details><summary>Apply-ready YAML</summary>",
        "",
        *_fence(best["yaml"], "yaml"),
        "",
        "</details>",
        "",
    ]
    if fix.get("others"):
        out.append("Other edits that also work:")
        out += [f"- {' + '.join(t['remedies'])}: {'; '.join(t['edits'])}" for t in fix["others"]]
        out.append("")
    return out


def _checks(entry: dict[str, Any]) -> list[str]:
    checks = entry.get("checks", {})
    if not checks:
        return []
    out = ["#### Checks", "", "| check | expected | observed | ok |", "|---|---|---|---|"]
    for name, c in checks.items():
        mark = "✓" if c["ok"] else "✗"
        out.append(f"| {name} | {_code(c['expected'])} | {_code(c['observed'])} | {mark} |")
    return out + [""]


def _invocations(entry: dict[str, Any]) -> list[str]:
    pods = entry.get("pods") or []
    calls = pods[0].get("invocations", []) if pods else []
    out = ["#### What each plugin received (exactly as Multus + libcni send it)", ""]
    if not calls:
        error = pods[0].get("error") if pods else None
        why = f"No plugin ran: {error or entry.get('reason') or 'not run'}."
        calls = entry.get("planned_invocations") or []
        if not calls:
            return out + [why, ""]
        out += [why + " This is what they would receive (ADD, sandbox ids as placeholders):", ""]
    for i, inv in enumerate(calls, start=1):
        state = "error" if inv.get("error") else ("not run" if inv.get("planned") else "ok")
        took = "" if inv.get("planned") else f" ({inv.get('duration_s', 0)} s)"
        out += [
            f"<details><summary>{i}. {inv['command']} <code>{inv['plugin']}</code> for "
            f"{inv['network']} on {inv['ifname']}: {state}{took}</summary>",
            "",
            f"CNI_ARGS: `{inv.get('cni_args', '')}`",
            "",
            "stdin:",
            "",
            *_fence(inv.get("stdin")),
            "",
        ]
        if inv.get("error"):
            out += ["error:", "", *_fence(inv["error"]), ""]
        elif inv.get("result") is not None:
            out += ["result:", "", *_fence(inv["result"]), ""]
        out += ["</details>", ""]
    return out


def _versions(entry: dict[str, Any]) -> list[str]:
    stack = entry.get("stack") or {}
    out = ["#### Versions", "", "| component | version |", "|---|---|"]
    for key, value in stack.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        out.append(f"| {key} | {_cell(value)} |")
    return out + [""]


def _input(entry: dict[str, Any]) -> list[str]:
    data = entry.get("input") or {}
    out = ["#### Input (as written)", ""]
    for network, raw in (data.get("nads") or {}).items():
        out += [
            f"<details><summary>NAD {network}: spec.config</summary>",
            "",
            *_fence(raw),
            "",
            "</details>",
            "",
        ]
    out += [
        f"Pod `{data.get('namespace')}/{data.get('pod')}`, networks elements as Multus reads them:",
        "",
        *_fence(data.get("elements", [])),
        "",
    ]
    ann = {
        k: v
        for k, v in (data.get("annotations") or {}).items()
        if k != "k8s.v1.cni.cncf.io/networks"
    }
    if ann:
        out += ["Other pod annotations:", "", *_fence(ann), ""]
    return out
