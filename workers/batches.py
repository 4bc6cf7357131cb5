"""Sending one batch: the create request, at most once.

The order of steps is what keeps a person from being dialled twice:

1. read the campaign: hold (paused), wait (scheduled), drop (cancelled/finished);
2. wait for the global pacing budget *before* claiming, so a worker that dies while waiting leaves
   the batch `pending` (nothing was sent) rather than `sending` (which would be ambiguous);
3. check that Redis still holds the data this process started with (the epoch marker,
   `store.trust`), then claim `pending → sending` atomically (re-checking the DNC list); a batch
   found `sending` belongs to another worker until its lease runs out, and after that it is
   ambiguous;
4. call create; record the api call id (`sent`) and schedule the first poll.

The client's error tree decides what follows a failure: retry-safe errors give the batch back to
`pending` and retry later; refusals only an operator can lift (balance, moderation, a wrong
endpoint setting) give it back too and pause the campaign with the reason; other rejected ones end
its contacts `failed`; ambiguous ones end them `unknown`, unless the operator opted in to dialling
them again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from dispatcher.batch_messages import send_batches
from dispatcher.effebot.errors import (
    AmbiguousError,
    EffebotError,
    OperatorActionRequired,
    RateLimited,
    RejectedError,
    RetrySafeError,
)
from dispatcher.effebot.requests import (
    CallOptions,
    CreateCallRequest,
    CreateFromTemplateRequest,
    Record,
)
from dispatcher.errors import CampaignNotFound, StateError
from dispatcher.lifecycle import CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.metrics import observe_dials, observe_pacing_wait, observe_unconfirmed
from dispatcher.outcomes import backoff_s
from dispatcher.spec import CampaignSpec, parse_stored_spec
from dispatcher.store import Claim, Sent, now_ms
from dispatcher.store.keys import ACTOR_CONTROL
from dispatcher.windows import ALWAYS_OPEN_KEY, load_zone, next_open
from workers.context import WorkerContext
from workers.guards import auto_pause, record_error
from workers.limits import batch_limits
from workers.outages import retry_state
from workers.polling import ensure_poll, first_poll_due_ms
from workers.recordings import shared_record_id

__all__ = ["batch_lease_s", "send_batch"]

log = get_logger(__name__)


def batch_lease_s(ctx: WorkerContext) -> float:
    """How long a claimed batch belongs to its worker: longer than any create request can take."""
    s = ctx.settings
    if s.batch_lease_s > 0:
        return s.batch_lease_s
    return s.connect_timeout_s + s.write_timeout_s + s.read_timeout_s + s.pool_timeout_s + 15.0


def send_batch(
    ctx: WorkerContext, campaign_id: str, batch_no: int, attempt: int = 0, token: str = ""
) -> None:
    """The batch actor's body; `token` names the message (see `dispatcher.batch_messages`)."""
    structlog.contextvars.bind_contextvars(campaign_id=campaign_id, batch_no=batch_no)
    try:
        _send_batch(ctx, campaign_id, batch_no, attempt, token)
    finally:
        structlog.contextvars.unbind_contextvars("campaign_id", "batch_no", "api_call_id")


def _again(
    ctx: WorkerContext, campaign_id: str, batch_no: int, delay_s: float, attempt: int
) -> None:
    # A new message rather than dramatiq's Retry: waiting is not failing, and must not use up the
    # retries that protect against real errors (nor dead-letter a batch that never called the API).
    # It gets a token of its own, which supersedes the one this message carried.
    delay_ms = int(delay_s * 1000) if delay_s > 0 else None
    send_batches(
        ctx.store, ctx.enqueue, campaign_id, [batch_no], delay_ms=delay_ms, attempt=attempt
    )


def _held_for_lost_data(ctx: WorkerContext) -> bool:
    """Whether Redis lost its data under this process (the DNC list with it), logged: then
    nobody is dialled until an operator accepts the loss; the batch stays pending and the
    reconciler sends it again then."""
    lost = ctx.redis_lost()
    if lost is not None:
        log.warning("batch.held", reason="redis data lost", detail=lost)
    return lost is not None


def _send_batch(
    ctx: WorkerContext, campaign_id: str, batch_no: int, attempt: int, token: str
) -> None:
    store = ctx.store
    try:
        meta, batch, phone_count = store.batch_view(campaign_id, batch_no)
    except CampaignNotFound:
        log.warning("batch.no_campaign")
        return
    if token and batch.get("msg", token) != token:
        # The reconciler sent a newer message for this batch (this one looked lost): that one
        # does the work.
        log.debug("batch.superseded")
        return
    status = CampaignStatus(meta["status"])
    spec = parse_stored_spec(meta["spec"])
    if batch["status"] == "sending":
        # Another worker holds it; if that worker died, the reconciler ends it when its lease
        # runs out, whatever the campaign's status.
        log.debug("batch.claimed_elsewhere")
        return
    if batch["status"] != "pending":
        log.debug("batch.already_done", batch_status=batch["status"])
        return
    if status in (CampaignStatus.PAUSED, CampaignStatus.DRAFT):
        # Held, not dropped: resuming re-enqueues every batch still pending.
        log.info("batch.held", status=status.value)
        return
    if status is CampaignStatus.CANCELLED:
        store.finish_batch(
            campaign_id, batch_no, "cancelled", "campaign cancelled", "cancelled", only_if="pending"
        )
        log.info("batch.dropped", status=status.value)
        return
    if status is CampaignStatus.FINISHED:
        log.info("batch.dropped", status=status.value)
        return
    planned_at: datetime | None = None
    if status is CampaignStatus.SCHEDULED:
        if spec.start_at is not None and spec.start_at.timestamp() * 1000 > now_ms():
            if not spec.plan_ahead:
                delay_s = spec.start_at.timestamp() - now_ms() / 1000
                _again(ctx, campaign_id, batch_no, delay_s, attempt)
                return
            # Created now, dialled by the provider at the start time.
            planned_at = spec.start_at
        else:
            store.set_status(campaign_id, CampaignStatus.RUNNING, [CampaignStatus.SCHEDULED])

    if spec.window is not None and not _inside_window(ctx, campaign_id, batch_no, spec, batch):
        return
    reservation = ctx.pacer.reserve(
        batch_limits(ctx.settings, campaign_id, spec, phone_count), ctx.settings.max_pacing_wait_s
    )
    observe_pacing_wait("send_batch", reservation.wait_s)
    if not reservation.granted:
        log.debug("batch.paced", wait_s=round(reservation.wait_s, 3))
        _again(ctx, campaign_id, batch_no, reservation.wait_s, attempt)
        return
    if reservation.wait_s > 0:
        if not ctx.wait(reservation.wait_s):
            # The worker is shutting down: nothing is claimed yet, so hand the batch over.
            log.info("batch.handed_over", reason="worker shutting down")
            _again(ctx, campaign_id, batch_no, 0.0, attempt)
            return
        if spec.window is not None and not _inside_window(ctx, campaign_id, batch_no, spec, batch):
            return
    record_id = None
    if spec.shared_recording:
        record_id = shared_record_id(ctx, campaign_id, spec)
        if record_id is None:
            _again(ctx, campaign_id, batch_no, 1.0, attempt)
            return

    token = secrets.token_hex(8)
    claim: Claim | None = None
    # The epoch check (`store.trust`) runs inside the claim script; when the marker is not the one
    # this process remembers, the full check judges why (an operator's reset is adopted, and the
    # claim tried again; a loss is recorded and logged).
    for _ in range(2):
        epoch_id = ctx.trusted_epoch()
        if epoch_id is None and _held_for_lost_data(ctx):
            return
        try:
            claim = store.claim_batch(
                campaign_id,
                batch_no,
                int(batch_lease_s(ctx) * 1000),
                token,
                daily_cap=ctx.settings.max_dials_per_number_per_day,
                epoch_id=epoch_id or "",
            )
        except StateError:
            # The claim may have landed without its answer reaching us (a failover, a reset):
            # once Redis answers, give back what this token claimed (nobody was dialled under
            # it), so the run from the top finds the batch `pending` rather than `sending` until
            # its lease ends.
            _give_back_unanswered(ctx, campaign_id, batch_no, token)
            raise
        if claim.outcome != "untrusted":
            break
        if _held_for_lost_data(ctx):
            return
    if claim is None or claim.outcome == "untrusted":
        log.warning("batch.held", reason="the epoch marker keeps changing")
        return
    if claim.outcome == "claimed" and claim.unconfirmed:
        _claim_not_durable(ctx, campaign_id, batch_no, token, list(claim.phones), claim, attempt)
        return
    if claim.outcome == "sending":
        log.debug("batch.claimed_elsewhere")
        return
    if claim.outcome == "held":
        log.info("batch.held", status=claim.detail)
        return
    if claim.outcome == "empty":
        log.info("batch.nothing_to_dial")
        return
    if claim.outcome != "claimed":
        log.debug("batch.already_done", batch_status=claim.outcome)
        return
    _create(
        ctx, campaign_id, batch_no, spec, list(claim.phones), token, attempt, planned_at, record_id
    )


def _create(
    ctx: WorkerContext,
    campaign_id: str,
    batch_no: int,
    spec: CampaignSpec,
    phones: list[str],
    token: str,
    attempt: int,
    planned_at: datetime | None,
    record_id: int | None = None,
) -> None:
    store = ctx.store
    request: CreateCallRequest | CreateFromTemplateRequest
    try:
        if spec.call is not None:
            options = spec.call
            if record_id:
                shared = Record(id=record_id, gender=spec.call.record.gender)
                options = options.model_copy(update={"record": shared})
            options = _with_our_ivr_webhooks(options, ctx.settings.webhook_url(campaign_id))
            request = options.to_request(
                phones, planned_at=planned_at, webhook_url=ctx.settings.webhook_url(campaign_id)
            )
        else:
            assert spec.template is not None  # the spec validator guarantees one of them
            request = spec.template.to_request(phones, planned_at=planned_at)
    except ValueError as exc:
        # Validated at submit time, so this is a bug or a spec edited in Redis: nothing was sent.
        store.finish_batch(campaign_id, batch_no, "failed", f"invalid request: {exc}", "failed")
        log.error("batch.invalid_request", error=str(exc))
        return
    try:
        if isinstance(request, CreateCallRequest):
            response = ctx.client.create(request)
        else:
            response = ctx.client.create_from_template(request)
    except OperatorActionRequired as exc:
        # Nothing was created and nothing is wrong with the contacts: the batch waits, and the
        # campaign pauses until someone pays, gets the recording approved or fixes the setting.
        _release(ctx, campaign_id, batch_no, token, phones)
        log.error("batch.held_by_provider", error=str(exc), kind=type(exc).__name__)
        auto_pause(ctx, campaign_id, exc.pause_reason())
        return
    except RetrySafeError as exc:
        released = _release(ctx, campaign_id, batch_no, token, phones)
        record_error(ctx, campaign_id, "retry_safe")
        if released != "pending":
            return
        if attempt + 1 >= ctx.settings.retry_safe_max_attempts:
            store.finish_batch(
                campaign_id,
                batch_no,
                "failed",
                f"gave up after {attempt + 1} tries: {exc}",
                "failed",
            )
            log.error("batch.gave_up", error=str(exc), attempts=attempt + 1)
            return
        delay = exc.retry_after_s if isinstance(exc, RateLimited) and exc.retry_after_s else None
        if delay is not None and delay > ctx.settings.max_retry_after_s:
            # A provider bug (or a proxy's page) must not park a campaign for days.
            log.warning(
                "batch.retry_after_capped",
                retry_after_s=delay,
                cap_s=ctx.settings.max_retry_after_s,
            )
            delay = ctx.settings.max_retry_after_s
        delay = delay if delay is not None else backoff_s(attempt, 1.0, 60.0)
        log.info("batch.retry_later", error=type(exc).__name__, delay_s=round(delay, 3))
        _again(ctx, campaign_id, batch_no, delay, attempt + 1)
        return
    except RejectedError as exc:
        _, finished = store.finish_batch(campaign_id, batch_no, "failed", str(exc), "rejected")
        log.warning("batch.rejected", error=str(exc), fields=getattr(exc, "fields", None))
        store.add_event(campaign_id, {"kind": "rejected", "batch_no": batch_no, "error": str(exc)})
        record_error(ctx, campaign_id, "rejected")
        _after_terminal(ctx, campaign_id, finished)
        return
    except AmbiguousError as exc:
        _ambiguous(ctx, campaign_id, batch_no, str(exc), token, phones, attempt)
        return
    except EffebotError as exc:  # pragma: no cover - every error is in one of the three subtrees
        _ambiguous(ctx, campaign_id, batch_no, str(exc), token, phones, attempt)
        return

    api_call_id = str(response.id)
    structlog.contextvars.bind_contextvars(api_call_id=api_call_id)
    due = first_poll_due_ms(ctx.settings)
    planned_ms = None if planned_at is None else int(planned_at.timestamp() * 1000)
    # The provider created the calls: this must be recorded whatever Redis is doing right now,
    # or the batch would look `sending` and end `unknown` (or worse, be lost from polling).
    sent = _record_sent(
        ctx,
        lambda: store.mark_sent(campaign_id, batch_no, token, api_call_id, phones, due, planned_ms),
    )
    if sent.late:
        # Our lease ran out before the answer came: the contacts were ended `unknown`; the
        # provider's outcomes for this call will replace that.
        log.warning("batch.sent_late", phones=len(phones))
    else:
        log.info("batch.sent", phones=len(phones), record_cost=response.record_cost)
    observe_dials(len(phones))
    store.note_dials(campaign_id, len(phones))
    # A pause or cancel that landed while this request was in flight did not see this call: the
    # script recorded what it owes the provider; this message is only the fast path.
    if sent.campaign_status == CampaignStatus.CANCELLED:
        ctx.send(ACTOR_CONTROL, (campaign_id, "cancel"))
    elif sent.campaign_status == CampaignStatus.PAUSED and planned_at is not None:
        ctx.send(ACTOR_CONTROL, (campaign_id, "park"))
    ensure_poll(ctx, campaign_id, due)


#: A batch whose claim was not confirmed durable is tried again this much later. Each try waits
#: for its pacing slot first, so a replica that stays away costs at most the provider's pace.
UNCONFIRMED_RETRY_S = 2.0


def _give_back_unanswered(ctx: WorkerContext, campaign_id: str, batch_no: int, token: str) -> None:
    """Compare-and-release a claim whose answer was lost (only if it holds `token`)."""
    store = ctx.store

    def give_back() -> str:
        phones = store.batch_phones(campaign_id, batch_no)
        return store.release_batch(campaign_id, batch_no, token, phones, deadline_ms=now_ms())

    if retry_state(ctx, give_back) == "pending":
        log.info("batch.claim_given_back", reason="the claim's answer was lost")


def _claim_not_durable(
    ctx: WorkerContext,
    campaign_id: str,
    batch_no: int,
    token: str,
    phones: list[str],
    claim: Claim,
    attempt: int,
) -> None:
    """The claim did not reach the replicas (or the disk) in time: dial nobody, give it back.

    If the primary is lost before the release is replicated too, the batch is found either
    `pending` (the claim was lost: a message sends it) or `sending` under this token (the claim
    survived): its lease then runs out and the reconciler ends it `unknown`, never dialling it.
    """
    observe_unconfirmed("claim")
    released = retry_state(ctx, lambda: _release(ctx, campaign_id, batch_no, token, phones))
    log.warning(
        "batch.claim_not_durable",
        reason=claim.unconfirmed,
        durability=ctx.settings.claim_durability,
        phones=len(phones),
        retry_in_s=UNCONFIRMED_RETRY_S,
    )
    if released != "cancelled":
        # '' means the claim was gone already (a failover lost it): the batch is `pending` again
        # with nobody to send it; an extra message for a batch someone else holds does nothing.
        _again(ctx, campaign_id, batch_no, UNCONFIRMED_RETRY_S, attempt)


def _record_sent(ctx: WorkerContext, write: Callable[[], Sent]) -> Sent:
    """Record `sent` (idempotent) until Redis takes it and, with durability on, confirms it.

    The create has happened, so this never gives the batch back. While the record is not
    confirmed it is written again (on the promoted replica after a failover, where the durable
    claim still says `sending` under this token, so the api call id is kept); the message stays
    unacknowledged meanwhile. After `redis_outage_max_s` it is logged and the message acked: the
    durable claim still keeps a redelivery from dialling again (at worst the batch ends `unknown`).
    """
    started = time.monotonic()
    while True:
        sent = retry_state(ctx, write)
        if not sent.unconfirmed:
            return sent
        observe_unconfirmed("sent")
        if time.monotonic() - started > ctx.settings.redis_outage_max_s:
            log.error(
                "batch.sent_not_durable",
                reason=sent.unconfirmed,
                note="the create happened; a failover now would end this batch unknown",
            )
            return sent
        log.warning("batch.sent_unconfirmed", reason=sent.unconfirmed, retry_in_s=0.5)
        ctx.sleep(0.5)


#: An IVR step whose webhookUrl is this gets our own receiver's URL for the campaign.
OUR_WEBHOOK = "@dispatcher"


def _with_our_ivr_webhooks(options: CallOptions, url: str | None) -> CallOptions:
    """Replace the `@dispatcher` placeholder in IVR steps with this campaign's webhook URL."""
    if not options.ivrs or not any(ivr.webhook_url == OUR_WEBHOOK for ivr in options.ivrs):
        return options
    # Not configured to receive webhooks (url None): the placeholder is dropped, never sent.
    ivrs = [
        ivr.model_copy(update={"webhook_url": url}) if ivr.webhook_url == OUR_WEBHOOK else ivr
        for ivr in options.ivrs
    ]
    return options.model_copy(update={"ivrs": ivrs})


def _inside_window(
    ctx: WorkerContext, campaign_id: str, batch_no: int, spec: CampaignSpec, batch: dict[str, str]
) -> bool:
    """True when the batch may be dialled now; otherwise it has been delayed or expired."""
    assert spec.window is not None
    key = batch.get("zone")
    zone = spec.window.default_zone if not key or key == ALWAYS_OPEN_KEY else load_zone(key)
    now = datetime.now(UTC)
    opens = next_open(spec.window, zone, now)
    if opens is None:
        moved, _ = ctx.store.finish_batch(
            campaign_id,
            batch_no,
            "expired",
            "the call window expired before this contact could be called",
            "expired",
            only_if="pending",
        )
        log.info("batch.expired", contacts=moved, zone=zone.key)
        return False
    if opens > now:
        # Delayed, not polled: the message comes back when the window opens.
        delay_s = (opens - now).total_seconds()
        log.info("batch.waiting_for_window", zone=zone.key, opens_at=opens.isoformat())
        _again(ctx, campaign_id, batch_no, delay_s, 0)
        return False
    return True


def _ambiguous(
    ctx: WorkerContext,
    campaign_id: str,
    batch_no: int,
    reason: str,
    token: str,
    phones: list[str],
    attempt: int,
) -> None:
    store = ctx.store
    if ctx.settings.redial_unknown:
        if _release(ctx, campaign_id, batch_no, token, phones) != "pending":
            return
        log.warning("batch.ambiguous_redial", error=reason)
        _again(ctx, campaign_id, batch_no, backoff_s(attempt, 5.0, 300.0), attempt + 1)
        return
    _, finished = store.finish_batch(
        campaign_id, batch_no, "unknown", f"may or may not have been created: {reason}", "unknown"
    )
    store.add_event(campaign_id, {"kind": "ambiguous", "batch_no": batch_no, "error": reason})
    log.error("batch.ambiguous", error=reason, phones=len(phones))
    record_error(ctx, campaign_id, "ambiguous")
    _after_terminal(ctx, campaign_id, finished)


def _release(
    ctx: WorkerContext, campaign_id: str, batch_no: int, token: str, phones: list[str]
) -> str:
    """Give the batch back; `pending`, `cancelled` (the campaign was cancelled meanwhile) or ''."""
    released = ctx.store.release_batch(campaign_id, batch_no, token, phones, deadline_ms=now_ms())
    if released == "cancelled":
        log.info("batch.cancelled_on_release")
    return released


def _after_terminal(ctx: WorkerContext, campaign_id: str, finished: bool) -> None:
    if finished:
        log.info("campaign.finished")
