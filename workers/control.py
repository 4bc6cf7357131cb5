"""The control actor: what pause, resume, cancel and reschedule must do at the provider.

Every operation here is idempotent (replanning a call to a time, removing a call that may already be
gone), so dramatiq's retries are the right answer to a transient or ambiguous failure: the actor
raises and is retried with backoff. Each request waits for the global pacing budget like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from dispatcher.effebot.errors import RejectedError
from dispatcher.effebot.requests import ReplanItem
from dispatcher.lifecycle import CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.spec import parse_stored_spec
from dispatcher.store import now_ms
from workers.context import WorkerContext
from workers.limits import provider_limit

__all__ = ["OPERATIONS", "control_campaign"]

log = get_logger(__name__)

#: Ids per update/remove request.
CHUNK = 100
#: Where a paused campaign's planned calls are moved to (out of the way, well within a year).
PARK_FOR = timedelta(days=30)
#: A planned call closer than this to its time is not worth moving: it is about to start.
MARGIN_MS = 5_000


def control_campaign(ctx: WorkerContext, campaign_id: str, operation: str) -> None:
    """The control actor's body."""
    structlog.contextvars.bind_contextvars(campaign_id=campaign_id, operation=operation)
    try:
        OPERATIONS[operation](ctx, campaign_id)
    finally:
        structlog.contextvars.unbind_contextvars("campaign_id", "operation")


def _pace(ctx: WorkerContext) -> None:
    ctx.pacer.acquire([provider_limit(ctx.settings)], max_wait_s=3600.0, sleep=ctx.sleep)


def _planned(
    ctx: WorkerContext, campaign_id: str, *, parked: bool
) -> list[tuple[int, dict[str, str]]]:
    out = []
    for batch_no, info in ctx.store.batches(campaign_id):
        if info["status"] != "sent" or not info.get("planned_at") or not info.get("api_call_id"):
            continue
        if (info.get("parked") == "1") == parked:
            out.append((batch_no, info))
    return out


def _replan(ctx: WorkerContext, moves: Sequence[tuple[int, str, datetime]]) -> set[int]:
    """Replan (batch, api call id, when) in chunks; returns the ids the provider moved."""
    moved: set[int] = set()
    for start in range(0, len(moves), CHUNK):
        chunk = moves[start : start + CHUNK]
        _pace(ctx)
        items = [ReplanItem(id=int(call_id), replanned_at=when) for _, call_id, when in chunk]
        try:
            result = ctx.client.replan(items)
        except RejectedError as exc:
            log.error("control.replan_rejected", error=str(exc), ids=len(items))
            continue
        moved.update(result.call_id_list or [item.id for item in items])
    return moved


def _park(ctx: WorkerContext, campaign_id: str) -> None:
    if ctx.store.status(campaign_id) is not CampaignStatus.PAUSED:
        return
    soon = now_ms() + MARGIN_MS
    parked_until = datetime.now(UTC) + PARK_FOR
    moves = [
        (bn, info["api_call_id"], parked_until)
        for bn, info in _planned(ctx, campaign_id, parked=False)
        if int(info["planned_at"]) > soon
    ]
    moved = _replan(ctx, moves)
    for bn, call_id, _ in moves:
        if int(call_id) in moved:
            ctx.store.set_batch_fields(campaign_id, bn, {"parked": 1})
    log.info("control.parked", calls=len(moved))


def _unpark(ctx: WorkerContext, campaign_id: str) -> None:
    if ctx.store.status(campaign_id) in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
        return
    earliest = datetime.now(UTC) + timedelta(seconds=30)
    moves = []
    for bn, info in _planned(ctx, campaign_id, parked=True):
        planned = datetime.fromtimestamp(int(info["planned_at"]) / 1000, UTC)
        moves.append((bn, info["api_call_id"], max(planned, earliest)))
    moved = _replan(ctx, moves)
    for bn, call_id, when in moves:
        if int(call_id) in moved:
            ctx.store.set_batch_fields(
                campaign_id, bn, {"parked": 0, "planned_at": int(when.timestamp() * 1000)}
            )
    log.info("control.unparked", calls=len(moved))


def _replan_to_start(ctx: WorkerContext, campaign_id: str) -> None:
    spec = parse_stored_spec(ctx.store.meta(campaign_id)["spec"])
    if spec.start_at is None:
        return
    start = max(spec.start_at, datetime.now(UTC) + timedelta(seconds=30))
    moves = [
        (bn, info["api_call_id"], start) for bn, info in _planned(ctx, campaign_id, parked=False)
    ]
    moved = _replan(ctx, moves)
    for bn, call_id, when in moves:
        if int(call_id) in moved:
            ctx.store.set_batch_fields(
                campaign_id, bn, {"planned_at": int(when.timestamp() * 1000)}
            )
    log.info("control.rescheduled", calls=len(moved))


def _cancel(ctx: WorkerContext, campaign_id: str) -> None:
    open_calls = [call_id for call_id, _ in ctx.store.poll_entries(campaign_id)]
    removed_total = 0
    for start in range(0, len(open_calls), CHUNK):
        chunk = [int(c) for c in open_calls[start : start + CHUNK]]
        _pace(ctx)
        try:
            result = ctx.client.remove_many(chunk)
        except RejectedError as exc:
            log.error("control.remove_rejected", error=str(exc), ids=len(chunk))
            continue
        # The provider removes only calls that have not started; the others finish and reconcile.
        for call_id in result.call_id_list:
            phones = ctx.store.phones_of_call(campaign_id, str(call_id))
            reason = {"r": "removed at the provider: campaign cancelled"}
            ctx.store.reconcile(
                campaign_id, str(call_id), [(p, "cancelled", reason) for p in phones], None
            )
            removed_total += 1
    log.info("control.cancelled_at_provider", removed=removed_total, open=len(open_calls))


OPERATIONS = {
    "park": _park,
    "unpark": _unpark,
    "replan": _replan_to_start,
    "cancel": _cancel,
}
