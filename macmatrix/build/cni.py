"""A CNI runtime that calls delegate plugins the way Multus (v4) + libcni do.

Every rule here mirrors upstream so that the netns backend feeds real plugin binaries exactly what
they get in a cluster. Sources are named per rule: multus-cni `pkg/types/conf.go` (delegate conf,
cni-args), `pkg/multus/multus.go` (runtime conf, CNI_ARGS, DEL order), libcni `api.go`
(buildOneConfig, injectRuntimeConfig, list ADD/DEL) and the CNI spec (error results, env vars).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from macmatrix.errors import BadInput, InfraError
from macmatrix.spec.netconf import is_conflist, plugins_of

DEFAULT_BIN_DIRS = ("/opt/cni/bin", "/usr/lib/cni")


class CNIError(Exception):
    """A plugin's error result (CNI spec: {"code", "msg", "details"} on stdout, non-zero exit)."""

    def __init__(self, plugin: str, code: int, msg: str, details: str = ""):
        self.plugin, self.code, self.msg, self.details = plugin, code, msg, details
        text = f"{plugin}: {msg}" + (f": {details}" if details else "") + f" (CNI code {code})"
        super().__init__(text)

    def to_json(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "code": self.code, "msg": self.msg, "details": self.details}


class PluginTimeout(InfraError):
    """A plugin gave no answer in time: we cannot tell what it did (infra, not a finding)."""

    def __init__(self, plugin: str, command: str, timeout: float):
        self.plugin, self.command, self.timeout = plugin, command, timeout
        super().__init__(f"{plugin} {command} gave no answer in {timeout:g} s")


class Cancelled(InfraError):
    """The run was stopped (Ctrl-C, SIGTERM) while or before this plugin ran."""


@dataclass
class RuntimeConf:
    """libcni's RuntimeConf: what the container runtime / Multus knows about the attachment."""

    container_id: str
    netns: str
    ifname: str
    args: list[tuple[str, str]] = field(default_factory=list)
    capability_args: dict[str, Any] = field(default_factory=dict)

    def cni_args(self) -> str:
        # libcni joins RuntimeConf.Args as k=v pairs with ';' into CNI_ARGS.
        return ";".join(f"{k}={v}" for k, v in self.args)


def element_ifname(element: dict[str, Any], index: int) -> str:
    """Multus: the element's `interface`, else net<N> counting secondaries from 1."""
    return str(element.get("interface") or f"net{index}")


def multus_runtime_conf(
    element: dict[str, Any],
    *,
    namespace: str,
    pod_name: str,
    pod_uid: str,
    container_id: str,
    netns: str,
    ifname: str,
) -> RuntimeConf:
    """Multus' CreateCNIRuntimeConf for a secondary (non-default) delegate.

    CNI_ARGS base in Multus' order, then MAC= for `mac` and IP= for `ips`; the same values go to
    the capability args `ips` and `mac` (libcni then injects them only where a plugin declares the
    capability). The cluster default network never gets mac/ips requests.
    """
    args = [
        ("IgnoreUnknown", "true"),
        ("K8S_POD_NAMESPACE", namespace),
        ("K8S_POD_NAME", pod_name),
        ("K8S_POD_INFRA_CONTAINER_ID", container_id),
        ("K8S_POD_UID", pod_uid),
    ]
    caps: dict[str, Any] = {}
    # multus pkg/multus DelegateAdd appends MAC first, then IP (ips joined with ",").
    mac = element.get("mac")
    if mac:
        caps["mac"] = mac
        args.append(("MAC", mac))
    ips = element.get("ips")
    # only a list: list("10.0.0.1/24") would split a string into characters (a string is bad
    # input that repro refuses, networks_lint.wrong_types; never guess what it meant here)
    if isinstance(ips, list) and ips:
        caps["ips"] = [str(ip) for ip in ips]
        args.append(("IP", ",".join(str(ip) for ip in ips)))
    return RuntimeConf(container_id, netns, ifname, args, caps)


def delegate_conf(config: dict[str, Any], nad_name: str, element: dict[str, Any]) -> dict[str, Any]:
    """The delegate config Multus builds from a NAD's spec.config and the networks element.

    - `name` is filled from the NAD's metadata.name only when the config has none.
    - `cniVersion` is not defaulted.
    - `cni-args` is merged into every plugin's config as `args.cni` (conflist: each plugin).
    """
    conf = copy.deepcopy(config)
    if not conf.get("name"):
        conf["name"] = nad_name
    cni_args = element.get("cni-args")
    if cni_args:
        for plugin in plugins_of(conf):
            args = plugin.setdefault("args", {})
            cni = args.get("cni") if isinstance(args.get("cni"), dict) else {}
            args["cni"] = {**cni, **cni_args}
    return conf


def build_plugin_conf(
    plugin: dict[str, Any],
    name: str,
    cni_version: str,
    prev_result: dict[str, Any] | None,
    rt: RuntimeConf,
) -> dict[str, Any]:
    """libcni buildOneConfig + injectRuntimeConfig.

    name and cniVersion are injected (a list's override each plugin's; a missing version goes in
    as "" which plugins read as 0.1.0), prevResult when chained, and runtimeConfig holding only
    the capability args this plugin's own `capabilities` enables; when any, it replaces a static
    runtimeConfig.
    """
    conf = copy.deepcopy(plugin)
    conf["name"] = name
    conf["cniVersion"] = cni_version
    if prev_result is not None:
        conf["prevResult"] = prev_result
    caps = plugin.get("capabilities")
    rc = {
        cap: rt.capability_args[cap]
        for cap, on in (caps.items() if isinstance(caps, dict) else [])
        if on is True and cap in rt.capability_args
    }
    if rc:
        conf["runtimeConfig"] = rc
    return conf


def result_version_has_prev_result_on_del(cni_version: str) -> bool:
    """libcni passes the cached result as prevResult on DEL from cniVersion 0.4.0 on."""
    try:
        return tuple(int(x) for x in cni_version.split(".")) >= (0, 4, 0)
    except ValueError:
        return False


@dataclass
class Invocation:
    """One plugin call, recorded exactly as sent (for repro reports and diagnostics)."""

    network: str
    plugin: str
    command: str
    ifname: str
    stdin: dict[str, Any]
    cni_args: str
    netns: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "plugin": self.plugin,
            "command": self.command,
            "ifname": self.ifname,
            "stdin": self.stdin,
            "cni_args": self.cni_args,
            "netns": self.netns,
            "result": self.result,
            "error": self.error,
            "duration_s": round(self.duration_s, 4),
        }


class CNIRuntime:
    """Finds plugin binaries and executes them per the CNI spec, optionally inside a netns."""

    def __init__(
        self,
        bin_dirs: Sequence[str] | None = None,
        timeout: float = 30.0,
        exec_prefix: Sequence[str] = (),
    ):
        self.bin_dirs = [str(d) for d in (bin_dirs or DEFAULT_BIN_DIRS)]
        self.timeout = timeout
        self.exec_prefix = list(exec_prefix)
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self._cancelled = False

    def cancel(self) -> None:
        """Kill every running plugin (its whole process group) and refuse new calls.

        For Ctrl-C/SIGTERM: the caller unwinds at once instead of waiting for plugins that may
        hang; the backend's close() then removes what they made.
        """
        with self._lock:
            self._cancelled = True
            running = list(self._running)
        for proc in running:
            _kill_group(proc)

    def find(self, plugin_type: str) -> str:
        """First executable named `plugin_type` in the search path (libcni FindInPath)."""
        if not plugin_type or "/" in plugin_type:
            raise BadInput(f'type: {plugin_type!r} is not a plugin name; use e.g. "macvlan"')
        for d in self.bin_dirs:
            path = Path(d) / plugin_type
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
        raise CNIError(
            plugin_type, 0, f'failed to find plugin "{plugin_type}" in path {self.bin_dirs}'
        )

    def exec_plugin(
        self,
        command: str,
        conf: dict[str, Any],
        rt: RuntimeConf,
        timeout: float | None = None,
    ) -> dict[str, Any] | None:
        """Run one plugin; return its parsed result (None for DEL); raise CNIError on failure.

        The plugin runs in its own process group (a new session), and a timeout kills the whole
        group: a plugin's own children must not outlive it and keep a namespace alive.
        """
        plugin = str(conf.get("type"))
        path = self.find(plugin)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": rt.container_id,
            "CNI_NETNS": rt.netns,
            "CNI_IFNAME": rt.ifname,
            "CNI_ARGS": rt.cni_args(),
            "CNI_PATH": os.pathsep.join(self.bin_dirs),
        }
        limit = self.timeout if timeout is None else timeout
        stdout, stderr, returncode = self._spawn([*self.exec_prefix, path], conf, env, limit)
        if returncode is None:
            raise PluginTimeout(plugin, command, limit)
        out = stdout.decode(errors="replace").strip()
        if returncode != 0:
            raise _error_from_output(plugin, returncode, out, stderr.decode(errors="replace"))
        if command == "DEL" or not out:
            return None
        try:
            result = json.loads(out)
        except json.JSONDecodeError as e:
            raise CNIError(plugin, 999, f"result is not JSON: {out[:200]}") from e
        if not isinstance(result, dict):
            raise CNIError(plugin, 999, f"result is not a JSON object: {out[:200]}")
        return result

    def _spawn(
        self, argv: list[str], conf: dict[str, Any], env: dict[str, str], limit: float
    ) -> tuple[bytes, bytes, int | None]:
        """(stdout, stderr, exit status), or None as status when `limit` passed (group killed)."""
        with self._lock:
            if self._cancelled:
                raise Cancelled("the run was stopped")
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            self._running.add(proc)
        try:
            stdout, stderr = proc.communicate(json.dumps(conf).encode(), timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _reap(proc)
            return b"", b"", None
        except BaseException:
            _kill_group(proc)
            _reap(proc)
            raise
        finally:
            with self._lock:
                self._running.discard(proc)
        if self._cancelled:
            raise Cancelled("the run was stopped")
        return stdout, stderr, proc.returncode

    def call(
        self,
        network: str,
        command: str,
        sent: dict[str, Any],
        rt: RuntimeConf,
        log: list[Invocation],
        timeout: float | None = None,
    ) -> dict[str, Any] | None:
        """Execute one plugin and record the call in `log`: what was sent, result or error, time."""
        inv = Invocation(
            network, str(sent.get("type")), command, rt.ifname, sent, rt.cni_args(), rt.netns
        )
        log.append(inv)
        start = time.monotonic()
        try:
            inv.result = self.exec_plugin(command, sent, rt, timeout)
            return inv.result
        except CNIError as e:
            inv.error = e.to_json()
            raise
        except PluginTimeout as e:
            inv.error = {"plugin": e.plugin, "code": None, "msg": str(e), "details": "timeout"}
            raise
        finally:
            inv.duration_s = time.monotonic() - start

    def add(
        self, network: str, conf: dict[str, Any], rt: RuntimeConf, log: list[Invocation]
    ) -> dict[str, Any] | None:
        """libcni AddNetwork / AddNetworkList: chain plugins, each getting the previous result.

        A single conf is a list of one here: it gets no prevResult and keeps its own name and
        cniVersion, exactly as libcni AddNetwork builds it.
        """
        name = str(conf.get("name", ""))
        version = str(conf.get("cniVersion", ""))
        plugins = plugins_of(conf)
        if is_conflist(conf) and len(plugins) != len(conf["plugins"]):
            raise BadInput(f"{network}: plugins entries must be JSON objects")
        result: dict[str, Any] | None = None
        for plugin in plugins:
            sent = build_plugin_conf(plugin, name, version, result, rt)
            result = self.call(network, "ADD", sent, rt, log)
        return result

    def delete(
        self,
        network: str,
        conf: dict[str, Any],
        rt: RuntimeConf,
        cached: dict[str, Any] | None,
        log: list[Invocation],
        timeout: float | None = None,
    ) -> list[CNIError | PluginTimeout]:
        """libcni DelNetworkList: plugins in reverse, prevResult = cached result (>= 0.4.0).

        DEL errors and timeouts are collected, not raised: cleanup must go on for the other
        plugins, and the ADD failure that led here stays the one a report names. `timeout`
        overrides the per-call limit (a short budget after a failed ADD).
        """
        name = str(conf.get("name", ""))
        version = str(conf.get("cniVersion", ""))
        prev = cached if result_version_has_prev_result_on_del(version) else None
        errors: list[CNIError | PluginTimeout] = []
        for plugin in reversed(plugins_of(conf)):  # an entry that is no object: refused on ADD
            sent = build_plugin_conf(plugin, name, version, prev, rt)
            try:
                self.call(network, "DEL", sent, rt, log, timeout)
            except (CNIError, PluginTimeout) as e:
                errors.append(e)
        return errors


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group `proc` leads (its own session: start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for a killed plugin; a child that left its group may hold the pipes: don't wait on
    those longer than a second."""
    try:
        proc.communicate(timeout=1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe:
                pipe.close()


def _error_from_output(plugin: str, rc: int, out: str, err: str) -> CNIError:
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "msg" in data:
        return CNIError(
            plugin, int(data.get("code", rc) or rc), str(data["msg"]), str(data.get("details", ""))
        )
    text = (out or err).strip().splitlines()
    return CNIError(plugin, rc, text[-1] if text else f"exit status {rc}")
