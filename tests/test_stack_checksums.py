"""Published upstream checksums (stack/checksums.py) verify a first download before the lock.

Formats, read at the pinned tags: kind's `<asset>.sha256sum` is `shasum -a 256` output
(kubernetes-sigs/kind hack/release/build/cross.sh @ v0.32.0); the plugins' `<tgz>.sha256` is
`sha256sum` output (containernetworking/plugins .github/workflows/release.yaml @ v1.9.1);
kubectl's `kubectl.sha256` is the bare hex (kubernetes/website install-kubectl-linux.md).
The network is replaced by a stand-in urlopen serving bytes per URL.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from macmatrix.backends.kind.stack import checksums, download
from macmatrix.backends.kind.stack.lock import Lock
from macmatrix.errors import BadInput, InfraError
from macmatrix.spec import stacks

KIND = "https://github.com/kubernetes-sigs/kind/releases/download/v0.32.0/kind-linux-arm64"
DATA = b"\x7fELF pinned kind"
HEX = hashlib.sha256(DATA).hexdigest()


@pytest.mark.parametrize("name", stacks.stack_names())
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_kind_kubectl_and_plugins_have_a_published_checksum_and_scripts_do_not(
    name: str, arch: str
) -> None:
    s = stacks.get(name)
    assert checksums.published_for(s.kind_url("linux", arch)) == s.kind_url("linux", arch) + (
        ".sha256sum"
    )
    assert checksums.published_for(s.kubectl_url("linux", arch)) == (
        s.kubectl_url("linux", arch) + ".sha256"
    )
    assert checksums.published_for(s.cni_plugins_url(arch)) == s.cni_plugins_url(arch) + ".sha256"
    assert checksums.published_for(s.install_sh_url) is None
    assert checksums.published_for(s.multus_yaml_url) is None


@pytest.mark.parametrize(
    "text",
    [f"{HEX}  kind-linux-arm64\n", f"{HEX} *kind-linux-arm64", f"{HEX}\n", HEX.upper()],
)
def test_the_three_published_formats_parse(text: str) -> None:
    assert checksums.parse(text, KIND, KIND + ".sha256sum") == HEX


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{HEX}  kind-darwin-arm64", "is for 'kind-darwin-arm64', not 'kind-linux-arm64'"),
        ("<html>Not Found</html>", "is not `<sha256> \\[name\\]`"),
        ("", "is not `<sha256>"),
    ],
)
def test_a_checksum_file_for_something_else_is_an_infra_error(text: str, message: str) -> None:
    with pytest.raises(InfraError, match=message):
        checksums.parse(text, KIND, KIND + ".sha256sum")


class Net:
    """What the stand-in network serves (URL -> bytes) and every URL requested, in order."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.log: list[str] = []


@pytest.fixture
def net(monkeypatch: pytest.MonkeyPatch) -> Net:
    import urllib.error

    state = Net()

    @contextmanager
    def urlopen(url: str, timeout: float = 0) -> Iterator[io.BytesIO]:
        state.log.append(url)
        if url not in state.files:
            raise urllib.error.URLError("stand-in: not served")
        yield io.BytesIO(state.files[url])

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    return state


def test_a_first_download_is_verified_against_upstream_then_locked(
    tmp_path: Path, net: Net
) -> None:
    net.files[KIND] = DATA
    net.files[KIND + ".sha256sum"] = f"{HEX}  kind-linux-arm64\n".encode()
    lock_file = tmp_path / "stacks.lock"
    path = download.fetch(KIND, Lock(lock_file), tmp_path / "cache", executable=True)
    assert path.read_bytes() == DATA
    assert json.loads(lock_file.read_text()) == {KIND: HEX}
    assert net.log == [KIND, KIND + ".sha256sum"]
    # once locked, the lock is the reference: the checksum file is not fetched again
    download.fetch(KIND, Lock(lock_file), tmp_path / "cache")
    assert net.log == [KIND, KIND + ".sha256sum"]


def test_a_download_that_disagrees_with_upstream_is_deleted_and_never_locked(
    tmp_path: Path, net: Net
) -> None:
    net.files[KIND] = b"tampered"
    net.files[KIND + ".sha256sum"] = f"{HEX}  kind-linux-arm64\n".encode()
    lock_file = tmp_path / "stacks.lock"
    with pytest.raises(InfraError, match=f"upstream's {KIND}.sha256sum says {HEX}") as e:
        download.fetch(KIND, Lock(lock_file), tmp_path / "cache")
    assert "\n" not in str(e.value)
    assert not download.cached_path(KIND, tmp_path / "cache").exists()
    assert not lock_file.exists() or json.loads(lock_file.read_text()) == {}


def test_an_unreachable_checksum_file_is_an_infra_error_and_nothing_is_locked(
    tmp_path: Path, net: Net
) -> None:
    net.files[KIND] = DATA
    with pytest.raises(InfraError, match=r"download failed: .*\.sha256sum: .*before its hash"):
        download.fetch(KIND, Lock(tmp_path / "stacks.lock"), tmp_path / "cache")
    assert not (tmp_path / "stacks.lock").exists()


def test_scripts_without_a_published_checksum_are_trusted_on_first_use(
    tmp_path: Path, net: Net
) -> None:
    url = stacks.get("kube-ovn-v1.16").install_sh_url
    net.files[url] = b"#!/bin/bash\n"
    download.fetch(url, Lock(tmp_path / "stacks.lock"), tmp_path / "cache")
    assert net.log == [url]
    assert json.loads((tmp_path / "stacks.lock").read_text()) == {
        url: hashlib.sha256(b"#!/bin/bash\n").hexdigest()
    }


def test_require_lock_still_refuses_before_any_request(tmp_path: Path, net: Net) -> None:
    net.files[KIND] = DATA
    with pytest.raises(BadInput, match="--require-lock"):
        download.fetch(KIND, Lock(tmp_path / "stacks.lock", require=True), tmp_path / "cache")
    assert net.log == []


def test_the_plan_says_how_each_download_is_verified(tmp_path: Path) -> None:
    from macmatrix.backends.kind.stack.plan import download_lines

    s = stacks.get("kube-ovn-v1.15")
    lock = Lock(tmp_path / "stacks.lock")
    lock.record(s.kind_url(), HEX)
    text = "\n".join(download_lines(s.downloads(), tmp_path, lock))
    assert f"sha256 {HEX} from clusters/stacks.lock" in text
    assert f"GET {s.kind_url()}.sha256sum" not in text  # locked: the lock is the reference
    assert f"GET {s.kubectl_url()}.sha256   # published sha256" in text
    assert f"GET {s.cni_plugins_url()}.sha256   # published sha256" in text
    assert text.count("no checksum published upstream") == 2  # install.sh, Multus manifest
