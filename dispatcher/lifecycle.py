"""Campaign statuses and the one table of allowed transitions between them."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from dispatcher.errors import TransitionRefused

__all__ = [
    "AUTO_PAUSE_PREFIX",
    "FINAL_STATUSES",
    "CampaignStatus",
    "check_transition",
    "ended_at_ms",
]


class CampaignStatus(StrEnum):
    """Where a campaign is in its life."""

    DRAFT = "draft"  # being submitted: contacts are written, nothing is enqueued yet
    SCHEDULED = "scheduled"  # accepted, waiting for its start time
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # every contact is in a terminal state
    CANCELLED = "cancelled"


#: The pause reason of a campaign a guard paused starts with this (metrics and alerts look for it).
AUTO_PAUSE_PREFIX = "auto-paused: "

FINAL_STATUSES = frozenset({CampaignStatus.FINISHED, CampaignStatus.CANCELLED})

_ALLOWED: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset(
        {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.SCHEDULED: frozenset(
        {CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.RUNNING: frozenset(
        {CampaignStatus.PAUSED, CampaignStatus.FINISHED, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.PAUSED: frozenset(
        {
            CampaignStatus.RUNNING,
            CampaignStatus.SCHEDULED,
            CampaignStatus.FINISHED,
            CampaignStatus.CANCELLED,
        }
    ),
    CampaignStatus.FINISHED: frozenset(),
    CampaignStatus.CANCELLED: frozenset(),
}


def check_transition(current: CampaignStatus, target: CampaignStatus) -> None:
    """Raise `TransitionRefused` unless a campaign may go from `current` to `target`."""
    if target not in _ALLOWED[current]:
        allowed = ", ".join(sorted(_ALLOWED[current])) or "nothing (it is final)"
        raise TransitionRefused(
            f"a {current} campaign cannot become {target}; from {current} it can become {allowed}"
        )


def ended_at_ms(meta: Mapping[str, str]) -> int | None:
    """When a campaign ended (finished, or was cancelled), read from its meta hash; else None."""
    status = meta.get("status")
    if status == CampaignStatus.FINISHED:
        moment = meta.get("finished_at") or meta.get("status_at")
    elif status == CampaignStatus.CANCELLED:
        moment = meta.get("status_at")
    else:
        return None
    # A final campaign without a time (written by an older version): it ended long ago.
    return int(moment) if moment and moment.isdigit() else 0
