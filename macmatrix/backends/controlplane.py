"""A real Kubernetes control plane on loopback: etcd + kube-apiserver, no kubelet, no scheduler.

It serves the kind backend's Kubernetes layer (macmatrix/kube) for real API semantics: object
validation by the real apiserver and CRD schemas, watches, annotations, deletion. Pods stay
Pending (nothing schedules or runs them), so exec and sandbox events remain the autospec
stand-ins' job. The binaries come from gobuild/control_plane.py (k8s.io/kubernetes at a stack's
Kubernetes version); certificates are made fresh per start, everything lives in one temp folder
that stop() removes.

Flags, and why:
- `--disable-admission-plugins=ServiceAccount`: the `default` ServiceAccount of a namespace is
  made by kube-controller-manager, which does not run here; without it every pod is refused.
- etcd listens on 127.0.0.1 only, plain HTTP (loopback, one process tree); the apiserver serves
  TLS on 127.0.0.1 with a generated CA; the client is `system:masters` by certificate.

Ports: picked free, then handed to etcd and kube-apiserver, which bind them a moment later; other
jobs on the host may take one in between. A process that exits saying so ("address already in
use") makes start() begin again on fresh ports, PORT_TRIES times in all.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from macmatrix.backends.kind.kube.wait import wait_for
from macmatrix.errors import InfraError

READY_TIMEOUT_S = 300.0  # a first start on a loaded 2-core machine takes tens of seconds
PORT_TRIES = 3  # starts on fresh ports when one was taken before etcd/kube-apiserver bound it
# How both say a port is taken: Go's text for EADDRINUSE (syscall zerrors_linux_*.go), inside
# their "listen tcp 127.0.0.1:N: bind: address already in use" (etcd embed, apiserver listener).
PORT_TAKEN = "address already in use"


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports free right now (held together while picking, so none repeats).
    Free now only: start() retries when another process binds one first."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


class StartFailed(InfraError):
    """etcd or kube-apiserver exited while starting; `port_taken`: its log says a port it was
    given was bound by another process first (the free-port race, worth a retry)."""

    def __init__(self, name: str, code: int, log: str, tail: str) -> None:
        super().__init__(f"{name} exited with {code} during start: {tail}")
        self.name = name
        self.port_taken = PORT_TAKEN in log.lower()


def retry_start(failure: StartFailed, attempt: int, tries: int = PORT_TRIES) -> bool:
    """Start again on fresh ports? Only for a taken port, and only while tries remain (any other
    exit is a real failure that new ports would not change)."""
    return failure.port_taken and attempt < tries


@dataclass
class _Pki:
    ca: bytes
    serving: tuple[bytes, bytes]
    client: tuple[bytes, bytes]
    sa: tuple[bytes, bytes]  # private, public


def make_pki() -> _Pki:
    """A CA, a serving cert for 127.0.0.1, a system:masters client cert, a service-account key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def pem_key(k: Any) -> bytes:
        return bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def name(cn: str, org: str | None = None) -> x509.Name:
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        if org:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
        return x509.Name(attrs)

    ca_key = key()
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("macmatrix-local-ca"))
        .issuer_name(name("macmatrix-local-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(subject: x509.Name, usage: Any, sans: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        k = key()
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), pem_key(k)

    serving = leaf(
        name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
        ],
    )
    client = leaf(name("macmatrix", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH, [])
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _Pki(
        ca.public_bytes(serialization.Encoding.PEM), serving, client, (pem_key(sa_key), sa_pub)
    )


_PR_SET_PDEATHSIG = 1  # prctl(2)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the process that started it dies, so a pytest or
    run killed with SIGTERM/SIGKILL (no teardown) leaves no etcd or kube-apiserver behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


@dataclass
class LocalControlPlane:
    """etcd + kube-apiserver from `bin_dir`; start() -> kubeconfig path; stop() removes all."""

    bin_dir: Path
    ready_timeout_s: float = READY_TIMEOUT_S
    # where the temp folder goes (default: the system's); a run that records its own temp folder
    # for `macmatrix cleanup` (backends/multus) puts it inside, so a SIGKILL leaves one folder
    parent: Path | None = None
    workdir: Path = field(init=False)
    kubeconfig: Path = field(init=False)
    url: str = field(init=False, default="")
    # one line per start that lost a port to another process and was retried on fresh ports
    port_conflicts: list[str] = field(init=False, default_factory=list)
    _procs: list[subprocess.Popen[bytes]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="macmatrix-apiserver-", dir=self.parent))
        self.kubeconfig = self.workdir / "kubeconfig"

    def __enter__(self) -> LocalControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self._procs.append(proc)
        return proc

    def log_text(self, name: str) -> str:
        try:
            return (self.workdir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, name: str, lines: int = 5) -> str:
        return " | ".join(self.log_text(name).strip().splitlines()[-lines:])

    def start(self) -> Path:
        """Certificates, then etcd + kube-apiserver on fresh ports until ready; a start that lost
        a port to another process is stopped and begun again (PORT_TRIES in all)."""
        pki = self._write_pki()
        for attempt in range(1, PORT_TRIES + 1):
            try:
                self._launch(pki, *free_ports(3))
                return self.kubeconfig
            except StartFailed as e:
                self._stop_processes()
                shutil.rmtree(self.workdir / "etcd", ignore_errors=True)  # a fresh store
                if not retry_start(e, attempt):
                    if e.port_taken:
                        raise InfraError(
                            f"{e}; a port picked free was taken by another process before it "
                            f"was bound, on each of {PORT_TRIES} tries with fresh ports; free "
                            "some loopback ports (other jobs on this host) and retry"
                        ) from None
                    raise
                self.port_conflicts.append(str(e))
        raise AssertionError("unreachable: the last try returns or raises")

    def _write_pki(self) -> _Pki:
        pki = make_pki()
        files = {
            "ca.crt": pki.ca,
            "serving.crt": pki.serving[0],
            "serving.key": pki.serving[1],
            "client.crt": pki.client[0],
            "client.key": pki.client[1],
            "sa.key": pki.sa[0],
            "sa.pub": pki.sa[1],
        }
        for fname, data in files.items():
            (self.workdir / fname).write_bytes(data)
            (self.workdir / fname).chmod(0o600)
        return pki

    def _launch(self, pki: _Pki, etcd_port: int, peer_port: int, api_port: int) -> None:
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=macmatrix",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=macmatrix={peer_url}",
                "--log-level=warn",
                "--unsafe-no-fsync",  # a throw-away store; fsync only slows a shared disk down
            ],
        )
        w = self.workdir
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={w / 'certs'}",
                f"--tls-cert-file={w / 'serving.crt'}",
                f"--tls-private-key-file={w / 'serving.key'}",
                f"--client-ca-file={w / 'ca.crt'}",
                f"--service-account-key-file={w / 'sa.pub'}",
                f"--service-account-signing-key-file={w / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/12",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                "--profiling=false",
            ],
        )
        self.url = f"https://127.0.0.1:{api_port}"
        self._write_kubeconfig(pki)
        self._wait_ready()

    def _write_kubeconfig(self, pki: _Pki) -> None:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.url, "certificate-authority-data": b64(pki.ca)},
                }
            ],
            "users": [
                {
                    "name": "macmatrix",
                    "user": {
                        "client-certificate-data": b64(pki.client[0]),
                        "client-key-data": b64(pki.client[1]),
                    },
                }
            ],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "macmatrix"}}],
            "current-context": "local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(doc))
        self.kubeconfig.chmod(0o600)

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.workdir / "ca.crt"))
        ctx.load_cert_chain(str(self.workdir / "client.crt"), str(self.workdir / "client.key"))
        return ctx

    def readyz(self) -> str:
        """The apiserver's /readyz answer ('ok'), or why not; raises when a process died."""
        for proc, name in zip(self._procs, ("etcd", "kube-apiserver"), strict=False):
            if proc.poll() is not None:
                raise StartFailed(name, proc.returncode, self.log_text(name), self.log_tail(name))
        try:
            with urllib.request.urlopen(
                f"{self.url}/readyz", context=self._ssl(), timeout=5
            ) as resp:
                return resp.read().decode().strip()
        except (urllib.error.URLError, OSError) as e:
            return f"not ready: {e}"

    def _wait_ready(self) -> None:
        wait_for(
            self.readyz,
            lambda answer: answer == "ok",
            self.ready_timeout_s,
            f"kube-apiserver at {self.url} to be ready (/readyz)",
            describe=lambda answer: answer[:200],
        )

    def stop(self) -> None:
        """Stop the apiserver, then etcd (each process group), and remove the temp folder."""
        self._stop_processes()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_processes(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self._procs.clear()
