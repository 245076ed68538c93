"""KindLifecycle.preload(): pull only a missing image (its progress echoed), then `kind load` it.

`docker` and `kind` are stand-in scripts on PATH (no registry and no cluster here) that log
their arguments; the subprocesses, the output streaming and the error paths are real.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from macmatrix.backends.kind.stack.cluster import KindLifecycle, Tools
from macmatrix.errors import InfraError
from macmatrix.spec import stacks

IMAGE = "docker.io/kubeovn/kube-ovn:v1.14.41"


def _stand_ins(tmp_path: Path, pull_ok: bool = True) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    docker = bin_dir / "docker"
    pull = (
        'echo "v1.14.41: Pulling from kubeovn/kube-ovn"\n'
        'echo "4f4fb700ef54: Downloading  12.3MB/40MB"\n'
        'echo "4f4fb700ef54: Pull complete"\n'
        'echo "Digest: sha256:0123"\n'
        f'echo "Status: Downloaded newer image for $2"\ntouch {tmp_path}/present\n'
        if pull_ok
        else 'echo "Error response from daemon: Get https://registry-1.docker.io/v2/: '
        'dial tcp: lookup registry-1.docker.io: no such host" >&2\nexit 1\n'
    )
    docker.write_text(
        "#!/bin/bash\n"
        f'echo "docker $*" >> {calls}\n'
        'if [ "$1" = image ]; then\n'
        f"  [ -f {tmp_path}/present ] && echo sha256:1 && exit 0\n"
        '  echo "Error response from daemon: No such image: $5" >&2; exit 1\n'
        "fi\n"
        'if [ "$1" = pull ]; then\n' + pull + "fi\n"
    )
    kind = bin_dir / "kind"
    kind.write_text(f'#!/bin/bash\necho "kind $*" >> {calls}\n')
    for exe in (docker, kind):
        exe.chmod(0o755)
    return kind, calls


def _cluster(tmp_path: Path, kind: Path, monkeypatch: pytest.MonkeyPatch) -> KindLifecycle:
    monkeypatch.setenv("PATH", f"{kind.parent}{os.pathsep}{os.environ['PATH']}")
    stack = stacks.get("kube-ovn-v1.14")
    return KindLifecycle(
        stack, Tools(kind, tmp_path / "kubectl"), tmp_path / "work", False, io.StringIO()
    )


def test_a_missing_image_is_pulled_with_progress_then_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, calls = _stand_ins(tmp_path)
    cluster = _cluster(tmp_path, kind, monkeypatch)
    cluster.workdir.mkdir(parents=True)
    cluster.preload(IMAGE)
    log = calls.read_text().splitlines()
    assert log == [
        f"docker image inspect --format {{{{.Id}}}} {IMAGE}",
        f"docker pull {IMAGE}",
        f"kind load docker-image --name mm-kube-ovn-v1-14 {IMAGE}",
    ]
    said = cluster.log.getvalue()  # type: ignore[attr-defined]
    assert f"docker pull {IMAGE}: 4f4fb700ef54: Pull complete" in said
    assert "Digest: sha256:0123" in said and "Downloading" not in said
    # present now: the next preload only loads it
    cluster.preload(IMAGE)
    assert calls.read_text().splitlines()[3:] == [
        f"docker image inspect --format {{{{.Id}}}} {IMAGE}",
        f"kind load docker-image --name mm-kube-ovn-v1-14 {IMAGE}",
    ]


def test_a_pull_that_fails_is_one_infra_line_and_nothing_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, calls = _stand_ins(tmp_path, pull_ok=False)
    cluster = _cluster(tmp_path, kind, monkeypatch)
    cluster.workdir.mkdir(parents=True)
    with pytest.raises(InfraError, match=f"docker pull {IMAGE} failed: Error response") as e:
        cluster.preload(IMAGE)
    assert "\n" not in str(e.value) and "no such host" in str(e.value)
    assert not any(line.startswith("kind ") for line in calls.read_text().splitlines())
