"""The poller: a per-campaign sorted set of api call ids, due times as scores, is the truth.

One poll message per campaign is scheduled at a time (a marker key with a TTL says one is); a poll
claims the due ids with a lease (their score moves to now + lease, so a poller that dies only delays
them), fetches details with `apiCalls/get` many ids per request, reconciles, and reschedules the
calls that are not final with backoff. The worker watchdog re-arms a campaign whose marker expired
(a lost message), so an id is never forgotten, and provider load stays bounded by the pacer.
"""

from __future__ import annotations

import structlog

from dispatcher.batch_messages import send_batches
from dispatcher.effebot.errors import EffebotError
from dispatcher.logs import get_logger
from dispatcher.metrics import observe_pacing_wait, observe_reconciled
from dispatcher.outcomes import backoff_s
from dispatcher.reconcile import reconcile_calls, retry_policy_json
from dispatcher.spec import parse_stored_spec
from dispatcher.store import now_ms
from dispatcher.store.keys import ACTOR_POLL
from workers.context import WorkerContext
from workers.limits import provider_limit
from workers.recordings import remove_shared_record

__all__ = ["end_campaign", "ensure_poll", "next_work_ms", "poll_campaign"]

log = get_logger(__name__)

#: Requests one poll message may make before handing over to the next message.
MAX_CHUNKS_PER_POLL = 20
#: A call the provider does not return in this many polls in a row ends `unknown`.
MAX_MISSING_POLLS = 30
#: Grace added to a poll marker's TTL beyond the message's delay.
MARKER_GRACE_MS = 30_000


def ensure_poll(ctx: WorkerContext, campaign_id: str, due_ms: int) -> bool:
    """Schedule the campaign's poll message for `due_ms` unless one is already scheduled."""
    delay_ms = max(due_ms - now_ms(), 0)
    delay_ms = min(delay_ms, int(ctx.settings.poll_tick_max_s * 1000))
    if not ctx.store.try_mark_tick(campaign_id, delay_ms + MARKER_GRACE_MS):
        return False
    ctx.send(ACTOR_POLL, (campaign_id,), delay_ms / 1000)
    return True


def poll_campaign(ctx: WorkerContext, campaign_id: str) -> None:
    """The poll actor's body."""
    structlog.contextvars.bind_contextvars(campaign_id=campaign_id)
    try:
        _poll(ctx, campaign_id)
    finally:
        structlog.contextvars.unbind_contextvars("campaign_id")


def _poll(ctx: WorkerContext, campaign_id: str) -> None:
    store, settings = ctx.store, ctx.settings
    store.clear_tick(campaign_id)
    spec = parse_stored_spec(store.meta(campaign_id)["spec"])
    policy = retry_policy_json(spec.retry)
    # Formed and indexed in one script: if sending their messages fails, the reconciler does it.
    retries = store.take_retries(campaign_id, spec.batch_size, deadline_ms=now_ms())
    send_batches(store, ctx.enqueue, campaign_id, retries)
    lease_ms = int(settings.poll_lease_s * 1000)
    for _ in range(MAX_CHUNKS_PER_POLL):
        reservation = ctx.pacer.reserve([provider_limit(settings)], settings.max_pacing_wait_s)
        observe_pacing_wait("poll_campaign", reservation.wait_s)
        if not reservation.granted:
            ensure_poll(ctx, campaign_id, now_ms() + int(reservation.wait_s * 1000))
            return
        if reservation.wait_s > 0:
            ctx.sleep(reservation.wait_s)
        due = store.claim_due_calls(campaign_id, lease_ms, settings.get_chunk_size)
        if not due:
            break
        _poll_chunk(ctx, campaign_id, due, policy)
        if len(due) < settings.get_chunk_size:
            break
    next_due = next_work_ms(ctx, campaign_id)
    if next_due is not None:
        ensure_poll(ctx, campaign_id, next_due)
    elif store.status(campaign_id).value in ("finished", "cancelled"):
        end_campaign(ctx, campaign_id)


def next_work_ms(ctx: WorkerContext, campaign_id: str) -> int | None:
    """When the campaign next needs a poll: a call to check, or a retry to form into a batch."""
    dues = [
        due
        for due in (
            ctx.store.next_poll_due_ms(campaign_id),
            ctx.store.next_retry_due_ms(campaign_id),
        )
        if due is not None
    ]
    return min(dues) if dues else None


def end_campaign(ctx: WorkerContext, campaign_id: str) -> None:
    """An ended campaign with nothing left to check: tidy up, leave the active set."""
    remove_shared_record(ctx, campaign_id)
    ctx.store.deactivate(campaign_id)


def _next_due(ctx: WorkerContext, polls: int) -> int:
    s = ctx.settings
    return now_ms() + int(backoff_s(polls, s.poll_first_delay_s, s.poll_max_interval_s) * 1000)


def _poll_chunk(
    ctx: WorkerContext, campaign_id: str, due: list[tuple[str, int]], policy: str
) -> None:
    store = ctx.store
    ids = [int(call_id) for call_id, _ in due]
    try:
        details = ctx.client.get_calls(ids)
    except EffebotError as exc:
        # Reading is idempotent: whatever the error, ask again a little later.
        log.warning("poll.failed", error=str(exc), ids=len(ids))
        for call_id, polls in due:
            store.reschedule_call(campaign_id, call_id, _next_due(ctx, min(polls, 3)))
        return
    found = {str(d.id): d for d in details if d.id is not None}
    answered = []
    for call_id, polls in due:
        detail = found.get(call_id)
        if detail is None:
            # Only misses in a row count: one empty answer after a long call or an outage is not
            # the provider forgetting the call (a reconcile clears the count).
            if store.note_missing(campaign_id, call_id) >= MAX_MISSING_POLLS:
                _give_up(ctx, campaign_id, call_id)
            else:
                store.reschedule_call(campaign_id, call_id, _next_due(ctx, polls))
            continue
        answered.append((detail, _next_due(ctx, polls)))
    if answered:
        reconcile_calls(store, campaign_id, answered, source="poll", retry_policy=policy)
        for detail, _ in answered:
            observe_reconciled(detail, "poll")


def _give_up(ctx: WorkerContext, campaign_id: str, call_id: str) -> None:
    log.error("poll.call_missing", api_call_id=call_id, polls=MAX_MISSING_POLLS)
    phones = ctx.store.phones_of_call(campaign_id, call_id)
    reason = {"r": f"the provider returned no details for api call {call_id}"}
    ctx.store.reconcile(campaign_id, call_id, [(p, "unknown", reason) for p in phones], None)
