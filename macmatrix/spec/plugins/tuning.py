"""tuning: a meta plugin after the main one, which changes the MAC of the prevResult interface.

MAC (containernetworking/plugins plugins/meta/tuning/tuning.go; ran with Debian's v1.1.1):
config `mac` < CNI_ARGS `MAC` < runtimeConfig `mac` < args.cni `mac`. It writes the requested
string as given into the result, and needs a prevResult (fails alone). The `tuning` axis picks
its entry: capmac (`capabilities.mac`), static (a `mac` in the NAD: every pod gets it), plain.
"""

from __future__ import annotations

from typing import Any

from macmatrix import macs
from macmatrix.spec.plugins.base import (
    ARGS_CNI,
    CNI_ARGS,
    CONFIG,
    META,
    RUNTIME_CONFIG,
    CaseLike,
    MacRoute,
    Plugin,
)

SOURCE = "containernetworking/plugins plugins/meta/tuning/tuning.go"
VARIANTS = ("none", "capmac", "static", "plain")  # the `tuning` axis


def static_mac(case: CaseLike) -> str:
    """The MAC a `tuning: static` NAD carries: every pod on the NAD gets this one."""
    return macs.derive(f"{case.id}#static")


def entry(case: CaseLike, _ipam: dict[str, Any] | None) -> dict[str, Any] | None:
    if case.chain != "conflist" or case.tuning == "none":
        return None
    conf: dict[str, Any] = {"type": "tuning"}
    if case.tuning == "capmac":
        conf["capabilities"] = {"mac": True}
    elif case.tuning == "static":
        conf["mac"] = static_mac(case)
    return conf


PLUGIN = Plugin(
    name="tuning",
    kind=META,
    source=SOURCE,
    entry=entry,
    routes=(
        MacRoute(CONFIG, None, f"{SOURCE} @ v1.1.1 (ran)"),
        MacRoute(CNI_ARGS, None, f"{SOURCE} @ v1.1.1 (ran)"),
        MacRoute(RUNTIME_CONFIG, None, f"{SOURCE} @ v1.1.1 (ran)"),
        MacRoute(ARGS_CNI, None, f"{SOURCE} @ v1.1.1 (ran)"),
    ),
)
