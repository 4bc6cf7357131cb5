"""The reconciler: Redis state is the truth, messages are hints.

Messages are the fast path: a batch's message sends it, a poll message polls. The reconciler is
the guarantee: a thread in every worker process looks at the state of every *active* campaign and
drives it towards its end, whatever messages were lost (a Redis restart, a SIGKILLed worker),
duplicated or dead-lettered, and whatever provider actions are still owed. One process sweeps at a
time (a lease in Redis); several sweeping at once would be harmless, because every action it takes
is one a message could have taken (an atomic claim, a conditional script, an idempotent provider
action). Its cost follows the stale work, not the contacts: it reads each active campaign's indexes
of pending batches (by the time a message should have picked them up) and of leases (by the time
they run out) only up to now, in one pipelined round trip for all campaigns.

The rules (docs/reconciler.md has them as a table):

* a lease that ran out ends its batch `unknown`, whatever the campaign's status (the worker died
  mid-request: the provider may or may not have created the calls);
* a running or scheduled campaign's pending batch that no message picked up in time is sent a new
  message, unless a live message for it still sits in the queue (then it is only given longer);
* a cancelled campaign's pending batches end `cancelled`, and its waiting retries too;
* a provider action owed (park, unpark, replan, cancel) that is due is asked for again;
* calls to poll or retries to form with no poll scheduled get a poll;
* a campaign whose contacts are all terminal finishes; a finished or cancelled one with nothing
  left to poll, retry or ask the provider leaves the active set.

Every tick, in every process, first checks the epoch marker (`store.trust`): a Redis that lost its
data is logged and not swept (nothing is re-sent) until an operator accepts the loss. The process
holding the lease then runs the retention sweep when it is due (`retention_tick`) and archives a
few campaigns that ended more than `archive_after_s` ago (`archive_tick`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from dispatcher.archive import archive_due_campaigns
from dispatcher.batch_messages import send_batches
from dispatcher.errors import DispatcherError
from dispatcher.logs import get_logger
from dispatcher.queue import live_batch_messages
from dispatcher.retention import DAY_MS, purge_ended
from dispatcher.store import CampaignView, now_ms
from dispatcher.store.keys import ACTOR_CONTROL
from dispatcher.store.trust import RedisTrust
from workers.context import WorkerContext
from workers.guards import check_balance
from workers.intake import expire_stale_drafts
from workers.polling import end_campaign, ensure_poll

__all__ = ["Reconciler", "SweepReport", "archive_tick", "retention_tick", "sweep"]

log = get_logger(__name__)

#: Overdue batches and expired leases looked at per campaign per sweep (the rest wait a sweep).
PER_CAMPAIGN = 500
#: An owed provider action whose message was just sent is not sent again before this.
OWED_RESEND_MS = 60_000
#: A batch found overdue while its message still waits in the queue is looked at again after
#: grace x 2^n (n: times found so far), at most this many doublings.
MAX_DOUBLINGS = 6

_DIALLING = ("running", "scheduled")
#: Campaigns one retention run removes at most (the next tick goes on when there were more).
RETENTION_PER_RUN = 100
#: Campaigns one tick archives at most, and the contacts after which it stops (an archive reads
#: and compresses every contact: ~1-2 s per 100,000 on one core; the sweep waits meanwhile).
ARCHIVE_PER_TICK = 5
ARCHIVE_CONTACTS_PER_TICK = 200_000


@dataclass
class SweepReport:
    """What one sweep did (for logs, tests and the benchmark)."""

    campaigns: int = 0
    resent: int = 0
    given_longer: int = 0
    leases_expired: int = 0
    cancelled_batches: int = 0
    owed_sent: int = 0
    polls_armed: int = 0
    finished: int = 0
    deactivated: int = 0
    drafts_expired: int = 0

    def acted(self) -> bool:
        return any(v for k, v in vars(self).items() if k != "campaigns")


def sweep(ctx: WorkerContext) -> SweepReport:
    """One pass over the active campaigns."""
    report = SweepReport()
    report.drafts_expired = expire_stale_drafts(ctx)  # drafts are not active: looked at apart
    ids = ctx.store.active_campaigns()
    if not ids:
        return report
    check_balance(ctx)
    grace_ms = int(ctx.settings.batch_stale_after_s * 1000)
    views = ctx.store.view_campaigns(ids, now_ms() - grace_ms, PER_CAMPAIGN)
    report.campaigns = len(views)
    overdue = _overdue_pending(ctx, views)
    live: set[tuple[str, int, str]] = set()
    if overdue:
        live = live_batch_messages(ctx.store.client, ctx.settings, set(overdue))
    for view in views:
        _reconcile(ctx, view, overdue.get(view.campaign_id, {}), live, report)
    if report.acted():
        log.info("reconciler.swept", **vars(report))
    return report


def _overdue_pending(ctx: WorkerContext, views: list[CampaignView]) -> dict[str, dict[int, str]]:
    """Campaign -> {pending overdue batch: its message token}; other batches are unindexed."""
    found: dict[str, dict[int, str]] = {}
    for view in views:
        if not view.overdue_batches or view.status not in (*_DIALLING, "cancelled"):
            continue
        states = ctx.store.batch_states(view.campaign_id, view.overdue_batches)
        done = [bn for bn, (status, _) in states.items() if status != "pending"]
        ctx.store.unindex_batches(view.campaign_id, done)
        pending = {bn: token for bn, (status, token) in states.items() if status == "pending"}
        if pending:
            found[view.campaign_id] = pending
    return found


def _reconcile(
    ctx: WorkerContext,
    view: CampaignView,
    overdue: dict[int, str],
    live: set[tuple[str, int, str]],
    report: SweepReport,
) -> None:
    store, cid = ctx.store, view.campaign_id
    if not view.status:
        store.deactivate(cid)
        report.deactivated += 1
        return
    for batch_no in view.expired_leases:
        reason = (
            "the worker sending this batch stopped mid-request (its lease ran out); "
            "it may or may not have been created"
        )
        if store.expire_lease(cid, batch_no, reason) is not None:
            store.add_event(cid, {"kind": "lease_expired", "batch_no": batch_no})
            log.error("batch.lease_expired", campaign_id=cid, batch_no=batch_no)
            report.leases_expired += 1
    if view.status == "cancelled":
        for batch_no in overdue:
            moved, _ = store.finish_batch(
                cid, batch_no, "cancelled", "campaign cancelled", "cancelled", only_if="pending"
            )
            report.cancelled_batches += int(moved > 0)
        if view.next_retry_ms is not None:
            store.close_retries(cid, "cancelled", "campaign cancelled")
    elif view.status in _DIALLING and overdue:
        _resend(ctx, cid, overdue, live, report)
    _ask_owed(ctx, view, report)
    next_work = min(
        (due for due in (view.next_poll_ms, view.next_retry_ms) if due is not None), default=None
    )
    if next_work is not None and not view.poll_scheduled:
        report.polls_armed += int(ensure_poll(ctx, cid, max(next_work, now_ms())))
    live_status = view.status in ("running", "paused", "scheduled")
    if live_status and view.open_contacts == 0 and store.finish_if_done(cid):
        log.info("campaign.finished", campaign_id=cid, by="reconciler")
        report.finished += 1
    ended = view.status in ("finished", "cancelled")
    if ended and next_work is None and view.open_contacts == 0 and not view.owed:
        end_campaign(ctx, cid)
        report.deactivated += 1


def _ask_owed(ctx: WorkerContext, view: CampaignView, report: SweepReport) -> None:
    now = now_ms()
    for owed in view.owed:
        if owed.due_ms > now:
            continue
        # Pushed out first: the message is on its way, and must not be doubled next sweep.
        if ctx.store.postpone(view.campaign_id, owed, now + OWED_RESEND_MS, tried=False):
            ctx.send(ACTOR_CONTROL, (view.campaign_id, owed.operation))
            log.info("reconciler.owed_sent", campaign_id=view.campaign_id, operation=owed.operation)
            report.owed_sent += 1


def _resend(
    ctx: WorkerContext,
    cid: str,
    overdue: dict[int, str],
    live: set[tuple[str, int, str]],
    report: SweepReport,
) -> None:
    grace_ms = int(ctx.settings.batch_stale_after_s * 1000)
    lost = []
    for batch_no, token in overdue.items():
        if (cid, batch_no, token) in live or (cid, batch_no, "") in live:
            # Its message is still queued (a long backlog): give it longer, doubling each time.
            times = min(ctx.store.overdue_count(cid, batch_no), MAX_DOUBLINGS)
            ctx.store.postpone_pickup(cid, batch_no, now_ms() + grace_ms * (2**times - 1))
            report.given_longer += 1
        else:
            lost.append(batch_no)
    if lost:
        send_batches(ctx.store, ctx.enqueue, cid, lost)
        log.warning("reconciler.batches_resent", campaign_id=cid, batches=len(lost))
        report.resent += len(lost)


def retention_tick(ctx: WorkerContext, owner: str) -> int:
    """Remove campaigns past `retention_days` if a run is due (at most one per
    `retention_sweep_interval_s` across every process); how many were removed."""
    s = ctx.settings
    if s.retention_days <= 0:
        return 0
    if not ctx.store.take_retention_turn(owner, int(s.retention_sweep_interval_s * 1000)):
        return 0
    report = purge_ended(
        ctx.store,
        s.retention_days,
        limit=RETENTION_PER_RUN,
        tombstone_ms=max(int(s.retention_days * DAY_MS), DAY_MS),
    )
    if len(report.campaigns) + report.skipped >= RETENTION_PER_RUN:
        ctx.store.end_retention_turn(owner)  # more are due: the next tick goes on
    if report.campaigns:
        log.info(
            "retention.swept",
            removed=len(report.campaigns),
            keys=report.keys_removed,
            duration_s=round(report.duration_s, 3),
        )
    return len(report.campaigns)


def archive_tick(ctx: WorkerContext) -> int:
    """Archive a few campaigns that ended more than `archive_after_s` ago (`dispatcher.archive`);
    how many were archived."""
    s = ctx.settings
    if not s.archive_enabled:
        return 0
    report = archive_due_campaigns(
        ctx.store,
        s.archive_after_s,
        limit=ARCHIVE_PER_TICK,
        max_contacts=ARCHIVE_CONTACTS_PER_TICK,
    )
    return len(report.archived)


class Reconciler(Middleware):
    """Runs `sweep` on a daemon thread of every worker process, one process at a time."""

    def __init__(
        self,
        context: Callable[[], WorkerContext],
        interval_s: float,
        trust: RedisTrust | None = None,
    ) -> None:
        self._context = context
        self._interval_s = interval_s
        self._trust = trust
        self._owner = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dispatcher-reconciler", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        # Stopped before the process's HTTP client closes (the balance check uses it).
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        lease_ms = int(self._interval_s * 3000)
        while not self._stop.wait(self._interval_s):
            try:
                if self._trust is not None and self._trust.verify() is not None:
                    continue  # logged by `verify`; nothing is driven on a Redis that lost its data
                ctx = self._context()
                if ctx.store.take_reconciler_lease(self._owner, lease_ms):
                    sweep(ctx)
                    retention_tick(ctx, self._owner)
                    archive_tick(ctx)
            except DispatcherError as exc:
                log.warning("reconciler.failed", error=str(exc))
            except Exception:  # the thread must survive anything to keep doing its job
                log.exception("reconciler.crashed")
