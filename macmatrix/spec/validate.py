"""What the cluster refuses before any plugin runs: one place that `lint` and `repro` share.

userinput.py calls these while it reads a paste, so both commands stop with the same one line
(exit 2) on input a cluster would reject, and `lint` never says "no findings" on input `repro`
cannot run. Each rule names its upstream source:

- (networks elements of the wrong JSON type are not refused here, since `lint` must still list
  them as its `element-wrong-type` error: networks_lint.wrong_types is the one rule, and
  repro.refuse_wrong_types turns it into one line and exit 2 before any work.)
- plugin lists: libcni ConfListFromBytes refuses a `plugins` entry that is not an object or has
  no `type` ("error parsing configuration list: no plugins in list" for an empty list), and
  ConfFromBytes refuses a config without a string `type`.
- `master` names: Linux dev_valid_name (net/core/dev.c): 1-15 bytes, not "." or "..", no '/',
  ':' or whitespace (a too long `interface` is lint's `ifname` finding); macvlan refuses a
  loopback master (drivers/net/macvlan.c macvlan_port_create: IFF_LOOPBACK -> EINVAL).
- object names: the API server validates a Pod's metadata.name as a DNS-1123 subdomain and its
  namespace as a DNS-1123 label (k8s.io/apimachinery pkg/util/validation), so a name such as
  `p;MAC=...` never reaches CNI_ARGS.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from macmatrix.errors import BadInput
from macmatrix.spec import plugins as plugin_registry

IFNAMSIZ = 16  # include/uapi/linux/if.h: 15 characters + NUL
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)

# Every plugin containernetworking/plugins has shipped, v0.1.0 to v1.9.1: the folders under
# plugins/main, plugins/ipam, plugins/meta and plugins/main/windows at each tag, united.
CNI_PLUGINS_TYPES = frozenset(
    [
        "bandwidth",
        "bridge",
        "dhcp",
        "dummy",
        "firewall",
        "flannel",
        "host-device",
        "host-local",
        "ipvlan",
        "loopback",
        "macvlan",
        "portmap",
        "ptp",
        "sbr",
        "static",
        "tap",
        "tuning",
        "vlan",
        "vrf",
        "win-bridge",
        "win-overlay",
    ]
)
# Types from elsewhere that pastes carry and macmatrix knows: Kube-OVN's own plugin and IPAM
# (kubeovn/kube-ovn cmd/cni) and whereabouts IPAM (ipam_substitute.CANNOT_RUN names its source).
OTHER_KNOWN_TYPES = frozenset({"kube-ovn", "whereabouts"})
KNOWN_TYPES = CNI_PLUGINS_TYPES | OTHER_KNOWN_TYPES | frozenset(plugin_registry.registry())


def ifname_problem(name: Any) -> str | None:
    """Why the kernel refuses `name` as an interface name (dev_valid_name), or None."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name.encode()) >= IFNAMSIZ:
        return f"has {len(name.encode())} characters; the kernel allows at most {IFNAMSIZ - 1}"
    if name in (".", ".."):
        return "is not a name"
    if any(c in name for c in "/:") or any(c.isspace() for c in name):
        return "contains '/', ':' or whitespace, which the kernel refuses"
    return None


def check_config(config: dict[str, Any], where: str, prefix: str) -> None:
    """A NAD config libcni can load: a string `type`, or a non-empty list of plugin objects."""
    if "type" in config:
        _check_plugin(config, where, prefix)
        return
    plugins = config.get("plugins")
    if plugins is None:
        return  # lint names it: neither `type` nor `plugins`
    if not isinstance(plugins, list):
        raise BadInput(f"{where}: {prefix}.plugins is {json_type(plugins)}; make it a list")
    if not plugins:
        raise BadInput(
            f"{where}: {prefix}.plugins is empty (libcni: no plugins in list); add the macvlan "
            "plugin"
        )
    for i, plugin in enumerate(plugins):
        field = f"{prefix}.plugins[{i}]"
        if not isinstance(plugin, dict):
            raise BadInput(
                f"{where}: {field} is {json_type(plugin)}; each entry must be a plugin object "
                '({"type": "macvlan", ...})'
            )
        _check_plugin(plugin, where, field)


def _check_plugin(plugin: dict[str, Any], where: str, field: str) -> None:
    ptype = plugin.get("type")
    if not isinstance(ptype, str) or not ptype.strip():
        raise BadInput(
            f'{where}: {field}.type is {json_type(ptype)}; name the plugin, e.g. "type": "macvlan"'
        )
    if "/" in ptype or ptype in (".", ".."):
        raise BadInput(f'{where}: {field}.type {ptype!r} is not a plugin name; e.g. "macvlan"')
    _check_known(ptype, where, f"{field}.type")
    ipam = plugin.get("ipam")
    if ipam is not None and not isinstance(ipam, dict):
        raise BadInput(f'{where}: {field}.ipam is {json_type(ipam)}; write "ipam": {{...}}')
    if isinstance(ipam, dict) and "type" in ipam:
        it = ipam["type"]
        if not isinstance(it, str) or not it.strip() or "/" in it:
            raise BadInput(
                f'{where}: {field}.ipam.type is {json_type(it)}; e.g. "static" or "host-local"'
            )
        _check_known(it, where, f"{field}.ipam.type")
    registered = plugin_registry.get(ptype) if isinstance(ptype, str) else None
    if registered is not None and registered.takes_master and "master" in plugin:
        master = plugin["master"]
        why = ifname_problem(master)
        if why is None and master == "lo":
            why = f"is the loopback device, which {ptype} cannot use as its parent"
        if why:
            raise BadInput(
                f"{where}: {field}.master {master!r} {why}; name the node's uplink, e.g. eth1"
            )


def _check_known(ptype: str, where: str, field: str) -> None:
    """A type no CNI plugins release has (nor Kube-OVN/whereabouts) is a typo, not a finding."""
    if ptype in KNOWN_TYPES:
        return
    close = difflib.get_close_matches(ptype, sorted(KNOWN_TYPES), n=1)
    hint = f'did you mean "{close[0]}"?' if close else "check the spelling"
    raise BadInput(
        f"{where}: {field} {ptype!r} is no plugin of any containernetworking/plugins release "
        f"(v0.1.0-v1.9.1) nor kube-ovn/whereabouts; {hint}"
    )


def check_object_name(name: Any, namespace: Any, kind: str, where: str) -> None:
    """metadata.name (DNS-1123 subdomain) and metadata.namespace (label) as the API server has."""
    if name is not None:
        text = str(name)
        if len(text) > 253 or not _DNS1123_SUBDOMAIN.match(text):
            raise BadInput(
                f"{where}: metadata.name {text!r} is not a valid {kind} name (the API server "
                "wants a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'); rename it"
            )
    if namespace is not None:
        text = str(namespace)
        if len(text) > 63 or not _DNS1123_LABEL.match(text):
            raise BadInput(
                f"{where}: metadata.namespace {text!r} is not a valid namespace (DNS-1123 label: "
                "lower-case letters, digits and '-'); rename it"
            )


def json_type(value: Any) -> str:
    """A JSON value's kind for a one-line error (a string shows its start)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    return "an object"
