"""`macmatrix run --backend netns --dry-run`: per case the NAD config and pod annotations the
plugins would get (the same manifests as kind, build/manifests.py), or why netns cannot run it."""

from __future__ import annotations

import json
from collections.abc import Sequence

from macmatrix.build import manifests
from macmatrix.spec.cases import Case


def render(cases: Sequence[Case]) -> str:
    lines = [f"# netns plan: {len(cases)} cases; nothing below has been created", ""]
    for case in cases:
        lines.append(f"## {case.id}")
        why = case.netns_unsupported()
        if why:
            lines += [f"unsupported on netns: {why}", ""]
            continue
        ns = "macmatrix"
        lines.append("NAD spec.config:")
        lines.append(json.dumps(manifests.nad_config(case, ns), indent=2))
        if case.substitute_ipam:
            lines.append(
                "ipam substituted: the kube-ovn IPAM runs as static with each replica's "
                f"address in {manifests.cidr(case)} (matrix substitute_ipam)"
            )
        for r in range(case.n_replicas):
            ann = manifests.pod_annotations(case, ns, r)
            lines.append(f"pod {manifests.pod_name(case, r)} annotations: {json.dumps(ann)}")
        lines.append("")
    return "\n".join(lines)
