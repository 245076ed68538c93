"""JUnit XML for `macmatrix run`, shaped like pytest's so CI tools show the same test names."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from macmatrix.run.results import atomic_write
from macmatrix.types import Outcome

TEST_NAME = "test_mac_case"
CLASSNAME = "e2e.test_mac_matrix"


def render(doc: dict[str, Any]) -> str:
    cases = doc["cases"]
    suite = ET.Element("testsuite", name="macmatrix", tests=str(len(cases)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for entry in cases:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=CLASSNAME,
            name=f"{TEST_NAME}[{entry['id']}]",
            time=f"{entry.get('duration_s', 0.0):.3f}",
        )
        total += float(entry.get("duration_s", 0.0))
        outcome = entry["outcome"]
        if outcome == Outcome.UNSUPPORTED:
            ET.SubElement(tc, "skipped", message=entry.get("reason", ""))
            counts["skipped"] += 1
        elif outcome == Outcome.INFRA_ERROR:
            ET.SubElement(tc, "error", message=entry.get("reason", "")).text = entry.get("reason")
            counts["errors"] += 1
        elif entry.get("as_expected") is False:
            diffs = entry.get("differences", [])
            node = ET.SubElement(tc, "failure", message="; ".join(diffs)[:500])
            node.text = "\n".join(diffs) + f"\n\nreason: {entry.get('reason', '')}"
            counts["failures"] += 1
        ET.SubElement(tc, "properties").extend(
            [ET.Element("property", name="outcome", value=outcome)]
        )
    suite.set("time", f"{total:.3f}")
    for k, v in counts.items():
        suite.set(k, str(v))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write(doc: dict[str, Any], path: Path) -> None:
    atomic_write(path, render(doc))
