"""Asking for a provider action a campaign owes: recorded first, then the message."""

from __future__ import annotations

from dispatcher.store import now_ms
from dispatcher.store.keys import ACTOR_CONTROL
from workers.context import WorkerContext

__all__ = ["owe"]


def owe(ctx: WorkerContext, campaign_id: str, operation: str) -> None:
    """Record `operation` as owed by the campaign, then send the control message that does it."""
    ctx.store.owe(campaign_id, operation, now_ms())
    ctx.send(ACTOR_CONTROL, (campaign_id, operation))
