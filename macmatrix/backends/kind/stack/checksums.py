"""Checksums upstream publishes beside a pinned download, and how to read them.

Where upstream publishes one, the first download of a file is verified against it before its
hash goes into clusters/stacks.lock (stack/download.py); later runs verify against the lock.
install.sh and the Multus manifest (raw.githubusercontent.com) have none: their first hash is
trusted on first use and pinned from then on.

Where each is published (read at the pinned tags):
- kind: kubernetes-sigs/kind hack/release/build/cross.sh @ v0.32.0 writes
  `shasum -a 256 "$f" > "$f".sha256sum` for every kind-<os>-<arch>, and RELEASE.md @ v0.32.0
  uploads `kind-linux-amd64` + `kind-linux-amd64.sha256sum` (etc.) as release assets.
  Content: `<hex>  kind-linux-amd64`.
- CNI plugins: containernetworking/plugins .github/workflows/release.yaml @ v1.6.2, v1.9.0,
  v1.9.1: `sha256sum cni-plugins-linux-<arch>-<tag>.tgz | tee ....tgz.sha256`, uploaded with
  the tarball. Content: `<hex>  cni-plugins-linux-<arch>-<tag>.tgz`.
- kubectl: kubernetes/website content/en/docs/tasks/tools/install-kubectl-linux.md:
  `curl -LO https://dl.k8s.io/release/<v>/bin/linux/<arch>/kubectl.sha256`, checked with
  `echo "$(cat kubectl.sha256)  kubectl" | sha256sum --check`. Content: `<hex>` alone.
"""

from __future__ import annotations

import re

from macmatrix.errors import InfraError

# (asset URL pattern, suffix of the checksum file published beside it)
PUBLISHED: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"^https://github\.com/kubernetes-sigs/kind/releases/download/v[^/]+/kind-[a-z]+-[a-z0-9]+$"
        ),
        ".sha256sum",
    ),
    (re.compile(r"^https://dl\.k8s\.io/release/v[^/]+/bin/[a-z]+/[a-z0-9]+/kubectl$"), ".sha256"),
    (
        re.compile(
            r"^https://github\.com/containernetworking/plugins/releases/download/"
            r"v[^/]+/cni-plugins-linux-[a-z0-9]+-v[^/]+\.tgz$"
        ),
        ".sha256",
    ),
)
_HEX = re.compile(r"[0-9a-f]{64}")


def published_for(url: str) -> str | None:
    """The checksum file upstream publishes beside `url`, or None (trust on first use)."""
    for pattern, suffix in PUBLISHED:
        if pattern.match(url):
            return url + suffix
    return None


def parse(text: str, url: str, checksum_url: str) -> str:
    """The sha256 in a published checksum file for `url`: `<hex>` or `<hex>  <name>` (sha256sum
    / shasum output, `*name` in binary mode); the name, when given, must be the asset's."""
    fields = text.strip().split()
    name = url.rsplit("/", 1)[-1]
    digest = fields[0].lower() if fields else ""
    if not _HEX.fullmatch(digest) or len(fields) > 2:
        raise InfraError(
            f"checksum file {checksum_url} is not `<sha256> [name]` ({text.strip()[:80]!r}); "
            "upstream changed its format: check it by hand"
        )
    if len(fields) == 2 and fields[1].lstrip("*") != name:
        raise InfraError(
            f"checksum file {checksum_url} is for {fields[1]!r}, not {name!r}; check it by hand"
        )
    return digest
