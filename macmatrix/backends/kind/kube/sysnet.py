"""A pod's interfaces read from /sys/class/net, for diagnostics (no `ip` needed).

`ip -d link` cannot run in the matrix pods: Kube-OVN's image gives `ip` file capabilities
(`setcap CAP_NET_ADMIN+eip $(readlink -f $(which ip))` in kubeovn/kube-ovn
dist/images/Dockerfile.base at v1.13.15 and v1.16.2) and the pods drop every capability, so the
kernel refuses to exec it (EPERM). Reading sysfs needs no capability and only `sh` and `cat`.

`addr_assign_type` says how the MAC got there — the question this project asks (Linux
include/uapi/linux/netdevice.h: NET_ADDR_PERM 0, NET_ADDR_RANDOM 1, NET_ADDR_STOLEN 2,
NET_ADDR_SET 3): a macvlan whose requested MAC was applied shows 3 (set), one left to the kernel
shows 1 (random).
"""

from __future__ import annotations

ATTRS = ("address", "addr_assign_type", "mtu", "operstate", "ifindex", "iflink", "type")
ASSIGN_TYPES = {"0": "permanent", "1": "random", "2": "stolen", "3": "set"}

# POSIX sh (the image's /bin/sh), one line per interface: `if=eth0 address=.. mtu=..`
SCRIPT = (
    "for d in /sys/class/net/*; do "
    'printf "if=%s" "${d##*/}"; '
    f"for f in {' '.join(ATTRS)}; do "
    'printf " %s=%s" "$f" "$(cat "$d/$f" 2>/dev/null)"; '
    "done; "
    'printf "\\n"; '
    "done"
)


def command() -> list[str]:
    """The exec argv for a pod."""
    return ["sh", "-c", SCRIPT]


def parse(output: str) -> dict[str, dict[str, str]]:
    """`if=eth0 address=02:.. mtu=1400 ...` lines -> {ifname: {attr: value}}."""
    out: dict[str, dict[str, str]] = {}
    for line in output.splitlines():
        fields = dict(
            part.split("=", 1) for part in line.split() if "=" in part and part.index("=") > 0
        )
        name = fields.pop("if", "")
        if name:
            out[name] = fields
    return out


def render(interfaces: dict[str, dict[str, str]]) -> str:
    """One readable line per interface, the MAC's origin spelled out."""
    lines = []
    for name, attrs in sorted(interfaces.items()):
        assign = attrs.get("addr_assign_type", "")
        origin = ASSIGN_TYPES.get(assign, assign or "?")
        lines.append(
            f"{name}: mac {attrs.get('address') or '?'} ({origin}), mtu {attrs.get('mtu') or '?'}, "
            f"{attrs.get('operstate') or '?'}, ifindex {attrs.get('ifindex') or '?'} "
            f"iflink {attrs.get('iflink') or '?'}"
        )
    return "\n".join(lines) + "\n" if lines else "no interfaces read\n"
