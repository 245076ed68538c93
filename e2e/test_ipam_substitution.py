"""The matrix's `substitute_ipam` on the netns backend with the real plugins (issue 15).

`ipam: kube-ovn` cases stay unsupported on netns unless the matrix asks; when it does, they run
with static IPAM, match the model (which then leaves the Kube-OVN annotation unjudged), and
every output says "ipam substituted": results.json, the terminal table, Markdown and HTML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from macmatrix.build import manifests
from macmatrix.run.runner import execute
from macmatrix.spec import cases
from macmatrix.views import report

BIN_DIRS = ("/opt/cni/bin", "/usr/lib/cni")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "netns needs root to create network namespaces"
    if not any((Path(d) / "macvlan").exists() for d in BIN_DIRS):
        return f"no CNI plugins (macvlan) in {' or '.join(BIN_DIRS)}"
    return None


pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(_why_not() is not None, reason=_why_not() or ""),
]

MATRIX = {
    "sets": {
        "ipam": {
            "ipam": ["static", "kube-ovn"],
            "request": ["none", "networks", "annotation"],
            "chain": ["single", "conflist"],
            "tuning": ["none", "capmac"],
        }
    }
}


def _run(tmp_path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    from macmatrix.backends.netns.backend import NetnsBackend

    path = tmp_path / "matrix.yaml"
    path.write_text(yaml.safe_dump(spec))
    with NetnsBackend(workers=2) as backend:
        return execute(backend, cases.load(path), tmp_path / "out", str(path))


def test_kube_ovn_cases_stay_unsupported_unless_the_matrix_asks(tmp_path: Path) -> None:
    doc = _run(tmp_path, MATRIX)
    kovn = [e for e in doc["cases"] if e["axes"]["ipam"] == "kube-ovn"]
    assert kovn and all(e["outcome"] == "unsupported" for e in kovn)
    assert not any(e.get("ipam_substituted") for e in doc["cases"])


def test_substituted_matrix_cases_run_as_the_model_says_and_say_so(tmp_path: Path) -> None:
    doc = _run(tmp_path, {**MATRIX, "substitute_ipam": ["kube-ovn"]})
    by_id = {e["id"]: e for e in doc["cases"]}
    kovn = [e for e in doc["cases"] if e["axes"]["ipam"] == "kube-ovn"]
    assert len(kovn) == 9 and all(e["as_expected"] for e in doc["cases"]), [
        (e["id"], e["differences"]) for e in doc["cases"] if not e["as_expected"]
    ]
    for e in kovn:
        assert e["outcome"] in ("works", "broken"), e["reason"]
        assert "kubeovn_annotation_matches_kernel" not in e["checks"]
        assert {n["what"] for n in e["not_judged"]} and e["ipam_substituted"]
        (sub,) = e["ipam_substituted"]
        assert sub["replaced"]["type"] == "kube-ovn" and sub["static"]["type"] == "static"
        # the same MAC answer as the static-IPAM case at the same point of the matrix
        twin = by_id[e["id"].replace("ipam-kube-ovn", "ipam-static")]
        assert twin["outcome"] == e["outcome"]
        if "secondary_mac_honoured" in e["checks"]:
            want = twin["checks"]["secondary_mac_honoured"]["ok"]
            assert e["checks"]["secondary_mac_honoured"]["ok"] == want
    works = [e for e in kovn if e["outcome"] == "works"]
    broken = [e for e in kovn if e["outcome"] == "broken"]
    assert works and broken  # annotation-only asks stay broken: nothing applies that MAC
    assert all("req-annotation" in e["id"] for e in broken)
    # every view marks them
    terminal = report.render_terminal(doc)
    assert f"{len(kovn)} case(s) ran with ipam substituted" in terminal
    assert terminal.count("ipam substituted (kube-ovn -> static)") == len(kovn)
    md = report.render_markdown([doc])
    assert report.SUBSTITUTED_MARK in md and "ipam substituted" in md
    page = report.render_html([doc])
    assert page.count(' substituted" data-outcome') == len(kovn)
    assert manifests.KUBEOVN_SOCKET in str(kovn[0]["ipam_substituted"][0]["replaced"])
