"""The kind cluster's lifecycle: pinned tools, create or reuse, nodes, delete unless kept.

Thin on purpose: the commands come from commands.py, creation goes through pytest-kind-ng's
KindCluster (given our pinned kind and kubectl, never its own kind download).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from macmatrix.backends.kind.stack import commands, docker, script
from macmatrix.backends.kind.stack.download import cache_dir, fetch
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import InfraError
from macmatrix.spec.stacks import Stack

PULL_TIMEOUT_S = 900.0


def pull_progress_line(line: str) -> bool:
    """Whether a `docker pull` output line is worth echoing: layers finished, digest, status
    (each layer's `Downloading`/`Extracting` ticks would drown the log)."""
    text = line.strip()
    return bool(text) and (
        text.endswith((": Pull complete", ": Already exists"))
        or text.startswith(("Digest:", "Status:", "Error", "error"))
        or ": Pulling from " in text
    )


@dataclass(frozen=True)
class Tools:
    kind: Path
    kubectl: Path


def tools_paths(stack: Stack, cache: Path | None = None) -> Tools:
    """Where the pinned kind and kubectl live in the cache (pure; for the plan)."""
    from macmatrix.backends.kind.stack.download import cached_path

    c = cache or cache_dir()
    return Tools(cached_path(stack.kind_url(), c), cached_path(stack.kubectl_url(), c))


def ensure_tools(stack: Stack, lock: Lock, cache: Path | None = None) -> Tools:
    """Download (once) and verify the pinned kind and kubectl."""
    return Tools(
        fetch(stack.kind_url(), lock, cache, executable=True),
        fetch(stack.kubectl_url(), lock, cache, executable=True),
    )


def sh(
    argv: Sequence[str],
    what: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    capture: bool = True,
) -> str:
    """Run a command; InfraError naming `what` and the last error line when it fails."""
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            capture_output=capture,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as e:
        raise InfraError(f"{what}: {argv[0]} not found") from e
    except subprocess.TimeoutExpired as e:
        raise InfraError(f"{what}: no answer within {timeout:.0f}s") from e
    if proc.returncode != 0:
        err = (proc.stderr or "").strip().splitlines() if capture else []
        last = err[-1] if err else f"exit code {proc.returncode}, see the output above"
        raise InfraError(f"{what} failed: {last}")
    return proc.stdout or ""


class KindLifecycle:
    """Create or reuse the stack's kind cluster; delete it at the end unless kept."""

    def __init__(
        self, stack: Stack, tools: Tools, workdir: Path, keep: bool, log: TextIO = sys.stderr
    ):
        self.stack = stack
        self.tools = tools
        self.name = stack.cluster_name()
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.keep = keep
        self.log = log
        self.reused = False

    def exists(self) -> bool:
        out = sh(commands.kind_get_clusters(self.tools.kind), "kind get clusters", timeout=60)
        return self.name in out.split()

    def up(self, fresh: bool = False) -> bool:
        """Create the cluster, or reuse a kept one (exporting its kubeconfig). True if reused.

        `fresh` deletes a cluster of the same name first (the upgrade check must start from the
        old stack, never from a cluster an earlier check already upgraded).
        """
        if not docker.engine_answers():
            raise InfraError(
                "no Docker engine answers; start Docker (or use --backend netns), "
                "see `macmatrix doctor --backend kind`"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        if fresh and self.exists():
            print(f"macmatrix: deleting the earlier cluster {self.name}", file=self.log, flush=True)
            sh(
                commands.kind_delete(self.tools.kind, self.name, self.kubeconfig),
                f"kind delete cluster --name {self.name}",
                timeout=300,
            )
        self.reused = self.exists()
        if self.reused:
            print(f"macmatrix: reusing kind cluster {self.name}", file=self.log, flush=True)
            sh(
                commands.kind_export_kubeconfig(self.tools.kind, self.name, self.kubeconfig),
                f"kind export kubeconfig --name {self.name}",
                timeout=60,
            )
        else:
            print(
                f"macmatrix: creating kind cluster {self.name} ({self.stack.node_image})",
                file=self.log,
                flush=True,
            )
        cluster = self._kind_cluster()
        try:
            cluster.create(config_file=self.stack.config_path())
        except subprocess.CalledProcessError as e:
            raise InfraError(
                f"kind create cluster {self.name} failed (exit {e.returncode}); if kind could not "
                f"pull {self.stack.node_image}, check internet access; see kind's output above"
            ) from e
        return self.reused

    def _kind_cluster(self):  # type: ignore[no-untyped-def]
        """pytest-kind-ng's KindCluster; it keeps a `.pytest-kind/<name>` folder in the cwd, so
        it is constructed inside our work folder, not the user's."""
        from pytest_kind import KindCluster

        here = Path.cwd()
        os.chdir(self.workdir)
        try:
            return KindCluster(
                self.name,
                kubeconfig=self.kubeconfig,
                image=self.stack.node_image,
                kind_path=self.tools.kind,
                kubectl_path=self.tools.kubectl,
            )
        finally:
            os.chdir(here)

    def nodes(self) -> list[str]:
        out = sh(commands.kind_get_nodes(self.tools.kind, self.name), "kind get nodes", timeout=60)
        return sorted(n for n in out.split() if n)

    def preload(self, image: str) -> None:
        """Pull `image` on the host when it lacks it (docker pull's progress echoed), then
        `kind load docker-image` it into every node, as Kube-OVN's kind.mk does before
        install.sh (see stack/images.py)."""
        try:
            sh(commands.docker_image_present(image), f"docker image inspect {image}", timeout=30)
        except InfraError:
            self.say(f"pulling {image}")
            log = self.workdir / "pulls" / (image.replace("/", "_").replace(":", "_") + ".log")
            res = script.run(
                commands.docker_pull(image),
                os.environ,
                self.workdir,
                log,
                PULL_TIMEOUT_S,
                on_line=self._pull_progress(image),
            )
            if res.timed_out or res.returncode != 0:
                how = f"no end after {PULL_TIMEOUT_S:.0f}s" if res.timed_out else res.last
                raise InfraError(
                    f"docker pull {image} failed: {how}; check internet access "
                    "(`macmatrix doctor --backend kind`), or pull it by hand"
                ) from None
        self.say(f"loading {image} into {self.name}")
        sh(
            commands.kind_load_image(self.tools.kind, self.name, image),
            f"kind load docker-image {image}",
            timeout=900,
        )

    def _pull_progress(self, image: str):  # type: ignore[no-untyped-def]
        """A line callback that echoes docker pull's summary lines, not every layer tick."""

        def echo(line: str) -> None:
            if pull_progress_line(line):
                self.say(f"docker pull {image}: {line}")

        return echo

    def say(self, text: str) -> None:
        print(f"macmatrix: {text}", file=self.log, flush=True)

    def down(self) -> None:
        if self.keep:
            print(f"macmatrix: keeping kind cluster {self.name} (--keep-cluster)", file=self.log)
            return
        print(f"macmatrix: deleting kind cluster {self.name}", file=self.log, flush=True)
        sh(
            commands.kind_delete(self.tools.kind, self.name, self.kubeconfig),
            f"kind delete cluster --name {self.name}",
            timeout=300,
        )
