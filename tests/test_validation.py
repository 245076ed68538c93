"""Bad input is one line and exit 2, in one place `lint` and `repro` share (issue 12, section 3).

Also the results-file loader (compare, report, baseline check read through it), `run --out` at
an existing file, and a property-based test: whatever the bytes, the commands end with an exit
code in {0, 1, 2, 3} and never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from macmatrix import cli
from macmatrix.judge.verdict import judge, model
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.run.results import case_entry
from macmatrix.spec.cases import DEFAULTS, Case

CONFIG = {"cniVersion": "1.0.0", "type": "macvlan", "master": "eth1", "ipam": {"type": "static"}}
ELEMENT = {"name": "mv", "mac": "02:00:00:00:00:01", "ips": ["10.1.1.2/24"]}


def paste(config: object = CONFIG, element: object = ELEMENT, pod: str = "p") -> str:
    nad = {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": "mv"},
        "spec": {"config": json.dumps(config)},
    }
    podd = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "annotations": {"k8s.v1.cni.cncf.io/networks": json.dumps([element])},
        },
    }
    return yaml.safe_dump(nad) + "---\n" + yaml.safe_dump(podd)


def plugins(*entries: object) -> dict[str, object]:
    return {"cniVersion": "1.0.0", "name": "mv", "plugins": list(entries)}


BAD_INPUT = {
    "plugins entry not an object": (paste(plugins(CONFIG, "tuning")), "plugins[1]"),
    "empty plugins": (paste(plugins()), "plugins is empty"),
    "type null": (paste({**CONFIG, "type": None}), "type is null"),
    "master with a space": (paste({**CONFIG, "master": "eth 1"}), "master 'eth 1'"),
    "master lo": (paste({**CONFIG, "master": "lo"}), "master 'lo'"),
    "pod name the API server refuses": (paste(pod="p;MAC=02:00:00:00:00:09"), "metadata.name"),
}


@pytest.mark.parametrize("command", ["lint", "repro"])
@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_lint_and_repro_refuse_the_same_input_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, name: str
) -> None:
    text, field = BAD_INPUT[name]
    path = tmp_path / "in.yaml"
    path.write_text(text)
    extra = ["--backend", "netns"] if command == "repro" else []
    assert cli.main([command, str(path), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err


@pytest.mark.parametrize(
    "element",
    [
        {**ELEMENT, "cni-args": "mac=02:00:00:00:00:02"},
        {**ELEMENT, "cni-args": ["mac"]},
        {**ELEMENT, "ips": 10},
        {**ELEMENT, "ips": "10.1.1.2/24"},
    ],
)
def test_elements_of_the_wrong_type_are_an_error_finding_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], element: dict[str, Any]
) -> None:
    """Multus accepts such a pod and fails its sandbox (networks_lint.py): lint says so (exit 1);
    repro refuses the same input as bad input (tests/test_repro_bad_input.py)."""
    path = tmp_path / "in.yaml"
    path.write_text(paste(element=element))
    assert cli.main(["lint", str(path), "--json"]) == 1
    rules = [f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]]
    assert "element-wrong-type" in rules


def test_a_good_paste_still_lints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(paste())
    assert cli.main(["lint", str(path)]) in (0, 1)


def results_doc() -> dict[str, Any]:
    """A valid results document with one judged case."""
    case = Case(**DEFAULTS)
    mac = case.requested_mac(0)
    obs = CaseObservation(
        case.id, pods=[PodObservation("p", {"net1": mac}, [{"interface": "net1", "mac": mac}])]
    )
    stack = {"name": "netns", "backend": "netns", "cni_plugins": "1.1.1"}
    entry = case_entry(case, obs, judge(case, obs), model(case, stack))
    return {"schema": 1, "stack": stack, "cases": [entry]}


def broken(top: dict[str, Any] | None = None, case: dict[str, Any] | None = None) -> bytes:
    doc = {**results_doc(), **(top or {})}
    if case:
        doc["cases"] = [{**doc["cases"][0], **case}]
    return json.dumps(doc).encode()


BAD_RESULTS = {
    "cases null": (broken({"cases": None}), "`cases`"),
    "not UTF-8": (b'{"schema": 1, "cases": ["\xff\xfe"]}', "not UTF-8"),
    "pods a number": (broken(case={"pods": 5}), ".pods"),
    "stack a string": (broken({"stack": "netns"}), "`stack`"),
    "id a number": (broken(case={"id": 5}), ".id"),
    "deep": (b'{"schema": 1, "cases": ' + b"[" * 50000 + b"]" * 50000 + b"}", "nested"),
}


@pytest.mark.parametrize(
    "argv",
    [["compare", "{p}", "{p}"], ["report", "{p}", "--markdown", "-"], ["baseline", "check", "{p}"]],
)
@pytest.mark.parametrize("name", sorted(BAD_RESULTS))
def test_results_readers_refuse_bad_files_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], name: str
) -> None:
    data, field = BAD_RESULTS[name]
    p = tmp_path / "r.json"
    p.write_bytes(data)
    assert cli.main([a.format(p=p) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0], err


def test_run_out_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "results"
    f.write_text("not a folder")
    assert cli.main(["run", "--backend", "netns", "-q", "-k", "x1", "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "is a file" in err[0], err
    assert f.read_text() == "not a folder"


# --------------------------------------------------------------------------- properties

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)
GOOD_PASTE = paste().encode()


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """The valid paste with a slice replaced by arbitrary bytes."""
    return st.tuples(st.integers(0, len(base)), st.integers(0, 40), st.binary(max_size=40)).map(
        lambda t: base[: t[0]] + t[2] + base[t[0] + t[1] :]
    )


def _exit(argv: list[str]) -> int:
    code = cli.main(argv)  # any exception fails the property: a traceback
    assert code in (0, 1, 2, 3), (argv, code)
    return code


@FUZZ
@given(
    data=st.binary(max_size=300)
    | _mutations(GOOD_PASTE)
    | JSONISH.map(lambda v: yaml.safe_dump(v).encode())
    | st.builds(lambda c, e: paste(c, e).encode(), JSONISH, JSONISH)
)
def test_lint_never_tracebacks_whatever_the_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "in.yaml"
    p.write_bytes(data)
    _exit(["lint", str(p)])


@FUZZ
@given(
    data=st.binary(max_size=300)
    | _mutations(GOOD_PASTE)
    | st.builds(lambda c, e: paste(c, e).encode(), JSONISH, JSONISH)
)
def test_repro_reads_any_bytes_into_a_request_or_one_bad_input(tmp_path: Path, data: bytes) -> None:
    """What repro does before any plugin runs: read, bind, lint, refuse wrongly typed elements;
    only BadInput may come out, and what repro refuses that lint can read is a lint error."""
    from macmatrix.errors import BadInput
    from macmatrix.spec.userinput import load_paths, resolve
    from macmatrix.workflows.lint import lint
    from macmatrix.workflows.repro import refuse_wrong_types

    p = tmp_path / "in.yaml"
    p.write_bytes(data)
    try:
        request = resolve(load_paths([str(p)]))
        findings = lint(request.paste)
    except BadInput as e:
        assert "\n" not in str(e)  # one line
        return
    try:
        refuse_wrong_types(request)
    except BadInput as e:
        assert "\n" not in str(e)
        assert any(f.level == "error" and f.rule == "element-wrong-type" for f in findings)


GOOD_RESULTS = json.dumps(results_doc()).encode()


@FUZZ
@given(
    data=st.binary(max_size=300)
    | _mutations(GOOD_RESULTS)
    | JSONISH.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda k, v, ck, cv: broken({k: v}, {ck: cv}),
        st.sampled_from(["stack", "matrix", "phases", "summary", "started"]),
        JSONISH,
        st.sampled_from(
            [
                "id",
                "axes",
                "outcome",
                "pods",
                "checks",
                "requested",
                "reason",
                "expected",
                "attempts",
            ]
        ),
        JSONISH,
    )
)
def test_results_readers_never_traceback_whatever_the_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "r.json"
    p.write_bytes(data)
    _exit(["compare", str(p), str(p)])
    _exit(["report", str(p), "--markdown", str(tmp_path / "r.md")])
    _exit(["baseline", "check", str(p)])


def test_a_hostile_journal_beside_the_results_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A killed run's journal is folded into results.json on load; it is read as carefully."""
    from macmatrix.run.results import journal_path

    p = tmp_path / "r.json"
    doc = {**results_doc(), "complete": False}
    p.write_text(json.dumps(doc))
    entry = {**doc["cases"][0], "pods": 5}
    journal_path(p).write_bytes(json.dumps(entry).encode() + b"\n" + b"[" * 50000 + b"\n")
    assert cli.main(["report", str(p), "--markdown", "-"]) == 2
    assert ".pods" in capsys.readouterr().err
