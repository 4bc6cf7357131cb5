"""The control actor: what pause, resume, cancel and reschedule must do at the provider.

Each of them is recorded as *owed* by the campaign before the message is sent (`Controls`, or the
batch actor when a create lands after a pause or cancel), and stays owed until the provider has
confirmed or refused it for good. A message finds what is owed and does it: one that finds nothing
owed (a resume already replaced the pause's park) does nothing. A transient or ambiguous failure
postpones the action with backoff and the reconciler sends the message again when it falls due, so
a provider that is down for an hour delays a cancel's removes, never loses them. Every operation
is idempotent (replanning a call to a time, removing a call that may already be gone), and each
request waits for the global pacing budget like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog

from dispatcher.effebot.errors import AmbiguousError, RejectedError, RetrySafeError
from dispatcher.effebot.requests import ReplanItem
from dispatcher.lifecycle import CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.outcomes import backoff_s
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
        _control(ctx, campaign_id, operation)
    finally:
        structlog.contextvars.unbind_contextvars("campaign_id", "operation")


def _control(ctx: WorkerContext, campaign_id: str, operation: str) -> None:
    if operation not in OPERATIONS:
        log.error("control.unknown_operation")
        return
    owed = ctx.store.owed(campaign_id, operation)
    if owed is None:
        log.debug("control.nothing_owed")
        return
    try:
        OPERATIONS[operation](ctx, campaign_id)
    except (RetrySafeError, AmbiguousError) as exc:
        # Idempotent, so asking again is safe; the reconciler sends the message when it is due.
        retry_in_s = backoff_s(owed.tries, 5.0, 300.0)
        ctx.store.postpone(campaign_id, owed, now_ms() + int(retry_in_s * 1000), tried=True)
        log.warning("control.postponed", error=str(exc), retry_in_s=round(retry_in_s, 1))
        return
    if ctx.store.settle(campaign_id, owed):
        log.info("control.settled")


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
            # Refused for good: retrying cannot help, and the calls keep their planned time.
            log.error("control.replan_rejected", error=str(exc), ids=len(items))
            continue
        # Only the ids the provider lists were moved; an empty list means none was (a call
        # already ringing, or gone).
        moved.update(result.call_id_list)
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
