"""Hostile input (issue 12, section 1): alias bombs, deep nesting and oversized pastes are one
line and exit 2 for `lint` and `repro`, never a memory blow-up or a RecursionError traceback.

The commands run in a child with a 1 GiB address-space limit and a timeout, so a regression
fails the test instead of eating the machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from macmatrix import limits
from macmatrix.errors import BadInput
from macmatrix.spec.userinput import load_paths

REPO = Path(__file__).resolve().parents[1]
NAD = """apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: mv}
spec:
  config: '{"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "ipam": {"type": "static"}}'
"""


def bomb(levels: int = 9, fan: int = 9) -> str:
    """The classic billion-laughs shape: each anchor aliases the previous one `fan` times."""
    lines = ['- &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"- &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


def in_pod_annotation() -> str:
    anchors = bomb().replace("- &", "  - &")
    return (
        NAD
        + "---\nkind: Pod\nmetadata:\n  name: p\n  x-anchors:\n"
        + anchors
        + "  annotations:\n    k8s.v1.cni.cncf.io/networks: *a8\n"
    )


HOSTILE = {
    "bomb-list.yaml": bomb(),
    "bomb-in-networks.yaml": in_pod_annotation(),
    "deep.yaml": "[" * 20000 + "]" * 20000 + "\n",
    "deep.json": '{"type": "macvlan", "x": ' + "[" * 50000 + "]" * 50000 + "}\n",
    "deep-config.yaml": NAD.replace('"static"}', '"static"}, "x": ' + "[" * 50000 + "]" * 50000),
    "self-alias.yaml": "- &a [1, *a]\n",
    "huge.yaml": "# " + "x" * (limits.MAX_PASTE_BYTES + 10) + "\n",
}


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize("command", ["lint", "repro"])
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input_is_one_line_and_exit_2(tmp_path: Path, command: str, name: str) -> None:
    path = tmp_path / name
    path.write_text(HOSTILE[name])
    argv = [sys.executable, "-m", "macmatrix.cli", command, str(path)]
    if command == "repro":
        argv += ["--backend", "netns"]
    proc = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=60, preexec_fn=limited
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(path) in lines[0], proc.stderr
    if name == "huge.yaml":  # refused for its size, not read and found empty
        assert "bytes, more than" in lines[0]


def test_real_inputs_are_far_inside_the_bounds() -> None:
    corpus = REPO / "tests" / "data" / "corpus"
    paths = sorted(corpus.glob("*.yaml"))
    assert paths
    for p in paths:
        try:
            load_paths([str(p)])
        except BadInput as e:  # some corpus inputs are bad on purpose, never for the bounds
            assert "nested more than" not in str(e) and "values (after" not in str(e), p


def test_shared_aliases_are_counted_per_use_not_expanded() -> None:
    small = limits.yaml_load_all(bomb(levels=3), "x")  # 9 * 9 * 9 values: fine
    assert len(small[0]) == 3 and len(small[0][2]) == 9
    with pytest.raises(BadInput, match="more than 200000 values"):
        limits.yaml_load_all(bomb(levels=7), "x")
    with pytest.raises(BadInput, match="nested more than 64"):
        limits.json_loads("[" * 65 + "]" * 65, "x")
    assert limits.json_loads("[" * 64 + "]" * 64, "x") is not None
    with pytest.raises(yaml.YAMLError):
        limits.yaml_load("a: 1\n---\nb: 2\n", "x")
    assert json.loads(json.dumps(limits.yaml_load("a: [1, 2]", "x"))) == {"a": [1, 2]}
