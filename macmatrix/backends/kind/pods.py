"""Single pods with pasted NADs on a kept kind cluster: `repro --backend kind` and its fix
search's candidate waves (workflows/fixsearch_kind.py). The cluster is session.KindCluster's
(created and kept when there is none, so the next repro starts in seconds); the pods are
kube/single.SinglePod's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubernetes import client

from macmatrix.backends.base import AttachmentLike
from macmatrix.backends.kind.kube.single import PodSpec, SinglePod, one
from macmatrix.backends.kind.session import KindCluster
from macmatrix.backends.kind.stack import inventory
from macmatrix.observe import PodObservation


class KindPods:
    """backends/base.PodRunner on a kind cluster, plus waves of pods and the plugin check."""

    name = "kind"

    def __init__(self, cluster: KindCluster) -> None:
        self.cluster = cluster
        self.api_calls = 0

    def stack(self) -> dict[str, Any]:
        return self.cluster.stack_dict()

    def need_plugins(self, needed: Mapping[str, str]) -> str | None:
        """For a repro: the plugin types its pasted NADs name (type -> network). None when the
        nodes will have them all (those the stack's plugins release has but the nodes lack are
        copied in when the cluster is prepared), else why the input cannot run here."""
        inv = inventory.inventory(self.cluster.stack, list(needed))
        try:
            inventory.check(inv, needed)
        except inventory.MissingPlugin as e:
            return str(e)
        self.cluster.extra_plugins = sorted(needed)
        return None

    def run_pod(
        self,
        pod_name: str,
        namespace: str,
        attachments: Sequence[AttachmentLike],
        annotations: dict[str, str],
    ) -> PodObservation:
        """One pod with the given NADs (configs exactly as given) on the cluster; everything it
        created is deleted again. Diagnostics land in OUT/diagnostics/ when it fails."""
        spec = PodSpec(pod_name, namespace, list(attachments), annotations)
        [got] = self.run_pods([spec])
        return one(spec, got)

    def run_pods(self, specs: Sequence[PodSpec]) -> list[PodObservation | str]:
        """Several pods in one wave (the fix search's candidates): per spec its observation or
        the infra problem that stopped it; everything created is deleted again."""
        self.cluster.prepare()
        api, threads, exec_fn = self.cluster.clients()
        runner = SinglePod(
            client.CoreV1Api(api),
            client.CustomObjectsApi(api),
            self.cluster.pod_image,
            exec_fn,
            self.cluster.out_dir,
            log=self.cluster.log,
        )
        try:
            return runner.run_wave(specs)
        finally:
            self.api_calls += runner.stats.calls
            threads.close()
            api.close()

    def close(self) -> None:
        """The kept cluster stays (it is kept); an unkept one is deleted."""
        self.cluster.close()
