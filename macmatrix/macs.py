"""MAC parsing and normalisation, kept to what Multus accepts so we judge what users can write."""

from __future__ import annotations

import hashlib
import re

from macmatrix.errors import BadInput

# Multus validates the networks element `mac` with Go's net.ParseMAC, which takes 6-byte
# (and 8/20-byte) addresses in colon, dash or dotted-quad form. We accept the 6-byte forms:
# macvlan and tuning only handle Ethernet MACs.
_COLON = re.compile(r"^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$")
_DOTTED = re.compile(r"^[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}\.[0-9a-fA-F]{4}$")


def go_parse_mac(text: str) -> bool:
    """Whether Go's net.ParseMAC (Multus checks an element `mac` with it) accepts `text`:
    6, 8 or 20 bytes as xx:xx / xx-xx groups or xxxx.xxxx dotted groups."""
    for sep, width in ((":", 2), ("-", 2), (".", 4)):
        parts = text.split(sep)
        if len(parts) < 2 or any(len(p) != width for p in parts):
            continue
        if not all(c in "0123456789abcdefABCDEF" for p in parts for c in p):
            return False
        nbytes = len(parts) * width // 2
        return nbytes in (6, 8, 20)
    return False


def normalise(mac: str | None) -> str | None:
    """Lower-case, colon-separated form; None or '' stays None; unparseable text is kept as-is."""
    if not mac:
        return None
    text = mac.strip()
    if _COLON.match(text):
        return text.replace("-", ":").lower()
    if _DOTTED.match(text):
        raw = text.replace(".", "").lower()
        return ":".join(raw[i : i + 2] for i in range(0, 12, 2))
    return text


def validate(mac: object, field: str) -> str:
    """Return the normalised MAC or raise BadInput naming `field` and the fix."""
    text = mac.strip() if isinstance(mac, str) else ""
    if not (_COLON.match(text) or _DOTTED.match(text)):
        raise BadInput(
            f"{field}: {mac!r} is not a MAC address; write six hex pairs like 02:00:00:00:00:01"
        )
    norm = normalise(text)
    assert norm is not None
    if int(norm[:2], 16) & 1:
        raise BadInput(
            f"{field}: {mac} is a multicast MAC (first octet odd) and the kernel refuses it; "
            "use a unicast one such as 02:00:00:00:00:01"
        )
    return norm


def derive(seed: str, prefix: str = "02") -> str:
    """A stable MAC for `seed` after `prefix` octets (baselines need stable requests)."""
    head = [o for o in prefix.lower().split(":") if o]
    digest = hashlib.sha256(seed.encode()).digest()
    return ":".join(head + [f"{b:02x}" for b in digest[: 6 - len(head)]])


def validate_prefix(prefix: object, field: str) -> str:
    """1-3 leading octets for requested MACs; must make a unicast MAC."""
    octets = str(prefix).strip().lower().split(":") if isinstance(prefix, str) else []
    if not 1 <= len(octets) <= 3 or not all(re.fullmatch(r"[0-9a-f]{2}", o) for o in octets):
        raise BadInput(f"{field}: {prefix!r} must be 1 to 3 hex octets like 02:00:5e")
    validate(":".join(octets + ["00"] * (6 - len(octets))), field)
    return ":".join(octets)
