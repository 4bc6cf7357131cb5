"""One line of `dispatcher doctor`: what was checked, how it went, and what to do about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Finding", "Status", "healthy"]

#: ok: fine; warn: works, but look at it; fail: something will not work; skip: not checked
#: because something it depends on failed.
Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check."""

    check: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values."""
        return asdict(self)


def healthy(findings: Sequence[Finding]) -> bool:
    """True when nothing failed (warnings do not make a set-up broken)."""
    return all(finding.status != "fail" for finding in findings)
