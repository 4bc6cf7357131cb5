"""A campaign's progress from its meta and counters: pure arithmetic for `status` and the API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dispatcher.store import TERMINAL_STATES

__all__ = ["Progress", "compute_progress"]

OPEN_STATES = ("pending", "sending", "sent")
#: Terminal states nobody was dialled for: they say nothing about the pace.
UNDIALLED_STATES = ("blocked", "cancelled", "expired")


@dataclass(frozen=True, slots=True)
class Progress:
    """Counts by state, and how fast the campaign is going."""

    campaign_id: str
    name: str
    status: str
    counts: dict[str, int]
    total: int
    done: int
    rate_per_s: float | None
    eta_s: float | None
    pause_reason: str | None
    created_at_ms: int
    finished_at_ms: int | None
    metadata: dict[str, Any] | None = None

    @property
    def open(self) -> int:
        return self.total - self.done

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "name": self.name,
            "status": self.status,
            "counts": self.counts,
            "total": self.total,
            "done": self.done,
            "open": self.open,
            "rate_per_s": self.rate_per_s,
            "eta_s": self.eta_s,
            "pause_reason": self.pause_reason,
            "created_at_ms": self.created_at_ms,
            "finished_at_ms": self.finished_at_ms,
            "metadata": self.metadata,
        }


def compute_progress(meta: dict[str, str], counts: dict[str, int], now_ms: int) -> Progress:
    """Pure: progress from the stored meta hash and counters at `now_ms`."""
    total = sum(counts.values())
    done = sum(counts.get(state, 0) for state in TERMINAL_STATES)
    started = int(meta.get("submitted_at") or meta.get("created_at") or now_ms)
    finished = int(meta["finished_at"]) if meta.get("finished_at") else None
    elapsed_s = ((finished or now_ms) - started) / 1000
    # Contacts that ended without a dial (blocked from the start, cancelled, expired) would make
    # a cancellation look like a burst of calls.
    progressed = done - sum(counts.get(state, 0) for state in UNDIALLED_STATES)
    rate = progressed / elapsed_s if elapsed_s > 0 and progressed > 0 else None
    eta = (total - done) / rate if rate and total > done else (0.0 if total == done else None)
    status = meta.get("status", "unknown")
    return Progress(
        campaign_id=meta.get("id", ""),
        name=meta.get("name", ""),
        status=status,
        counts=dict(sorted(counts.items())),
        total=total,
        done=done,
        rate_per_s=round(rate, 3) if rate else None,
        eta_s=round(eta, 1) if eta is not None else None,
        # The reason of a pause is kept when the campaign is cancelled or finishes; it is news
        # only while the campaign is paused.
        pause_reason=(meta.get("pause_reason") or None) if status == "paused" else None,
        created_at_ms=int(meta.get("created_at") or 0),
        finished_at_ms=finished,
        metadata=json.loads(meta["metadata"]) if meta.get("metadata") else None,
    )
