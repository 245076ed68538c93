"""`macmatrix compare BASE.json HEAD.json`: what changed between two runs, and is it a regression.

Comparison works on *behaviour*: each case's outcome and the ok-value of each named check. Random
MACs, timings and reasons never make a difference by themselves. Cases that hit an infra error on
either side, and moves to or from `unsupported`, are listed apart and never count as regressions
(DESIGN.md: infra errors are re-run, never gated on). Two files with different matrices compare on
the cases they share and list the rest.

`macmatrix baseline check` reuses `diff` and the renderers with "every change fails".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from macmatrix.errors import BadInput
from macmatrix.run import results
from macmatrix.types import Outcome
from macmatrix.views import mdtext

# Kinds of per-case change, in the order they are reported.
REGRESSION = "regression"  # works -> broken
FIX = "fix"  # broken -> works
CHANGE = "change"  # same outcome, different check results
UNSUPPORTED_MOVE = Outcome.UNSUPPORTED.value  # to or from it (coverage changed, not behaviour)
INFRA = "infra"  # infra-error on either side: not judged
KINDS = (REGRESSION, FIX, CHANGE, UNSUPPORTED_MOVE, INFRA)
FINDING_KINDS = (REGRESSION, FIX, CHANGE, UNSUPPORTED_MOVE)

# --fail-on words -> what they select. Regressions always fail (exit 1).
FAIL_ON = {
    "regressions": {REGRESSION},
    "fixes": {FIX},
    "changes": {CHANGE},
    UNSUPPORTED_MOVE: {UNSUPPORTED_MOVE},
    "matrix": {"matrix"},
    "infra": {INFRA},
    "all": {REGRESSION, FIX, CHANGE, UNSUPPORTED_MOVE, "matrix", INFRA},
}

TITLES = {
    REGRESSION: "Regressions (works -> broken)",
    FIX: "Fixes (broken -> works)",
    CHANGE: "Changed checks (same outcome)",
    UNSUPPORTED_MOVE: "Unsupported on one side (listed apart, never a regression)",
    INFRA: "Infra errors (not judged: re-run them; never a regression)",
}

_REASON_MAX = 160


@dataclass(frozen=True)
class Behaviour:
    """What a case did, reduced to what can regress: outcome and check ok-values."""

    outcome: str
    checks: Mapping[str, bool] = field(default_factory=dict)
    reason: str = ""
    flaky: bool = False


@dataclass
class CaseChange:
    id: str
    kind: str
    base: Behaviour
    head: Behaviour
    details: list[str]


@dataclass
class Comparison:
    """The difference between two behaviour maps, ready to render or to turn into an exit code."""

    base_label: str
    head_label: str
    base_stack: dict[str, Any]
    head_stack: dict[str, Any]
    shared: int
    changes: list[CaseChange]
    only_base: list[str]
    only_head: list[str]
    flaky: list[str]
    notes: list[str] = field(default_factory=list)
    known_broken: int = 0  # shared cases broken on both sides with identical checks

    def of(self, kind: str) -> list[CaseChange]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def unchanged(self) -> int:
        return self.shared - len(self.changes)

    def counts(self) -> dict[str, int]:
        out = {k: len(self.of(k)) for k in KINDS}
        out["matrix"] = len(self.only_base) + len(self.only_head)
        return out


# --------------------------------------------------------------------------- reading


def behaviours_from_results(doc: Mapping[str, Any], where: str) -> dict[str, Behaviour]:
    """Reduce a loaded results.json to {case id: Behaviour}; duplicate ids are bad input."""
    out: dict[str, Behaviour] = {}
    for i, entry in enumerate(doc["cases"]):
        cid = entry["id"]
        if cid in out:
            raise BadInput(f"{where}: cases[{i}]: id {cid!r} appears twice; one entry per case")
        raw = entry.get("checks") or {}
        if not isinstance(raw, Mapping):
            raise BadInput(f"{where}: cases[{i}].checks must map check names to {{ok: ...}}")
        checks: dict[str, bool] = {}
        for name, check in raw.items():
            if not isinstance(check, Mapping) or not isinstance(check.get("ok"), bool):
                raise BadInput(f"{where}: cases[{i}].checks.{name} lacks a boolean `ok`")
            checks[name] = check["ok"]
        out[cid] = Behaviour(
            entry["outcome"], checks, str(entry.get("reason") or ""), bool(entry.get("flaky"))
        )
    return out


def load_results(path: str | Path) -> tuple[dict[str, Any], dict[str, Behaviour]]:
    """Load a results.json (BadInput on a foreign, truncated or other-schema file)."""
    doc = results.load(path)
    if not isinstance(doc.get("stack", {}), Mapping):
        raise BadInput(f"{path}: `stack` must be a mapping of component -> version")
    return doc, behaviours_from_results(doc, str(path))


# --------------------------------------------------------------------------- diffing


def _ok_word(value: bool | None) -> str:
    return "absent" if value is None else ("ok" if value else "fails")


def check_differences(base: Behaviour, head: Behaviour) -> list[str]:
    """One line per check whose ok-value differs (a check present on one side only counts)."""
    out = []
    for name in sorted(set(base.checks) | set(head.checks)):
        b, h = base.checks.get(name), head.checks.get(name)
        if b != h:
            out.append(f"check {name}: {_ok_word(b)} -> {_ok_word(h)}")
    return out


def classify(base: Behaviour, head: Behaviour) -> tuple[str | None, list[str]]:
    """The kind of change between two behaviours of one case (None: unchanged) and its details."""
    outcome_line = [f"outcome: {base.outcome} -> {head.outcome}"]
    if Outcome.INFRA_ERROR in (base.outcome, head.outcome):
        sides = [
            f"{side}: {b.outcome}" + (f" ({b.reason})" if b.outcome == Outcome.INFRA_ERROR else "")
            for side, b in (("base", base), ("head", head))
        ]
        return INFRA, sides
    if Outcome.UNSUPPORTED in (base.outcome, head.outcome):
        if base.outcome == head.outcome:
            return None, []
        why = base.reason if base.outcome == Outcome.UNSUPPORTED else head.reason
        return UNSUPPORTED_MOVE, [outcome_line[0] + (f" ({why})" if why else "")]
    checks = check_differences(base, head)
    if base.outcome == Outcome.WORKS and head.outcome == Outcome.BROKEN:
        return REGRESSION, outcome_line + checks
    if base.outcome == Outcome.BROKEN and head.outcome == Outcome.WORKS:
        return FIX, outcome_line + checks
    if base.outcome != head.outcome:  # an outcome this version does not know yet
        return CHANGE, outcome_line + checks
    return (CHANGE, checks) if checks else (None, [])


def diff(
    base: Mapping[str, Behaviour],
    head: Mapping[str, Behaviour],
    base_label: str = "BASE",
    head_label: str = "HEAD",
    base_stack: Mapping[str, Any] | None = None,
    head_stack: Mapping[str, Any] | None = None,
) -> Comparison:
    """Compare two behaviour maps on the cases they share; list the cases they don't share."""
    shared = sorted(set(base) & set(head))
    changes: list[CaseChange] = []
    known_broken = 0
    for cid in shared:
        kind, details = classify(base[cid], head[cid])
        if kind is not None:
            changes.append(CaseChange(cid, kind, base[cid], head[cid], details))
        elif head[cid].outcome == Outcome.BROKEN:
            known_broken += 1
    changes.sort(key=lambda c: (KINDS.index(c.kind), c.id))
    return Comparison(
        base_label=base_label,
        head_label=head_label,
        base_stack=dict(base_stack or {}),
        head_stack=dict(head_stack or {}),
        shared=len(shared),
        changes=changes,
        only_base=sorted(set(base) - set(head)),
        only_head=sorted(set(head) - set(base)),
        flaky=sorted(cid for cid, b in head.items() if b.flaky),
        known_broken=known_broken,
    )


def stack_differences(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    """'component: old -> new' for every stack entry that differs (the upgrade under test).

    Only scalar entries (versions) count: lists such as host plugin paths are not the stack
    and are not kept in baselines.
    """
    out = []
    for key in sorted(set(base) | set(head)):
        b, h = base.get(key), head.get(key)
        if isinstance(b, Mapping | list) or isinstance(h, Mapping | list):
            continue
        if b != h:
            out.append(f"{key}: {_plain(b)} -> {_plain(h)}")
    return out


def run_notes(doc: Mapping[str, Any], label: str) -> list[str]:
    """Say when a results file comes from a run that did not finish."""
    if doc.get("complete", True) or not isinstance(doc.get("cases"), list):
        return []
    unfinished = sum(1 for c in doc["cases"] if c.get("finished") is False)
    return [f"{label} is from an incomplete run ({unfinished} case(s) never finished)"]


# --------------------------------------------------------------------------- exit code


def parse_fail_on(text: str | None) -> set[str]:
    """--fail-on words -> kinds that fail. Regressions always fail."""
    selected = {REGRESSION}
    for word in (text or "").split(","):
        word = word.strip()
        if not word:
            continue
        if word not in FAIL_ON:
            raise BadInput(
                f"--fail-on: {word!r} is not known; use a comma list of {', '.join(FAIL_ON)}"
            )
        selected |= FAIL_ON[word]
    return selected


def exit_code(cmp: Comparison, fail_on: Iterable[str]) -> int:
    """1 when a selected finding is present; 3 when only selected infra errors are; else 0."""
    fail_on = set(fail_on)
    counts = cmp.counts()
    if any(counts[k] for k in fail_on if k != INFRA):
        return 1
    if INFRA in fail_on and counts[INFRA]:
        return 3
    return 0


def failing_kinds(cmp: Comparison, fail_on: Iterable[str]) -> list[str]:
    counts = cmp.counts()
    order = [*KINDS, "matrix"]
    return [k for k in order if k in set(fail_on) and counts[k]]


# --------------------------------------------------------------------------- rendering


def _plain(value: Any) -> str:
    return "none" if value is None else str(value)


def stack_label(stack: Mapping[str, Any]) -> str:
    """A one-line stack description: name/backend first, then the versions."""
    head: list[str] = []
    for key in ("name", "backend"):
        if stack.get(key) and str(stack[key]) not in head:
            head.append(str(stack[key]))
    rest = [
        f"{k} {_plain(v)}"
        for k, v in sorted(stack.items())
        if k not in ("name", "backend") and v is not None and not isinstance(v, Mapping | list)
    ]
    return ", ".join(head + rest) or "stack unknown"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


def _summary_words(cmp: Comparison) -> str:
    c = cmp.counts()
    parts = [
        f"{c[REGRESSION]} regression(s)",
        f"{c[FIX]} fix(es)",
        f"{c[CHANGE]} changed",
        f"{c[UNSUPPORTED_MOVE]} unsupported on one side",
        f"{c[INFRA]} infra error(s)",
        f"{cmp.unchanged} unchanged",
    ]
    return ", ".join(parts)


def render_text(cmp: Comparison, failing: Sequence[str] = ()) -> str:
    """Plain text for a terminal or a CI log."""
    lines = [
        f"base: {cmp.base_label} ({stack_label(cmp.base_stack)})",
        f"head: {cmp.head_label} ({stack_label(cmp.head_stack)})",
    ]
    stack_diff = stack_differences(cmp.base_stack, cmp.head_stack)
    if stack_diff:
        lines.append("stack changed: " + "; ".join(stack_diff))
    lines += [f"note: {n}" for n in cmp.notes]
    lines.append(f"{cmp.shared} shared case(s): {_summary_words(cmp)}")
    if cmp.known_broken:
        lines.append(f"{cmp.known_broken} case(s) broken on both sides, the same way (no change)")
    for kind in KINDS:
        items = cmp.of(kind)
        if not items:
            continue
        lines += ["", f"{TITLES[kind]}: {len(items)}"]
        for ch in items:
            lines.append(f"  {ch.id}")
            lines += [f"      {d}" for d in ch.details]
            if kind in (REGRESSION, CHANGE) and ch.head.reason:
                lines.append(f"      head reason: {_short(ch.head.reason)}")
    for title, ids in (
        (f"Only in base ({cmp.base_label}), not compared", cmp.only_base),
        (f"Only in head ({cmp.head_label}), not compared", cmp.only_head),
        ("Flaky in head (passed on a retry)", cmp.flaky),
    ):
        if ids:
            lines += ["", f"{title}: {len(ids)}"] + [f"  {i}" for i in ids]
    lines.append("")
    if failing:
        lines.append("result: FAIL (" + ", ".join(_kind_plural(k) for k in failing) + ")")
    else:
        lines.append("result: ok")
    return "\n".join(lines) + "\n"


_WORDS = {
    REGRESSION: ("regression", "regressions"),
    FIX: ("fix", "fixes"),
    CHANGE: ("changed case", "changed cases"),
    UNSUPPORTED_MOVE: ("unsupported change", "unsupported changes"),
    INFRA: ("infra error", "infra errors"),
    "matrix": ("case not shared", "cases not shared"),
}


def _kind_plural(kind: str) -> str:
    return _WORDS[kind][1]


def _count(kind: str, n: int) -> str:
    return f"{n} {_WORDS[kind][n != 1]}"


def _cell(text: str) -> str:
    """Table-cell text: Markdown and HTML escaped (mdtext; Go errors say `<nil>`, which GitHub
    would otherwise swallow as an HTML tag)."""
    return mdtext.text(_short(text).replace(" -> ", " → "))


def render_markdown(
    cmp: Comparison,
    failing: Sequence[str] = (),
    title: str = "compare",
    ok_text: str = "no regressions",
) -> str:
    """Markdown for a PR comment: a verdict line, a count table, then one table per kind."""
    c = cmp.counts()
    verdict = "❌ " + ", ".join(_count(k, c[k]) for k in failing) if failing else f"✅ {ok_text}"
    out = [
        f"### macmatrix {title}: {verdict}",
        "",
        f"**Base** `{cmp.base_label}` — {_cell(stack_label(cmp.base_stack))}  ",
        f"**Head** `{cmp.head_label}` — {_cell(stack_label(cmp.head_stack))}",
        "",
    ]
    stack_diff = stack_differences(cmp.base_stack, cmp.head_stack)
    if stack_diff:
        out += ["Stack changed: " + "; ".join(f"`{_cell(s)}`" for s in stack_diff), ""]
    out += [f"> {_cell(n)}" for n in cmp.notes]
    if cmp.notes:
        out.append("")
    out += [
        "| shared cases | count |",
        "|---|---:|",
        f"| regressions (works → broken) | {c[REGRESSION]} |",
        f"| fixes (broken → works) | {c[FIX]} |",
        f"| changed checks | {c[CHANGE]} |",
        f"| unsupported on one side | {c[UNSUPPORTED_MOVE]} |",
        f"| infra errors (not judged) | {c[INFRA]} |",
        f"| unchanged | {cmp.unchanged} |",
        "",
    ]
    if cmp.only_base or cmp.only_head:
        out += [
            f"Not shared: {len(cmp.only_base)} case(s) only in base, "
            f"{len(cmp.only_head)} only in head (listed below, not compared).",
            "",
        ]
    for kind in KINDS:
        items = cmp.of(kind)
        if not items:
            continue
        table = ["| case | what changed | head reason |", "|---|---|---|"]
        for ch in items:
            reason = ch.head.reason if kind in (REGRESSION, CHANGE) else ""
            table.append(f"| `{ch.id}` | {_cell('; '.join(ch.details))} | {_cell(reason)} |")
        heading = f"{TITLES[kind]}: {len(items)}".replace(" -> ", " → ")
        if kind in (REGRESSION, FIX, CHANGE):
            out += [f"#### {heading}", "", *table, ""]
        else:
            out += _details(heading, table)
    for heading, ids in (
        ("Only in base", cmp.only_base),
        ("Only in head", cmp.only_head),
        ("Flaky in head (passed on a retry)", cmp.flaky),
    ):
        if ids:
            out += _details(f"{heading}: {len(ids)}", [f"- `{i}`" for i in ids])
    return "\n".join(out).rstrip("\n") + "\n"


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def require_shared(cmp: Comparison, allow_empty: bool) -> None:
    """Comparing nothing is not a pass: zero shared cases is bad input unless allowed."""
    if cmp.shared or allow_empty:
        return
    n_base, n_head = len(cmp.only_base), len(cmp.only_head)
    raise BadInput(
        f"{cmp.base_label} ({n_base} cases) and {cmp.head_label} ({n_head} cases) share no case, "
        "so nothing was compared; pass results of the same matrix (not an empty run), or "
        "--allow-empty"
    )
