"""A lint finding and its levels: shared by lint (NAD and pod rules) and networks_lint (the
networks annotation's rules), which both build findings, so neither has to import the other's
module for them (no import cycle; DESIGN.md "Layout and layers")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ERROR, WARNING, INFO = "error", "warning", "info"
LEVELS = (ERROR, WARNING, INFO)


@dataclass(frozen=True)
class Finding:
    """One lint result; `rule` is a stable id tests and repro reports refer to."""

    level: str
    rule: str
    where: str
    field: str
    message: str
    fix: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.level}: {self.where}: {self.field}: {self.message}. Fix: {self.fix}"
