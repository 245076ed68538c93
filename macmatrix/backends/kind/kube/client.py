"""API clients, retried calls and exec, the way the pinned kubernetes client needs them.

- `config.new_client_from_config(config_file=...)` gives an isolated ApiClient (no global config).
- `kubernetes.stream.stream()` patches the ApiClient it is given, so exec gets one client per
  thread (`ThreadClients`), never the shared one.
- Exec output is read with run_forever(timeout=) + read_stdout(); `_request_timeout` would silently
  truncate it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from macmatrix.errors import InfraError

T = TypeVar("T")
API_ATTEMPTS = 3
EXEC_TIMEOUT_S = 30.0


def new_api_client(kubeconfig: str) -> client.ApiClient:
    try:
        return config.new_client_from_config(config_file=kubeconfig)
    except Exception as e:  # the loader raises ConfigException, OSError, yaml errors...
        raise InfraError(f"cannot load kubeconfig {kubeconfig}: {e}") from e


def transient(exc: BaseException) -> bool:
    """Errors worth another try: API overload/5xx and connection trouble; 4xx are not."""
    if isinstance(exc, ApiException):
        return exc.status in (429, 500, 502, 503, 504) or not exc.status
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


@dataclass
class CallStats:
    """Counts API calls and retries (the design numbers in docs/kind.md come from here)."""

    calls: int = 0
    retries: int = 0

    def on_retry(self, state: RetryCallState) -> None:
        self.retries += 1


def call(fn: Callable[..., T], *args: Any, stats: CallStats | None = None, **kwargs: Any) -> T:
    """Call an API method, retrying transient failures with backoff (tenacity)."""
    st = stats or CallStats()
    for attempt in Retrying(
        retry=retry_if_exception(transient),
        stop=stop_after_attempt(API_ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=4),
        reraise=True,
        before_sleep=st.on_retry,
    ):
        with attempt:
            st.calls += 1
            return fn(*args, **kwargs)
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover


@dataclass
class ExecResult:
    returncode: int | None
    stdout: str
    stderr: str


def exec_in_pod(
    api_client: client.ApiClient,
    namespace: str,
    pod: str,
    command: list[str],
    container: str | None = None,
    timeout: float = EXEC_TIMEOUT_S,
) -> ExecResult:
    """Run `command` in the pod and return its exit code and output."""
    core = client.CoreV1Api(api_client)
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        container=container,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    try:
        resp.run_forever(timeout=timeout)
        out, err = resp.read_stdout(), resp.read_stderr()
        rc = resp.returncode
    finally:
        resp.close()
    return ExecResult(rc, out or "", err or "")


class ThreadClients:
    """One ApiClient per thread for exec (stream() patches the client it uses)."""

    def __init__(self, factory: Callable[[], client.ApiClient]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._all: list[client.ApiClient] = []
        self._mutex = threading.Lock()

    def get(self) -> client.ApiClient:
        api = getattr(self._local, "api", None)
        if api is None:
            api = self._factory()
            self._local.api = api
            with self._mutex:
                self._all.append(api)
        return api

    def close(self) -> None:
        with self._mutex:
            for api in self._all:
                with contextlib.suppress(Exception):  # best effort at teardown
                    api.close()
            self._all.clear()
