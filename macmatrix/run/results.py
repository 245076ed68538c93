"""results.json: the versioned contract every other tool reads. Written atomically, always valid.

A run first writes every selected case as unfinished. Each case that finishes is appended at once
to a journal beside it (`.results.json.journal`, one JSON line per case), and results.json is
rewritten from the journal now and then and at the end (also on Ctrl-C), then the journal goes.
So a run that crashes or is interrupted still leaves a valid file whose unfinished cases say so,
and load() folds in what the journal of a killed run holds.

Why a journal (bench/README.md): rewriting the whole file after every case costs O(cases) each
time, O(cases²) per run: at 600 cases that was most of the harness's own time. Appending is O(1)
per case; the rewrites are spaced so that they take a bounded share of the run's time. Memory stays
flat too: the run keeps a light copy of each entry (no plugin invocations) for the terminal table,
junit and results.md, and the full entries live on disk.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from macmatrix import __version__, limits
from macmatrix.errors import BadInput
from macmatrix.files import atomic_write as atomic_write  # views and workflows use it here
from macmatrix.judge.verdict import Expectation, Verdict, differences
from macmatrix.observe import CaseObservation
from macmatrix.spec.cases import Case
from macmatrix.spec.validate import json_type
from macmatrix.types import CaseEntry, Outcome, PodEntry, outcome_of

SCHEMA = 1  # the contract's version; macmatrix/data/schema/results.schema.json says the same
UNFINISHED = "unfinished: the run stopped before this case finished"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def requested(case: Case, replica: int) -> dict[str, str | None]:
    out: dict[str, str | None] = {"net1": case.requested_mac(replica)}
    if case.primary_mac == "yes":
        out["eth0"] = case.requested_primary_mac(replica)
    return out


def unfinished_entry(case: Case) -> CaseEntry:
    return {
        "id": case.id,
        "axes": case.axes,
        "outcome": Outcome.INFRA_ERROR,
        "reason": UNFINISHED,
        "requested": requested(case, 0),
        "pods": [],
        "checks": {},
        "attempts": 0,
        "duration_s": 0.0,
        "finished": False,
    }


def case_entry(
    case: Case, obs: CaseObservation, verdict: Verdict, expected: Expectation | None
) -> CaseEntry:
    """One results.json case of the matrix: axes, requests, pods, checks and the outcome."""
    asked = [requested(case, i) for i in range(max(1, len(obs.pods)))]
    return entry(case.id, case.axes, obs, verdict, asked, expected)


def entry(
    case_id: str,
    axes: dict[str, str],
    obs: CaseObservation,
    verdict: Verdict,
    asked: Sequence[dict[str, str | None]],
    expected: Expectation | None = None,
) -> CaseEntry:
    """The one builder of a results.json case (the matrix's and repro's): what every pod showed
    with what it asked for (`asked[i]`: ifname -> MAC, one per pod; the first is the case's),
    the judged checks and outcome, and, given an expectation, how the case departs from it."""
    pods: list[PodEntry] = []
    for i, p in enumerate(obs.pods):
        pod = p.to_json()
        pod["requested"] = asked[min(i, len(asked) - 1)]
        pods.append(pod)
    out: CaseEntry = {
        "id": case_id,
        "axes": axes,
        "outcome": verdict.outcome,
        "reason": verdict.reason,
        "requested": asked[0] if asked else {},
        "pods": pods,
        "checks": {name: c.to_json() for name, c in verdict.checks.items()},
        "attempts": obs.attempts,
        "duration_s": round(obs.duration_s, 3),
        "flaky": obs.flaky,
        "finished": True,
    }
    if obs.diagnostics:
        out["diagnostics"] = obs.diagnostics
    if obs.ipam_substituted:
        # netns ran static IPAM instead (ipam_substitute): say what, and what is not judged
        out["ipam_substituted"] = obs.ipam_substituted
        out["not_judged"] = not_judged(obs.ipam_substituted)
    if expected is not None:
        out["expected"] = expected.to_json()
        if verdict.outcome == Outcome.INFRA_ERROR:
            # An infra error says nothing about the combination: neither as nor against expectation.
            out["as_expected"] = None
            out["differences"] = []
        else:
            diffs = differences(verdict, expected)
            out["as_expected"] = not diffs
            out["differences"] = diffs
    return out


def not_judged(substituted: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """What a run with substituted IPAM (ipam_substitute.Substitution.to_json()) cannot judge,
    per network, once each: never reported as works."""
    seen = {
        (s["network"], w, f"{s['replaced'].get('type')} IPAM substituted"): None
        for s in substituted
        for w in s["not_judged"]
    }
    return [{"network": n, "what": w, "why": y} for n, w, y in seen]


# A rewrite of results.json during the run waits until FLUSH_SPACING times its last duration has
# passed (at least FLUSH_MIN_S): then the rewrites take at most ~1/FLUSH_SPACING of the run's time.
FLUSH_SPACING = 20.0
FLUSH_MIN_S = 1.0


def journal_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.journal")


def light(entry: CaseEntry) -> CaseEntry:
    """The entry without its plugin invocations: what the in-process views use."""
    if not any("invocations" in p for p in entry.get("pods") or []):
        return entry
    out = entry.copy()
    out["pods"] = [_without_invocations(p) for p in entry["pods"]]
    return out


def _without_invocations(pod: PodEntry) -> PodEntry:
    out = pod.copy()
    out.pop("invocations", None)
    return out


class ResultsWriter:
    """Streams finished cases to disk; keeps results.json valid and, at the end, complete.

    `doc` is the run's document with light entries (see light()); the file has full ones.
    """

    def __init__(self, path: Path, stack: dict[str, Any], matrix: str, cases: list[Case]):
        self.path = Path(path)
        self.journal = journal_path(self.path)
        self._lock = threading.Lock()
        self.doc: dict[str, Any] = {
            "schema": SCHEMA,
            "tool": {"name": "macmatrix", "version": __version__},
            "stack": stack,
            "matrix": matrix,
            "started": now(),
            "finished": None,
            "complete": False,
            "phases": {},
            "summary": {},
            "cases": [unfinished_entry(c) for c in cases],
        }
        self._index = {c.id: i for i, c in enumerate(cases)}
        self._offsets: dict[str, tuple[int, int]] = {}  # case id -> (offset, length) in journal
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._journal = open(self.journal, "wb")  # noqa: SIM115 - open for the writer's life
        self._end = 0
        self._last_flush = 0.0
        self._flush_cost = 0.0
        self._flush()

    def finished(self, case_id: str) -> bool:
        with self._lock:
            return case_id in self._offsets

    def record(self, entry: CaseEntry) -> None:
        with self._lock:
            self._append(entry)
            self._maybe_flush()

    def record_many(self, entries: list[CaseEntry]) -> None:
        with self._lock:
            for entry in entries:
                self._append(entry)
            self._maybe_flush()

    def phase(self, name: str, seconds: float) -> None:
        with self._lock:
            self.doc["phases"][name] = round(seconds, 3)

    def finish(self, complete: bool = True) -> dict[str, Any]:
        with self._lock:
            self.doc["finished"] = now()
            self.doc["complete"] = complete and all(c.get("finished") for c in self.doc["cases"])
            self._flush()
            self._journal.close()
            self.journal.unlink(missing_ok=True)
            return self.doc

    def _append(self, entry: CaseEntry) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        self._journal.write(line)
        self._journal.flush()  # in the kernel's hands: survives a killed process
        self._offsets[entry["id"]] = (self._end, len(line))
        self._end += len(line)
        self.doc["cases"][self._index[entry["id"]]] = light(entry)

    def _maybe_flush(self) -> None:
        since = time.monotonic() - self._last_flush
        if since >= max(FLUSH_MIN_S, FLUSH_SPACING * self._flush_cost):
            self._flush()

    def _full_entries(self) -> Iterator[dict[str, Any]]:
        """Every case in matrix order, full entries read back from the journal one at a time."""
        with open(self.journal, "rb") as f:
            for entry in self.doc["cases"]:
                at = self._offsets.get(entry["id"])
                if at is None:
                    yield entry
                    continue
                f.seek(at[0])
                yield json.loads(f.read(at[1]))

    def _flush(self) -> None:
        start = time.monotonic()
        self.doc["summary"] = summarise(self.doc["cases"])
        atomic_write_lines(self.path, dump_lines(self.doc, self._full_entries()))
        self._last_flush = time.monotonic()
        self._flush_cost = self._last_flush - start


def dump_lines(doc: dict[str, Any], entries: Iterable[dict[str, Any]]) -> Iterator[str]:
    """`json.dumps(doc, indent=2)` with doc["cases"] replaced by `entries`, piece by piece."""
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, indent=2)
    yield head[:-2] + (',\n  "cases": [' if head != "{}" else '{\n  "cases": [')
    first = True
    for entry in entries:
        text = json.dumps(entry, indent=2).replace("\n", "\n    ")
        yield ("\n    " if first else ",\n    ") + text
        first = False
    yield "]\n}\n" if first else "\n  ]\n}\n"


def atomic_write_lines(path: Path, pieces: Iterable[str]) -> None:
    """atomic_write() for text made piece by piece (never all in memory at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            for piece in pieces:
                f.write(piece)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge_journal(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """An incomplete results.json with the cases its run's journal holds (a killed run)."""
    journal = journal_path(path)
    if doc.get("complete") or not journal.exists():
        return doc
    index = {c.get("id"): i for i, c in enumerate(doc["cases"]) if isinstance(c, dict)}
    with open(journal, "rb") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, or hostile depth
                break  # the last line of a killed run may be cut short
            if (
                isinstance(entry, dict)
                and entry.get("id") in index
                and outcome_of(entry.get("outcome")) is not None
            ):
                doc["cases"][index[entry["id"]]] = entry
    doc["summary"] = summarise(doc["cases"])
    return doc


def summarise(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(e["outcome"] for e in entries)
    out = {o.value: counts.get(o, 0) for o in Outcome}
    out["unexpected"] = sum(1 for e in entries if e.get("as_expected") is False)
    out["flaky"] = sum(1 for e in entries if e.get("flaky"))
    return out


def read_json(path: str | Path, kind: str) -> Any:
    """Parse a JSON file; unreadable or truncated files are one BadInput line naming `kind`."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = f.read(limits.MAX_FILE_BYTES + 1)
    except OSError as e:
        raise BadInput(f"{p}: cannot read ({e.strerror}); pass a {kind} path") from e
    limits.check_size(data, str(p), limits.MAX_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{p}: not UTF-8 text (byte {e.start}); pass a {kind} path") from e
    try:
        return limits.json_loads(text, str(p))
    except json.JSONDecodeError as e:
        raise BadInput(
            f"{p}: not valid JSON (line {e.lineno}: {e.msg}); the file may be truncated"
        ) from e


def load(path: str | Path) -> dict[str, Any]:
    """Read a results.json; a wrong schema, truncated or foreign file is one BadInput line."""
    p = Path(path)
    doc = read_json(p, "results.json")
    if not isinstance(doc, dict) or "cases" not in doc or "schema" not in doc:
        raise BadInput(f"{p}: not a macmatrix results file (no `schema`/`cases`)")
    version = doc["schema"]
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA:
        raise BadInput(
            f"{p}: schema {version} is newer than this macmatrix reads ({SCHEMA}); "
            "upgrade macmatrix to read it"
        )
    if version != SCHEMA:
        raise BadInput(
            f"{p}: schema {version!r} but this macmatrix reads schema {SCHEMA}; "
            "re-run or use the matching macmatrix version"
        )
    _check_shape(doc, p)
    doc = merge_journal(doc, p)  # a killed run's finished cases; written by ResultsWriter
    _check_shape(doc, journal_path(p))  # what the journal brought in is read as carefully
    return doc


# Types every reader (compare, report, junit, baseline) relies on; None means absent is fine.
_TOP = {"stack": dict, "phases": dict, "summary": dict, "matrix": str}
_CASE = {
    "axes": dict,
    "reason": str,
    "requested": dict,
    "pods": list,
    "checks": dict,
    "expected": dict,
    "differences": list,
    "tries": list,
    "diagnostics": str,
}


def _check_shape(doc: dict[str, Any], p: Path) -> None:
    """One BadInput line for the first field of the wrong JSON type (a hand-edited or foreign
    file must not reach the renderers as a TypeError)."""
    if not isinstance(doc["cases"], list):
        raise BadInput(
            f"{p}: `cases` must be a list of case entries, not {json_type(doc['cases'])}"
        )
    for key, typ in _TOP.items():
        if doc.get(key) is not None and not isinstance(doc[key], typ):
            raise BadInput(f"{p}: `{key}` must be {_kind_name(typ)}, not {json_type(doc[key])}")
    seen: set[str] = set()
    for i, case in enumerate(doc["cases"]):
        where = f"{p}: cases[{i}]"
        if (
            not isinstance(case, dict)
            or "id" not in case
            or outcome_of(case.get("outcome")) is None
        ):
            raise BadInput(f"{where} lacks an `id` or a known `outcome`")
        if not isinstance(case["id"], str) or not case["id"]:
            raise BadInput(f"{where}.id must be a non-empty string, not {json_type(case['id'])}")
        if case["id"] in seen:
            raise BadInput(f"{where}.id {case['id']!r} appears twice; keep one entry per case")
        seen.add(case["id"])
        for key, typ in _CASE.items():
            if case.get(key) is not None and not isinstance(case[key], typ):
                raise BadInput(
                    f"{where}.{key} must be {_kind_name(typ)}, not {json_type(case[key])}"
                )
        for j, pod in enumerate(case.get("pods") or []):
            if not isinstance(pod, dict) or not isinstance(pod.get("interfaces", {}), dict):
                raise BadInput(f"{where}.pods[{j}] must be an object with `interfaces` {{...}}")
            if not isinstance(pod.get("network_status", []), list):
                raise BadInput(f"{where}.pods[{j}].network_status must be a list")
        for name, check in (case.get("checks") or {}).items():
            if not isinstance(check, dict):
                raise BadInput(f"{where}.checks.{name} must be {{expected, observed, ok}}")
        for key in ("attempts", "duration_s"):
            value = case.get(key)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not number:
                raise BadInput(f"{where}.{key} must be a number, not {json_type(value)}")


def _kind_name(typ: type) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(typ, typ.__name__)
