"""Diagnostics for a case that is not fully fine: what a human needs to see why, on disk.

Per pod: its YAML, its events, the logs of the Multus and kube-ovn-cni pods on its node, and its
interfaces from /sys/class/net when it runs (`ip` cannot run in the pods: see kube/sysnet.py).
Each piece is best effort: a failing piece writes its error into the file instead of hiding the
rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from macmatrix.backends.kind.kube import sysnet
from macmatrix.backends.kind.kube.client import CallStats, ExecResult, call
from macmatrix.backends.kind.kube.matrix import to_dict
from macmatrix.build import manifests
from macmatrix.observe import CaseObservation
from macmatrix.spec.cases import Case

SYSTEM_NS = "kube-system"
# label selector -> short name used in file names (Multus thick ds, Kube-OVN's CNI daemon)
NODE_AGENTS = {"app=multus": "multus", "app=kube-ovn-cni": "kube-ovn-cni"}
LOG_TAIL_LINES = 300
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def case_dir_name(case_id: str) -> str:
    """A file-system-safe folder name for a case id (`/` becomes `__`)."""
    return _UNSAFE.sub("_", case_id.replace("/", "__"))


def pod_events_text(events: list[dict[str, Any]]) -> str:
    lines = []
    for e in events:
        when = e.get("lastTimestamp") or e.get("eventTime") or ""
        lines.append(
            f"{when} {e.get('type', '')} {e.get('reason', '')} x{e.get('count') or 1}: "
            f"{e.get('message', '')}"
        )
    return "\n".join(lines) + ("\n" if lines else "no events\n")


class Diagnostics:
    """Collects diagnostics into OUT/diagnostics/<case>/; node agent logs are fetched once."""

    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        exec_fn: Callable[[str, str, list[str]], ExecResult],
        out_dir: Path,
        stats: CallStats | None = None,
    ) -> None:
        self.core = core
        self.namespace = namespace
        self.exec_fn = exec_fn
        self.root = out_dir / "diagnostics"
        self.stats = stats or CallStats()
        self._agents: dict[str, dict[str, tuple[str, str]]] | None = None  # node -> kind -> pod
        self._logs: dict[tuple[str, str], str] = {}

    def _api(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call(fn, *args, stats=self.stats, **kwargs)

    def collect(self, case: Case, obs: CaseObservation) -> str:
        folder = self.root / case_dir_name(case.id)
        folder.mkdir(parents=True, exist_ok=True)
        summary = [f"case: {case.id}", f"status: {obs.status}", f"reason: {obs.reason}"]
        summary += [f"pod {p.name}: error={p.error!r} interfaces={p.interfaces}" for p in obs.pods]
        (folder / "summary.txt").write_text("\n".join(summary) + "\n")
        for replica in range(case.n_replicas):
            self._pod(folder, manifests.pod_name(case, replica))
        return str(folder)

    def collect_pod(self, folder_name: str, pod: str, summary: list[str]) -> str:
        """Diagnostics for one pod outside the matrix (repro on kind): same files as a case."""
        folder = self.root / case_dir_name(folder_name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.txt").write_text("\n".join(summary) + "\n")
        self._pod(folder, pod)
        return str(folder)

    def _pod(self, folder: Path, name: str) -> None:
        try:
            pod = to_dict(self._api(self.core.read_namespaced_pod, name, self.namespace))
        except Exception as e:  # best effort: say why in the file
            (folder / f"{name}.yaml").write_text(f"# could not read pod: {e}\n")
            return
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(pod, sort_keys=False))
        try:
            listing = self._api(
                self.core.list_namespaced_event,
                self.namespace,
                field_selector=f"involvedObject.name={name}",
            )
            events = [to_dict(i) for i in (to_dict(listing).get("items") or [])]
            (folder / f"{name}.events.txt").write_text(pod_events_text(events))
        except Exception as e:
            (folder / f"{name}.events.txt").write_text(f"could not list events: {e}\n")
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            for kind, text in self._agent_logs(node).items():
                (folder / f"{name}.{kind}-{node}.log").write_text(text)
        if (pod.get("status") or {}).get("phase") == "Running":
            try:
                res = self.exec_fn(self.namespace, name, sysnet.command())
                text = sysnet.render(sysnet.parse(res.stdout))
                text += f"\n# raw /sys/class/net/*:\n{res.stdout}"
                text += f"\n# stderr:\n{res.stderr}" if res.stderr else ""
                text += f"\n# exit code: {res.returncode}\n"
            except Exception as e:
                text = f"could not read /sys/class/net in the pod: {e}\n"
            (folder / f"{name}.sys-class-net.txt").write_text(text)

    def _find_agents(self) -> dict[str, dict[str, tuple[str, str]]]:
        if self._agents is None:
            self._agents = {}
            for selector, kind in NODE_AGENTS.items():
                try:
                    listing = to_dict(
                        self._api(self.core.list_namespaced_pod, SYSTEM_NS, label_selector=selector)
                    )
                except Exception:
                    continue
                for item in listing.get("items") or []:
                    spec = item.get("spec") or {}
                    containers = spec.get("containers") or [{}]
                    pod_name = (item.get("metadata") or {}).get("name", "")
                    node_map = self._agents.setdefault(spec.get("nodeName", ""), {})
                    node_map[kind] = (pod_name, containers[0].get("name", ""))
        return self._agents

    def _agent_logs(self, node: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for kind, (pod_name, container) in self._find_agents().get(node, {}).items():
            key = (node, kind)
            if key not in self._logs:
                try:
                    self._logs[key] = str(
                        self._api(
                            self.core.read_namespaced_pod_log,
                            pod_name,
                            SYSTEM_NS,
                            container=container or None,
                            tail_lines=LOG_TAIL_LINES,
                        )
                    )
                except Exception as e:
                    self._logs[key] = f"could not read logs of {SYSTEM_NS}/{pod_name}: {e}\n"
            out[kind] = self._logs[key]
        return out
