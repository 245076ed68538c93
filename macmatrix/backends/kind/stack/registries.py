"""The image registries a stack's images come from, and a short probe of each (doctor).

The images: the kind node image (`kind create cluster --image`) and the images pulled on the host
and loaded into the nodes (stack/images.py). A reference's registry is its first path component
when that contains a `.` or `:` or is `localhost`, else Docker Hub (the docker/distribution
reference normalisation, github.com/distribution/reference normalize.go: `docker.io`); Docker
Hub's registry API answers at registry-1.docker.io, not docker.io (moby/moby registry/config.go,
DefaultRegistryHost).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

from macmatrix.backends.kind.stack import images
from macmatrix.spec.stacks import Stack

DOCKER_HUB = "docker.io"
API_HOST = {DOCKER_HUB: "registry-1.docker.io"}
PROBE_TIMEOUT_S = 3.0
# Name resolution has no timeout of its own: every probe runs in a thread, and doctor waits this
# long for all of them together, then reports the rest as not answering.
ALL_PROBES_S = 6.0


def registry_of(image: str) -> str:
    """`kindest/node:v1@sha256:..` -> docker.io; `ghcr.io/x/y:t` -> ghcr.io."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def stack_images(stack: Stack) -> list[str]:
    """Every image a run of the stack pulls: the node image, then the pre-loads."""
    return [stack.node_image, *(p.image for p in images.preloads(stack))]


def registries(stacks: Iterable[Stack]) -> dict[str, list[str]]:
    """registry -> the images (of all the stacks) that come from it, in first-seen order."""
    out: dict[str, list[str]] = {}
    for stack in stacks:
        for image in stack_images(stack):
            names = out.setdefault(registry_of(image), [])
            if image not in names:
                names.append(image)
    return out


def probe(registry: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the registry's v2 API answers (any HTTP status: 401 is the usual answer without
    credentials), else why not. https://<api host>/v2/ is the Docker registry API's base."""
    url = f"https://{API_HOST.get(registry, registry)}/v2/"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        return f"{url}: {getattr(e, 'reason', None) or e}"


def probe_all(
    names: Iterable[str],
    check: Callable[[str], str | None] = probe,
    deadline_s: float | None = None,
) -> dict[str, str | None]:
    """Probe every registry at once, in daemon threads (a hung name lookup never delays exit);
    one that has not answered by `deadline_s` is reported as such."""
    names = list(names)
    deadline_s = ALL_PROBES_S if deadline_s is None else deadline_s
    results: dict[str, str | None] = {}

    def run(name: str) -> None:
        try:
            results[name] = check(name)
        except Exception as e:  # a probe reports, it never raises
            results[name] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in names]
    for t in threads:
        t.start()
    end = time.monotonic() + deadline_s
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    return {n: results.get(n, f"no answer within {deadline_s:g}s") for n in names}
