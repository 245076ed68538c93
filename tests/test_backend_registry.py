"""backends/registry.py: one list of backend names; `--backend` choices, the auto pick, the
dry-run plan and opening a backend all go through it, so a backend is one module registering
itself. A throwaway backend registered here proves the seam end to end through `macmatrix run`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from macmatrix.backends import registry
from macmatrix.errors import BadInput
from macmatrix.observe import CaseObservation, PodObservation
from macmatrix.spec.cases import Case

OPENED: list[Any] = []


class Throwaway:
    """A backend that answers every case `unsupported`: only the plumbing is under test."""

    name = "throwaway"

    def __init__(self, opts: Any) -> None:
        self.opts, self.closed = opts, False
        OPENED.append(self)

    def stack(self) -> dict[str, Any]:
        return {"backend": "throwaway", "name": "throwaway", "cni_plugins": "none"}

    def run(
        self, cases: Sequence[Case], progress: Any = None, on_case: Any = None
    ) -> dict[str, CaseObservation]:
        out = {
            c.id: CaseObservation(c.id, "unsupported", "throwaway", [PodObservation("p")])
            for c in cases
        }
        for obs in out.values():
            if on_case is not None:
                on_case(obs)
        return out

    def close(self) -> None:
        self.closed = True


def _plan(cases: Sequence[Case], opts: Any) -> str:
    return f"throwaway plan: {len(cases)} case(s), stack {opts.stack}"


ENTRY = registry.BackendEntry(
    name="throwaway",
    summary="a test's stand-in backend",
    open=Throwaway,
    plan=_plan,
    unavailable=lambda opts: "never here",
    order=999,
)


@pytest.fixture
def throwaway() -> Iterator[registry.BackendEntry]:
    OPENED.clear()
    with registry.registered(ENTRY) as entry:
        yield entry
    assert "throwaway" not in registry.names()


def test_the_built_in_backends_register_themselves() -> None:
    assert registry.names()[:2] == ("netns", "kind")
    assert registry.choices()[0] == registry.AUTO
    assert registry.get("kind").runs_stacks and not registry.get("netns").runs_stacks
    assert "multus" in registry.names() and registry.auto_candidates() == ("netns", "kind")
    with pytest.raises(BadInput, match=r"--backend: unknown backend 'nope'; use auto, netns, kind"):
        registry.get("nope")


def test_a_registered_backend_is_a_choice_and_is_picked_by_name(
    throwaway: registry.BackendEntry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from macmatrix.cli import doctor
    from macmatrix.cli import run as runner
    from macmatrix.workflows import repro

    assert "throwaway" in registry.choices()
    for add in (runner.add_run_options,):
        p = argparse.ArgumentParser()
        add(p)
        assert p.parse_args(["--backend", "throwaway"]).backend == "throwaway"
    assert registry.resolve("throwaway") == "throwaway"
    # the dry-run plan comes from the entry
    assert runner.main(["--backend", "throwaway", "--dry-run", "-k", "req-none", "-q"]) == 0
    assert capsys.readouterr().out.startswith("throwaway plan: ")
    # a real run opens it by name, runs every selected case on it and closes it
    out = tmp_path / "out"
    code = runner.main(["--backend", "throwaway", "-k", "req-none", "--out", str(out), "-q"])
    assert code in (0, 1) and len(OPENED) == 1 and OPENED[0].closed
    doc = json.loads((out / "results.json").read_text())
    assert doc["stack"]["backend"] == "throwaway"
    assert doc["cases"] and {e["outcome"] for e in doc["cases"]} == {"unsupported"}
    # doctor lists it with its probe's one line; repro refuses it (no single-pod runner)
    assert doctor.main(["--backend", "throwaway"]) == 3
    assert "never here" in capsys.readouterr().out
    with pytest.raises(BadInput, match="--backend throwaway: this backend cannot run a single"):
        repro.pick_backend("throwaway")


def test_a_name_is_registered_once(throwaway: registry.BackendEntry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register(replace(ENTRY, summary="another"))
    with pytest.raises(ValueError, match="reserved"):
        registry.register(replace(ENTRY, name="auto"))


def test_auto_takes_the_first_candidate_by_rank_that_does_not_refuse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kind = registry.get("kind")
    monkeypatch.setitem(registry._ENTRIES, "kind", replace(kind, auto_refuses=lambda: None))
    assert registry.resolve("auto") == "kind"
    assert "--backend auto picked kind (a Docker engine answers)" in capsys.readouterr().err
    no = replace(kind, auto_refuses=lambda: "no Docker engine answers")
    monkeypatch.setitem(registry._ENTRIES, "kind", no)
    assert registry.resolve("auto") == "netns"
    assert "--backend auto picked netns (no Docker engine answers)" in capsys.readouterr().err
    # a candidate ranked first wins over kind; one that is never auto-picked is passed over
    first = replace(ENTRY, name="first", auto_rank=1, auto_why="it answers")
    with registry.registered(first), registry.registered(replace(ENTRY, name="never")):
        assert registry.pick_auto() == ("first", "it answers")
        assert registry.pick_auto(need_pods=True) == (
            "netns",
            "the first backend cannot run a single repro pod in this build; "
            "no Docker engine answers",
        )


def test_default_stack_only_for_backends_that_run_stacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from macmatrix.spec.stacks import newest

    assert registry.default_stack("netns", None) is None
    assert registry.default_stack("kind", "kube-ovn-v1.13") == "kube-ovn-v1.13"
    assert registry.default_stack("kind", None) == newest()
    assert f"using the newest, {newest()}" in capsys.readouterr().err


# --------------------------------------------------------------------------- repro and the judge

PODS: list[Any] = []


class ThrowawayPods:
    """A single-pod runner stand-in: net1 gets `mac` when set, else what the pod asked for,
    and network-status reports the same; it records what it was handed and whether closed."""

    mac: str | None = None

    def __init__(self, opts: Any) -> None:
        self.opts, self.closed, self.pods = opts, False, []
        PODS.append(self)

    def stack(self) -> dict[str, Any]:
        return {"backend": "throwaway", "name": "throwaway", "cni_plugins": "none"}

    def run_pod(self, name: str, ns: str, atts: Any, annotations: dict[str, str]) -> Any:
        from macmatrix.observe import network_status_entry

        self.pods.append((name, ns, [(a.network, a.element) for a in atts]))
        mac = ThrowawayPods.mac or atts[0].element.get("mac")
        result = {"interfaces": [{"name": "net1", "mac": mac, "sandbox": "/x"}]}
        status = [network_status_entry(atts[0].network, result, "net1")]
        return PodObservation(name, interfaces={"net1": mac}, network_status=status)

    def close(self) -> None:
        self.closed = True


PODS_ENTRY = replace(
    ENTRY,
    name="throwaway",
    pods=ThrowawayPods,
    unavailable=lambda opts: None,
    unsupported=lambda case: "no eth0 of Kube-OVN here" if case.primary_mac == "yes" else None,
)


@pytest.fixture
def with_pods() -> Iterator[registry.BackendEntry]:
    PODS.clear()
    ThrowawayPods.mac = None
    with registry.registered(PODS_ENTRY) as entry:
        yield entry


def test_the_judge_asks_the_entry_which_cases_it_cannot_run(
    with_pods: registry.BackendEntry,
) -> None:
    from macmatrix.judge.verdict import model
    from macmatrix.spec import cases

    stack = {"backend": "throwaway", "cni_plugins": "v1.9.1"}
    primary = Case(**{**cases.DEFAULTS, "primary_mac": "yes"})
    exp = model(primary, stack)
    assert (exp.outcome, exp.why) == (
        "unsupported",
        ["throwaway backend: no eth0 of Kube-OVN here"],
    )
    assert model(Case(**cases.DEFAULTS), stack).outcome == "works"
    # substitutes_ipam: a substituted kube-ovn IPAM drops the Kube-OVN annotation check, as on
    # netns; without it the annotation is judged
    sub = Case(**{**cases.DEFAULTS, "ipam": "kube-ovn"}, substitute_ipam=True)
    netns = model(sub, {**stack, "backend": "netns"})
    plain = model(sub, stack)
    assert plain.checks != netns.checks
    with registry.registered(replace(PODS_ENTRY, name="throwaway2", substitutes_ipam=True)):
        assert model(sub, {**stack, "backend": "throwaway2"}).checks == netns.checks


def test_repro_runs_on_a_registered_backend_through_its_pods(
    with_pods: registry.BackendEntry, capsys: pytest.CaptureFixture[str]
) -> None:
    """No hook: `pods` opens a runner with repro's options, the request goes as pasted, the
    judge judges it, the runner is closed; no backend name is looked at on the way."""
    from macmatrix import cli
    from macmatrix.spec.userinput import load_paths, resolve
    from macmatrix.workflows import repro

    path = str(Path(__file__).parent / "data" / "corpus" / "issue-4834-maintainer-fix.yaml")
    assert repro.pick_backend("throwaway") == ("throwaway", "")
    entry = repro.run(resolve(load_paths([path])), "throwaway", stack_name="kube-ovn-v1.16")
    (runner,) = PODS
    assert runner.closed and runner.opts.stack == "kube-ovn-v1.16"
    assert runner.pods == [
        ("fixed", "default", [("default/macvlan", {"name": "macvlan", "namespace": "default",
                                                    "mac": "02:00:00:53:6b:bb"})])
    ]  # fmt: skip
    assert entry["outcome"] == "works" and entry["stack"]["backend"] == "throwaway"
    assert entry["checks"]["mac_honoured[net1]"]["ok"] is True
    assert entry["state_confined"] == [] and entry["ipam_substituted"] == []
    assert "only the kind or multus backend installs stacks" in entry["stack"]["stack_requested"]
    # a MAC that does not land is broken, judged by the one judge; the fix search says why not
    ThrowawayPods.mac = "02:00:00:00:00:99"
    assert cli.main(["repro", path, "--backend", "throwaway", "--json"]) == 1
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert case["outcome"] == "broken" and "mac_honoured[net1]" in case["reason"]
    assert case["fix"] == {"searched": False, "why": "no fix search on backend throwaway"}
    assert all(r.closed for r in PODS) and len(PODS) == 2


def test_the_fix_search_runs_here_for_entries_that_say_so(
    with_pods: registry.BackendEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fix_in_process` (netns) lets repro's fix search verify candidates here; other backends
    without a kept runner get one line why not, whatever their name."""
    from macmatrix.spec.userinput import load_paths, resolve
    from macmatrix.workflows import fixsearch

    path = str(Path(__file__).parent / "data" / "corpus" / "issue-4834-host-local.yaml")
    request = resolve(load_paths([path]))
    ran: list[int] = []
    monkeypatch.setattr(fixsearch, "run_candidates", lambda req, cands, *a: ran.append(1) or [])
    entry = {"stack": {"backend": "throwaway", "cni_plugins": "v1.9.1"}, "outcome": "broken"}
    assert fixsearch.search(request, entry)["why"] == "no fix search on backend throwaway"
    assert ran == []
    with registry.registered(replace(PODS_ENTRY, name="here", fix_in_process=True)):
        out = fixsearch.search(request, {**entry, "stack": {"backend": "here"}})
    assert ran and out.get("why") != "no fix search on backend here"
