"""The poller: a per-campaign sorted set of api call ids, due times as scores, is the truth.

One poll message per campaign is scheduled at a time: a marker key holds its due time, and a
sooner due (a new call) supersedes it (the superseded message finds the marker changed and does
nothing). A poll reserves a provider request only when a call is due; it then claims the due ids
with a lease (their score moves to now + lease, so a poller that dies only delays them), fills the
`apiCalls/get` with the calls due within `poll_coalesce_s` (one request carries up to
`get_chunk_size` ids), reconciles, and reschedules the calls that are not final by what they are
doing (`dispatcher.poll_schedule`: ringing soon, talking with backoff, with webhooks only as a
safety net). The reconciler re-arms a campaign whose marker expired (a lost message), so an id is
never forgotten, and provider load stays bounded by the pacer.
"""

from __future__ import annotations

import structlog

from dispatcher.batch_messages import send_batches
from dispatcher.effebot.errors import EffebotError
from dispatcher.effebot.responses import CallDetails
from dispatcher.logs import get_logger
from dispatcher.metrics import observe_pacing_wait, observe_reconciled
from dispatcher.outcomes import backoff_s
from dispatcher.poll_schedule import CallPhase, PollTiming, call_phase, next_poll_delay_s
from dispatcher.reconcile import reconcile_calls, retry_policy_json
from dispatcher.settings import Settings
from dispatcher.spec import parse_stored_spec
from dispatcher.store import now_ms
from dispatcher.store.keys import ACTOR_POLL
from dispatcher.store.polling import PHASE_BASE
from workers.context import WorkerContext
from workers.limits import provider_limit
from workers.recordings import remove_shared_record

__all__ = [
    "end_campaign",
    "ensure_poll",
    "first_poll_due_ms",
    "next_work_ms",
    "poll_campaign",
    "poll_timing",
]

log = get_logger(__name__)

#: Requests one poll message may make before handing over to the next message.
MAX_CHUNKS_PER_POLL = 20
#: A call the provider does not return in this many polls in a row ends `unknown`.
MAX_MISSING_POLLS = 30
#: Grace added to a poll marker's TTL beyond the message's delay.
MARKER_GRACE_MS = 30_000


#: The poll counter's phase codes (`PHASE_BASE`); 0 is also what a counter from before phases reads.
_PHASE_CODES = {CallPhase.WAITING: 0, CallPhase.RINGING: 1, CallPhase.TALKING: 2}


def poll_timing(settings: Settings) -> PollTiming:
    """The poll intervals the settings give (with webhooks configured, polling is a safety net)."""
    webhooks = settings.public_base_url is not None and settings.webhook_secret is not None
    return PollTiming(
        settings.poll_first_delay_s,
        settings.poll_max_interval_s,
        settings.poll_webhook_interval_s if webhooks else None,
    )


def first_poll_due_ms(settings: Settings) -> int:
    """When a just-created api call is first looked at."""
    timing = poll_timing(settings)
    delay_s = settings.poll_first_delay_s
    if timing.webhook_interval_s is not None:
        delay_s = max(delay_s, min(timing.webhook_interval_s, timing.max_interval_s))
    return now_ms() + int(delay_s * 1000)


def ensure_poll(ctx: WorkerContext, campaign_id: str, due_ms: int) -> bool:
    """Schedule the campaign's poll message for `due_ms` unless one is scheduled as soon."""
    now = now_ms()
    delay_ms = min(max(due_ms - now, 0), int(ctx.settings.poll_tick_max_s * 1000))
    due_ms = now + delay_ms
    if not ctx.store.try_mark_tick(campaign_id, due_ms, delay_ms + MARKER_GRACE_MS):
        return False
    ctx.send(ACTOR_POLL, (campaign_id, due_ms), delay_ms / 1000)
    return True


def poll_campaign(ctx: WorkerContext, campaign_id: str, due_ms: int = 0) -> None:
    """The poll actor's body (`due_ms`: the time it was scheduled for; 0 from older messages)."""
    structlog.contextvars.bind_contextvars(campaign_id=campaign_id)
    try:
        if ctx.store.take_tick(campaign_id, due_ms):
            _poll(ctx, campaign_id)
    finally:
        structlog.contextvars.unbind_contextvars("campaign_id")


def _poll(ctx: WorkerContext, campaign_id: str) -> None:
    store, settings = ctx.store, ctx.settings
    spec = parse_stored_spec(store.meta(campaign_id)["spec"])
    policy = retry_policy_json(spec.retry)
    # Formed and indexed in one script: if sending their messages fails, the reconciler does it.
    retries = store.take_retries(campaign_id, spec.batch_size, deadline_ms=now_ms())
    send_batches(store, ctx.enqueue, campaign_id, retries)
    lease_ms = int(settings.poll_lease_s * 1000)
    fill_ms = int(settings.poll_coalesce_s * 1000)
    for _ in range(MAX_CHUNKS_PER_POLL):
        # A request of the provider's budget is reserved only for a call that is due.
        if not store.has_due_calls(campaign_id, now_ms()):
            break
        reservation = ctx.pacer.reserve([provider_limit(settings)], settings.max_pacing_wait_s)
        observe_pacing_wait("poll_campaign", reservation.wait_s)
        if not reservation.granted:
            ensure_poll(ctx, campaign_id, now_ms() + int(reservation.wait_s * 1000))
            return
        if reservation.wait_s > 0:
            ctx.sleep(reservation.wait_s)
        due = store.claim_due_calls(campaign_id, lease_ms, settings.get_chunk_size, fill_ms)
        if not due:
            break  # another poller took them while this one waited (a rare lost slot)
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


def _retry_due(ctx: WorkerContext, counter: int) -> int:
    """After a failed get or a missing call: back off on the looks so far (at most 3 doublings)."""
    s = ctx.settings
    looks = min(counter % PHASE_BASE, 3)
    return now_ms() + int(backoff_s(looks, s.poll_first_delay_s, s.poll_max_interval_s) * 1000)


def _schedule(timing: PollTiming, details: CallDetails, counter: int) -> tuple[int, int | None]:
    """Pure but for the clock: (next due ms, the counter to store when the phase changed)."""
    phase = call_phase(details.calls)
    code = _PHASE_CODES[phase]
    if counter // PHASE_BASE == code:
        looks, reset = max(counter % PHASE_BASE - 1, 0), None
    else:
        # This look is the first in the new phase.
        looks, reset = 0, code * PHASE_BASE + 1
    return now_ms() + int(next_poll_delay_s(phase, looks, timing) * 1000), reset


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
        for call_id, counter in due:
            store.reschedule_call(campaign_id, call_id, _retry_due(ctx, counter))
        return
    found = {str(d.id): d for d in details if d.id is not None}
    timing = poll_timing(ctx.settings)
    answered = []
    resets: dict[str, int] = {}
    for call_id, counter in due:
        detail = found.get(call_id)
        if detail is None:
            # Only misses in a row count: one empty answer after a long call or an outage is not
            # the provider forgetting the call (a reconcile clears the count).
            if store.note_missing(campaign_id, call_id) >= MAX_MISSING_POLLS:
                _give_up(ctx, campaign_id, call_id)
            else:
                store.reschedule_call(campaign_id, call_id, _retry_due(ctx, counter))
            continue
        next_due, reset = _schedule(timing, detail, counter)
        if reset is not None:
            resets[call_id] = reset
        answered.append((detail, next_due))
    store.set_poll_counters(campaign_id, resets)
    if answered:
        reconcile_calls(store, campaign_id, answered, source="poll", retry_policy=policy)
        for detail, _ in answered:
            observe_reconciled(detail, "poll")


def _give_up(ctx: WorkerContext, campaign_id: str, call_id: str) -> None:
    log.error("poll.call_missing", api_call_id=call_id, polls=MAX_MISSING_POLLS)
    phones = ctx.store.phones_of_call(campaign_id, call_id)
    reason = {"r": f"the provider returned no details for api call {call_id}"}
    ctx.store.reconcile(campaign_id, call_id, [(p, "unknown", reason) for p in phones], None)
