"""What users paste into bug reports, read the way Multus would read it.

A MAC bug report arrives as one of:
- YAML documents: a NetworkAttachmentDefinition (or several) and a Pod (or a workload whose pod
  template carries the annotations, or just the annotations mapping);
- a NAD plus a bare `k8s.v1.cni.cncf.io/networks` value (JSON list or `ns/name@if` short form);
- a raw `spec.config` JSON plus a networks value (JSON documents may follow each other without
  a `---`).

Nothing here changes the user's CNI config: `Nad.config` is `spec.config` parsed, as written.
Networks elements are read with Multus' rules (pkg/k8sclient parsePodNetworkAnnotation): JSON when
the value contains any of `[{"`, else comma-separated `ns/name@ifname`; a missing namespace is the
pod's. Anything we cannot read is one BadInput line naming the place and the fix.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from macmatrix.errors import BadInput
from macmatrix.limits import MAX_PASTE_BYTES, check_size, json_loads, json_raw_decode, yaml_load_all
from macmatrix.spec import validate

NETWORKS = "k8s.v1.cni.cncf.io/networks"
NAD_KIND = "NetworkAttachmentDefinition"
DEFAULT_NAMESPACE = "default"
DEFAULT_POD_NAME = "repro"
# Multus checks names of the short form against DNS-1123 labels.
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Workloads whose pod template carries the annotations a pod would get.
_TEMPLATE_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "ReplicationController",
}


@dataclass
class Nad:
    """A NAD (or a raw spec.config standing for one). `namespace` None: not written."""

    name: str | None
    namespace: str | None
    config: dict[str, Any]
    raw: str  # spec.config exactly as written
    where: str
    from_raw_config: bool = False

    def key(self, default_ns: str) -> str:
        return f"{self.namespace or default_ns}/{self.name}"


@dataclass
class PodInput:
    """A pod, or only its annotations (then name/namespace are None)."""

    name: str | None
    namespace: str | None
    annotations: dict[str, str]
    where: str


@dataclass
class Paste:
    """Everything found in one or more pasted files, before any element is bound to a NAD."""

    sources: list[str] = field(default_factory=list)
    text: str = ""
    nads: list[Nad] = field(default_factory=list)
    pods: list[PodInput] = field(default_factory=list)
    # bare networks values (no pod around them): (value as written, where)
    bare_networks: list[tuple[str, str]] = field(default_factory=list)
    # Kube-OVN Subnets as pasted (kubeovn.io/v1): the netns IPAM substitution reads their CIDR
    subnets: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Paste) -> None:
        self.sources += other.sources
        self.text += ("\n---\n" if self.text else "") + other.text
        self.nads += other.nads
        self.pods += other.pods
        self.bare_networks += other.bare_networks
        self.subnets += other.subnets


@dataclass
class Binding:
    """One networks element bound to its NAD: what Multus would attach, in order."""

    index: int  # 1-based position among the secondaries (net<index> by default)
    element: dict[str, Any]  # as Multus holds it: namespace filled in, short form as JSON keys
    nad: Nad
    network: str  # "<ns>/<name>"
    ifname: str
    where: str


@dataclass
class Request:
    """A resolved repro: one pod, its annotations and its attachments in order."""

    pod_name: str
    namespace: str
    annotations: dict[str, str]
    networks_value: str
    bindings: list[Binding]
    paste: Paste


# --------------------------------------------------------------------------- reading text


def read_source(path: str) -> tuple[str, str]:
    """(text, display name) of a file, or of stdin for '-'; at most MAX_PASTE_BYTES, UTF-8."""
    where = "<stdin>" if path == "-" else str(Path(path))
    try:
        if path == "-":
            raw = getattr(sys.stdin, "buffer", None)  # a text-only stdin (tests) has none
            data = raw.read(MAX_PASTE_BYTES + 1) if raw else sys.stdin.read().encode()
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_PASTE_BYTES + 1)
        check_size(data, where)
        return data.decode("utf-8"), where
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise BadInput(
            f"{path}: cannot read ({why}); pass a YAML or JSON file, or - for stdin"
        ) from e


_FENCE = re.compile(r"^\s*(```|~~~)")


def unfence(text: str) -> str:
    """Text copied from a GitHub issue: keep only what is inside ``` fences, one doc per block."""
    lines = text.splitlines()
    if not any(_FENCE.match(line) for line in lines):
        return text
    blocks: list[str] = []
    current: list[str] = []
    inside = False
    for line in lines:
        if _FENCE.match(line):
            if inside:
                blocks.append("\n".join(current))
                current = []
            inside = not inside
        elif inside:
            current.append(line)
    if inside and current:
        blocks.append("\n".join(current))
    return "\n---\n".join(blocks)


def split_documents(text: str, where: str) -> list[Any]:
    """YAML documents; if YAML fails, a stream of JSON values (pasted without `---`).

    Markdown fences around the paste (or around each part of it) are dropped first.
    """
    text = unfence(text)
    try:
        docs = yaml_load_all(text, where)
    except yaml.YAMLError as yaml_error:
        json_docs = _json_stream(text, where)
        if json_docs is not None:
            return json_docs
        mark = getattr(yaml_error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(yaml_error, "problem", None) or "syntax error"
        raise BadInput(
            f"{where}: not valid YAML{at} ({problem}); fix the paste (separate documents with "
            "`---`, quote spec.config with single quotes)"
        ) from yaml_error
    docs = [d for d in docs if d is not None]
    if not docs:
        raise BadInput(f"{where}: empty; paste a NAD and a pod (or a networks value)")
    return docs


def _json_stream(text: str, where: str) -> list[Any] | None:
    decoder = json.JSONDecoder()
    out: list[Any] = []
    i, n = 0, len(text)
    while True:
        while i < n and (text[i].isspace() or text[i] == "-"):  # tolerate `---` lines
            i += 1
        if i >= n:
            return out or None
        try:
            value, i = json_raw_decode(decoder, text, i, where)
        except json.JSONDecodeError:
            return None
        out.append(value)


def _loads(text: str, invalid: str, fix: str, column: bool = True) -> Any:
    """json.loads, or one BadInput line: `<invalid> (line L, column C: why); <fix>`."""
    try:
        return json_loads(text, invalid.split(": ")[0])
    except json.JSONDecodeError as e:
        at = f"line {e.lineno}, column {e.colno}" if column else f"line {e.lineno}"
        raise BadInput(f"{invalid} ({at}: {e.msg}); {fix}") from e


def _parse_config(text: str, where: str) -> dict[str, Any]:
    config = _loads(
        text,
        f"{where}: spec.config is not valid JSON",
        "fix the JSON (no trailing commas, double quotes)",
    )
    if not isinstance(config, dict):
        raise BadInput(f"{where}: spec.config must be a JSON object with `type` or `plugins`")
    validate.check_config(config, where, "spec.config")
    return config


def _is_cni_config(doc: Any) -> bool:
    return isinstance(doc, dict) and "kind" not in doc and ("type" in doc or "plugins" in doc)


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _annotations(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: metadata.annotations must be a mapping of strings")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if isinstance(v, (list, dict)):
            # someone pasted the networks list unquoted: Kubernetes would refuse; read it anyway
            # as the JSON it stands for, so the repro still runs what they meant.
            v = json.dumps(v)
        out[str(k)] = "" if v is None else str(v)
    return out


def parse_text(text: str, where: str) -> Paste:
    """Find NADs, pods and bare networks values in pasted text."""
    paste = Paste(sources=[where], text=text)
    for i, doc in enumerate(split_documents(text, where), start=1):
        _take(paste, doc, f"{where}: document {i}")
    return paste


def _take(paste: Paste, doc: Any, where: str) -> None:
    if isinstance(doc, str):
        stripped = doc.strip()
        if stripped[:1] in ("{", "["):
            value = _loads(
                stripped, f"{where}: looks like JSON but is not valid", "fix the JSON", column=False
            )
            if isinstance(value, dict) and _is_cni_config(value):
                paste.nads.append(_raw_nad(value, stripped, where))
                return
            if isinstance(value, list):
                paste.bare_networks.append((stripped, where))
                return
        if stripped:
            paste.bare_networks.append((stripped, where))  # short form: ns/name@if,...
            return
    if isinstance(doc, list):
        paste.bare_networks.append((json.dumps(doc), where))
        return
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: expected a NAD, a Pod, a CNI config or a networks value")
    kind = doc.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise BadInput(f"{where}: kind: {kind!r} is not a name; write the object's kind, e.g. Pod")
    if kind == NAD_KIND:
        paste.nads.append(_nad(doc, where))
    elif kind == "Pod":
        meta = _meta(doc)
        where = f"{where} (Pod {meta.get('name') or '?'})"
        validate.check_object_name(meta.get("name"), meta.get("namespace"), "Pod", where)
        paste.pods.append(
            PodInput(
                meta.get("name"),
                meta.get("namespace"),
                _annotations(meta.get("annotations"), where),
                where,
            )
        )
    elif kind in _TEMPLATE_KINDS or kind == "CronJob":
        spec = doc.get("spec") or {}
        if kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        tmeta = _meta(spec.get("template") or {})
        meta = _meta(doc)
        paste.pods.append(
            PodInput(
                meta.get("name"),
                meta.get("namespace"),
                _annotations(tmeta.get("annotations"), where),
                f"{where} ({kind} {meta.get('name') or '?'} pod template)",
            )
        )
    elif kind == "List" and isinstance(doc.get("items"), list):
        for j, item in enumerate(doc["items"]):
            _take(paste, item, f"{where} items[{j}]")
    elif kind == "Subnet" and str(doc.get("apiVersion", "")).startswith("kubeovn.io/"):
        paste.subnets.append(doc)
    elif kind is not None:
        # Services...: not ours to read, but say nothing is lost silently
        return
    elif _is_cni_config(doc):
        paste.nads.append(_raw_nad(doc, json.dumps(doc, indent=2), where))
    elif NETWORKS in doc or "annotations" in doc or "metadata" in doc:
        raw = doc.get("annotations", doc)
        if "metadata" in doc:
            raw = _meta(doc).get("annotations")
        paste.pods.append(PodInput(None, None, _annotations(raw, where), where))
    else:
        raise BadInput(
            f"{where}: not a NetworkAttachmentDefinition, Pod, CNI config or networks value; "
            "paste those (kind: ... and metadata are needed for Kubernetes objects)"
        )


def _nad(doc: dict[str, Any], where: str) -> Nad:
    meta = _meta(doc)
    name = meta.get("name")
    if not name:
        raise BadInput(f"{where}: NAD without metadata.name; add the name the pod refers to")
    where = f"{where} (NAD {name})"
    validate.check_object_name(name, meta.get("namespace"), "NetworkAttachmentDefinition", where)
    spec = doc.get("spec")
    raw = spec.get("config") if isinstance(spec, dict) else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise BadInput(
            f"{where}: spec.config is missing; paste the NAD with its config (without one Multus "
            "reads a file from its confDir, which a repro cannot see)"
        )
    if isinstance(raw, dict):
        raise BadInput(
            f"{where}: spec.config is a YAML mapping but the NAD API takes a JSON string; "
            "write config: '{...}'"
        )
    if not isinstance(raw, str):
        raise BadInput(f"{where}: spec.config must be a JSON string")
    return Nad(str(name), meta.get("namespace"), _parse_config(raw, where), raw, where)


def _raw_nad(config: dict[str, Any], raw: str, where: str) -> Nad:
    validate.check_config(config, f"{where} (CNI config)", "config")
    name = config.get("name")
    return Nad(str(name) if name else None, None, config, raw, f"{where} (CNI config)", True)


def load_paths(paths: list[str]) -> Paste:
    """Read every file (or stdin) into one Paste."""
    paste = Paste()
    for path in paths:
        text, where = read_source(path)
        paste.extend(parse_text(text, where))
    return paste


# --------------------------------------------------------------------------- networks elements


def parse_networks(value: str, default_ns: str, where: str) -> list[dict[str, Any]]:
    """Networks elements as Multus reads them (JSON list, or `ns/name@if` comma list)."""
    field_name = f"{where}: {NETWORKS}"
    if not value.strip():
        raise BadInput(f'{field_name}: empty; name at least one NAD, e.g. [{{"name": "macvlan"}}]')
    if any(c in value for c in '[{"'):
        data = _loads(value, f"{field_name}: not valid JSON", "fix the JSON list")
        if not isinstance(data, list):
            raise BadInput(
                f"{field_name}: must be a JSON list of elements ([{{...}}]), not a single object"
            )
        elements = []
        for i, el in enumerate(data):
            if not isinstance(el, dict) or not isinstance(el.get("name"), str) or not el["name"]:
                raise BadInput(f'{field_name}[{i}]: each element needs a "name" (the NAD\'s)')
            element = dict(el)
            if not element.get("namespace"):
                element["namespace"] = default_ns
            elements.append(element)
        return elements
    elements = []
    for i, item in enumerate(value.split(",")):
        elements.append(_short_form(item.strip(), default_ns, f"{field_name}[{i}]"))
    return elements


def _short_form(item: str, default_ns: str, where: str) -> dict[str, Any]:
    parts = item.split("/")
    if len(parts) > 2:
        raise BadInput(f"{where}: {item!r} has more than one '/'; write namespace/name@ifname")
    ns, rest = (parts[0].strip(), parts[1]) if len(parts) == 2 else ("", parts[0])
    at = rest.split("@")
    if len(at) > 2:
        raise BadInput(f"{where}: {item!r} has more than one '@'; write namespace/name@ifname")
    name = at[0].strip()
    for label in (ns, name):
        if label and not _DNS1123.match(label):
            raise BadInput(
                f"{where}: {label!r} is not a DNS-1123 label; use lower-case letters, digits and "
                "'-'"
            )
    if not name:
        raise BadInput(f"{where}: {item!r} names no NAD; write namespace/name@ifname")
    element: dict[str, Any] = {"name": name, "namespace": ns or default_ns}
    if len(at) == 2 and at[1].strip():
        element["interface"] = at[1].strip()
    return element


# --------------------------------------------------------------------------- binding


def pod_networks(paste: Paste) -> tuple[PodInput, str, str]:
    """The pod (possibly synthetic), its networks value and where that value came from."""
    if len(paste.pods) > 1:
        names = ", ".join(p.name or p.where for p in paste.pods)
        raise BadInput(f"{paste.sources[0]}: several pods ({names}); paste one pod per repro")
    pod = paste.pods[0] if paste.pods else None
    if pod is not None and pod.annotations.get(NETWORKS, "").strip():
        return pod, pod.annotations[NETWORKS], pod.where
    if paste.bare_networks:
        if len(paste.bare_networks) > 1:
            raise BadInput(f"{paste.bare_networks[1][1]}: a second networks value; paste only one")
        value, where = paste.bare_networks[0]
        if pod is None:
            pod = PodInput(None, None, {}, where)
        annotations = dict(pod.annotations)
        annotations[NETWORKS] = value
        return PodInput(pod.name, pod.namespace, annotations, pod.where), value, where
    if pod is not None:
        raise BadInput(
            f"{pod.where}: the pod has no {NETWORKS} annotation; add it (e.g. "
            f'\'[{{"name": "<nad>", "mac": "02:00:00:00:00:01"}}]\') or paste the value'
        )
    raise BadInput(
        f"{paste.sources[0] if paste.sources else 'input'}: no pod and no {NETWORKS} value; "
        "paste the pod (or its annotations) after the NAD"
    )


def namespace_of(pod: PodInput, paste: Paste) -> str:
    """The pod's namespace; else the one all NADs share (kubectl apply puts both there)."""
    if pod.namespace:
        return str(pod.namespace)
    spaces = {n.namespace for n in paste.nads if n.namespace}
    return spaces.pop() if len(spaces) == 1 else DEFAULT_NAMESPACE


def bind(paste: Paste, elements: list[dict[str, Any]], namespace: str, where: str) -> list[Binding]:
    """Each element -> its NAD in the paste; a NAD that is not there is a BadInput."""
    by_key: dict[str, Nad] = {}
    unnamed_raw = []
    for nad in paste.nads:
        if nad.name is None:
            unnamed_raw.append(nad)
            continue
        # two NADs with one name: `kubectl apply` keeps the last one applied, so does this
        by_key[nad.key(namespace)] = nad
    bindings: list[Binding] = []
    missing: list[tuple[int, str]] = []
    for i, el in enumerate(elements, start=1):
        key = f"{el['namespace']}/{el['name']}"
        found = by_key.get(key)
        if found is None:
            missing.append((i, key))
            continue
        bindings.append(_binding(i, el, found, key, where))
    if missing:
        raw_only = [n for n in paste.nads if n.from_raw_config]
        keys = {k for _, k in missing}
        # A raw spec.config (no NAD around it) stands for the one NAD the pod names.
        lone = unnamed_raw or (raw_only if len(paste.nads) == 1 else [])
        if len(lone) == 1 and len(keys) == 1:
            for i, key in missing:
                bindings.append(_binding(i, elements[i - 1], lone[0], key, where))
            bindings.sort(key=lambda b: b.index)
        else:
            i, key = missing[0]
            have = ", ".join(sorted(by_key)) or "none"
            raise BadInput(
                f"{where}: {NETWORKS}[{i - 1}] names NAD {key}, which is not in the input "
                f"(NADs found: {have}); paste that NAD too"
            )
    return bindings


def _binding(i: int, el: dict[str, Any], nad: Nad, key: str, where: str) -> Binding:
    ifname = str(el.get("interface") or f"net{i}")
    return Binding(i, el, nad, key, ifname, where)


def resolve(paste: Paste) -> Request:
    """The pod to run, with every networks element bound to a NAD from the paste."""
    pod, value, where = pod_networks(paste)
    namespace = namespace_of(pod, paste)
    elements = parse_networks(value, namespace, where)
    bindings = bind(paste, elements, namespace, where)
    return Request(
        pod_name=str(pod.name or DEFAULT_POD_NAME),
        namespace=namespace,
        annotations=dict(pod.annotations),
        networks_value=value,
        bindings=bindings,
        paste=paste,
    )


def iter_elements(paste: Paste) -> Iterator[tuple[PodInput, str, list[dict[str, Any]], str]]:
    """Every pod (or bare value) with its parsed elements, for the linter."""
    pods = list(paste.pods)
    bare = list(paste.bare_networks)
    if not pods and not bare:
        return
    for pod in pods:
        value = pod.annotations.get(NETWORKS, "")
        if not value.strip():
            if len(pods) == 1 and bare:
                value, _ = bare.pop(0)
            else:
                raise BadInput(
                    f"{pod.where}: the pod has no {NETWORKS} annotation; add it or lint the NAD "
                    "alone"
                )
        ns = namespace_of(pod, paste)
        yield pod, ns, parse_networks(value, ns, pod.where), pod.where
    for value, where in bare:
        pod = PodInput(None, None, {NETWORKS: value}, where)
        ns = namespace_of(pod, paste)
        yield pod, ns, parse_networks(value, ns, where), where
