"""results.json: the versioned contract every other tool reads. Written atomically, always valid.

A run first writes every selected case as unfinished, then rewrites the file as cases finish, so
a run that crashes or is interrupted still leaves a valid file whose unfinished cases say so.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__, limits
from .cases import Case
from .errors import BadInput
from .observe import INFRA_ERROR, CaseObservation
from .verdict import OUTCOMES, Expectation, Verdict, differences

SCHEMA = 1
UNFINISHED = "unfinished: the run stopped before this case finished"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def requested(case: Case, replica: int) -> dict[str, str | None]:
    out: dict[str, str | None] = {"net1": case.requested_mac(replica)}
    if case.primary_mac == "yes":
        out["eth0"] = case.requested_primary_mac(replica)
    return out


def unfinished_entry(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "axes": case.axes,
        "outcome": INFRA_ERROR,
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
) -> dict[str, Any]:
    """One results.json case: axes, requests, what every pod showed, checks and the outcome."""
    pods = []
    for i, p in enumerate(obs.pods):
        pod = p.to_json()
        pod["requested"] = requested(case, i)
        pods.append(pod)
    entry: dict[str, Any] = {
        "id": case.id,
        "axes": case.axes,
        "outcome": verdict.outcome,
        "reason": verdict.reason,
        "requested": requested(case, 0),
        "pods": pods,
        "checks": {name: c.to_json() for name, c in verdict.checks.items()},
        "attempts": obs.attempts,
        "duration_s": round(obs.duration_s, 3),
        "flaky": obs.flaky,
        "finished": True,
    }
    if obs.diagnostics:
        entry["diagnostics"] = obs.diagnostics
    if obs.ipam_substituted:
        # netns ran static IPAM instead (ipam_substitute): say what, and what is not judged
        entry["ipam_substituted"] = obs.ipam_substituted
        seen = {
            (s["network"], w, f"{s['replaced'].get('type')} IPAM substituted"): None
            for s in obs.ipam_substituted
            for w in s["not_judged"]
        }
        entry["not_judged"] = [{"network": n, "what": w, "why": y} for n, w, y in seen]
    if expected is not None:
        entry["expected"] = expected.to_json()
        if verdict.outcome == INFRA_ERROR:
            # An infra error says nothing about the combination: neither as nor against expectation.
            entry["as_expected"] = None
            entry["differences"] = []
        else:
            diffs = differences(verdict, expected)
            entry["as_expected"] = not diffs
            entry["differences"] = diffs
    return entry


class ResultsWriter:
    """Keeps the run's document and rewrites results.json atomically after every change."""

    def __init__(self, path: Path, stack: dict[str, Any], matrix: str, cases: list[Case]):
        self.path = Path(path)
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
        self._flush()

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.doc["cases"][self._index[entry["id"]]] = entry
            self._flush()

    def record_many(self, entries: list[dict[str, Any]]) -> None:
        with self._lock:
            for entry in entries:
                self.doc["cases"][self._index[entry["id"]]] = entry
            self._flush()

    def phase(self, name: str, seconds: float) -> None:
        with self._lock:
            self.doc["phases"][name] = round(seconds, 3)
            self._flush()

    def finish(self, complete: bool = True) -> dict[str, Any]:
        with self._lock:
            self.doc["finished"] = now()
            self.doc["complete"] = complete and all(c.get("finished") for c in self.doc["cases"])
            self._flush()
            return self.doc

    def _flush(self) -> None:
        self.doc["summary"] = summarise(self.doc["cases"])
        atomic_write(self.path, json.dumps(self.doc, indent=2, sort_keys=False) + "\n")


def summarise(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(e["outcome"] for e in entries)
    out = {o: counts.get(o, 0) for o in OUTCOMES}
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
    if doc["schema"] != SCHEMA:
        raise BadInput(
            f"{p}: schema {doc['schema']!r} but this macmatrix reads schema {SCHEMA}; "
            "re-run or use the matching macmatrix version"
        )
    _check_shape(doc, p)
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
        raise BadInput(f"{p}: `cases` must be a list of case entries, not {_kind(doc['cases'])}")
    for key, typ in _TOP.items():
        if doc.get(key) is not None and not isinstance(doc[key], typ):
            raise BadInput(f"{p}: `{key}` must be {_kind_name(typ)}, not {_kind(doc[key])}")
    seen: set[str] = set()
    for i, case in enumerate(doc["cases"]):
        where = f"{p}: cases[{i}]"
        if not isinstance(case, dict) or "id" not in case or case.get("outcome") not in OUTCOMES:
            raise BadInput(f"{where} lacks an `id` or a known `outcome`")
        if not isinstance(case["id"], str) or not case["id"]:
            raise BadInput(f"{where}.id must be a non-empty string, not {_kind(case['id'])}")
        if case["id"] in seen:
            raise BadInput(f"{where}.id {case['id']!r} appears twice; keep one entry per case")
        seen.add(case["id"])
        for key, typ in _CASE.items():
            if case.get(key) is not None and not isinstance(case[key], typ):
                raise BadInput(f"{where}.{key} must be {_kind_name(typ)}, not {_kind(case[key])}")
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
                raise BadInput(f"{where}.{key} must be a number, not {_kind(value)}")


def _kind_name(typ: type) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(typ, typ.__name__)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"
