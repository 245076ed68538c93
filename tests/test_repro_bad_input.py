"""`macmatrix repro` on networks elements of the wrong JSON type: one line, exit 2 (issue 12, §3).

Multus would accept such a pod and fail its sandbox (networks_lint.wrong_types, the rule `lint`
reports as its `element-wrong-type` error, exit 1). For repro it is a typo in the paste, not a
finding about the plugins, and CI reads exit 1 as a finding: so one line naming the document,
the pod, the element and the key with the fix, exit 2, and nothing made or written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from macmatrix.build import cni

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
CORPUS = yaml.safe_load((DATA / "corpus.yaml").read_text())["corpus"]
NETWORKS = "k8s.v1.cni.cncf.io/networks"
CONFIG = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "ipam": {"type": "static"}}
GOOD = {"name": "mv", "mac": "02:00:00:00:00:01", "ips": ["10.1.1.5/24"]}


def paste(element: dict[str, Any]) -> str:
    nad = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "mv", "namespace": "default"},
        "spec": {"config": json.dumps(CONFIG)},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "typo-pod",
            "namespace": "default",
            "annotations": {NETWORKS: json.dumps([{"name": "mv"}, element])},
        },
    }
    nad2 = {**nad, "metadata": {"name": "mv2", "namespace": "default"}}
    return yaml.safe_dump_all([nad, nad2, pod])


def macmatrix(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "macmatrix.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize(
    ("key", "value", "found", "fix"),
    [
        ("cni-args", "mac=02:00:00:00:00:02", "a string", "make it an object"),
        ("cni-args", ["mac", "02:00:00:00:00:02"], "a list", "make it an object"),
        ("ips", 10, "a number", "make it a list of strings"),
        ("ips", "10.1.1.5/24", "a string", "make it a list of strings"),
    ],
)
def test_wrong_type_is_one_line_and_exit_2_from_repro_and_an_error_from_lint(
    tmp_path: Path, key: str, value: Any, found: str, fix: str
) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(paste({**GOOD, "name": "mv2", key: value}))
    proc = macmatrix(tmp_path, "repro", str(path), "--backend", "netns")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    field = f"metadata.annotations[{NETWORKS}][1].{key} is {found}; {fix}"
    for part in (str(path), "document 3", "Pod typo-pod", field):
        assert part in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.yaml"]  # nothing written

    proc = macmatrix(tmp_path, "lint", str(path), "--json")
    assert proc.returncode == 1, proc.stderr  # lint reports what repro refuses
    errors = [f for f in json.loads(proc.stdout)["findings"] if f["level"] == "error"]
    assert [(f["rule"], f["field"]) for f in errors] == [
        ("element-wrong-type", f"metadata.annotations[{NETWORKS}][1].{key}")
    ]


def test_several_wrong_fields_still_give_one_line(tmp_path: Path) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(paste({**GOOD, "name": "mv2", "ips": "10.1.1.5/24", "cni-args": "x"}))
    proc = macmatrix(tmp_path, "repro", str(path), "--backend", "netns", "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert "[1].ips is a string" in line and "1 more field(s) of the wrong type" in line


@pytest.mark.parametrize(
    "name", sorted(n for n, spec in CORPUS.items() if "repro_bad_input" in spec)
)
def test_corpus_inputs_repro_refuses(name: str, tmp_path: Path) -> None:
    proc = macmatrix(tmp_path, "repro", str(DATA / "corpus" / name), "--backend", "netns")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.splitlines()
    assert CORPUS[name]["repro_bad_input"] in line


def test_an_ips_string_is_never_split_into_characters() -> None:
    """A string `ips` never reaches a plugin as I,P,=,1,0,... (list("10.1.1.5/24"))."""
    rt = cni.multus_runtime_conf(
        {"name": "mv", "ips": "10.1.1.5/24"},
        namespace="ns",
        pod_name="p",
        pod_uid="u",
        container_id="c",
        netns="/n",
        ifname="net1",
    )
    assert "ips" not in rt.capability_args and "IP=" not in rt.cni_args()
    rt = cni.multus_runtime_conf(
        {"name": "mv", "ips": ["10.1.1.5/24", "10.1.2.5/24"]},
        namespace="ns",
        pod_name="p",
        pod_uid="u",
        container_id="c",
        netns="/n",
        ifname="net1",
    )
    assert rt.capability_args["ips"] == ["10.1.1.5/24", "10.1.2.5/24"]
    assert "IP=10.1.1.5/24,10.1.2.5/24" in rt.cni_args()


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("subnet-excludeips-int.yaml", "Subnet spec.excludeIps"),
        ("whereabouts-exclude-int.yaml", "ipam.exclude (whereabouts)"),
    ],
)
def test_a_substituted_ipam_field_of_the_wrong_type_is_one_line(
    tmp_path: Path, name: str, field: str
) -> None:
    # once a TypeError traceback from the IPAM substitution (list(5))
    proc = macmatrix(
        tmp_path, "repro", str(REPO / "tests" / "data" / "repro-bad" / name), "--backend", "netns"
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.count("\n") == 1 and field in proc.stderr and "list of strings" in proc.stderr
    )
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []
