"""Submitting a campaign: validate, normalise, dedupe, check the DNC list, batch, enqueue.

Contacts stream through in chunks: each chunk is one Lua call that dedupes against what the
campaign already holds, checks the do-not-call list and appends the accepted phones to batches, so
memory stays flat however long the list is. The campaign stays a `draft` (which no worker acts on)
until every row has been read; only then is it marked submitted and one message per batch
enqueued. Any failure before that deletes the draft, so a refused submission leaves nothing behind.

With an idempotency key (`dispatcher.intake.idempotency`) a retried submission answers the original
report instead of creating a second campaign.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dispatcher.batch_messages import pickup_spacing_ms, send_batches
from dispatcher.contacts import Contact, Rejection
from dispatcher.errors import SubmissionInProgress
from dispatcher.intake.idempotency import Fingerprint, Reservation, new_campaign_id, reserve
from dispatcher.lifecycle import CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.queue import Enqueue
from dispatcher.spec import CampaignSpec
from dispatcher.store import StateStore, SubmissionGuard, now_ms
from dispatcher.store.chunks import ChunkWriter
from dispatcher.windows import CallWindow, contact_zone, group_key

__all__ = [
    "SubmitReport",
    "campaign_extra",
    "contact_row",
    "go_live",
    "new_campaign_id",
    "refusal",
    "submit_campaign",
]

log = get_logger(__name__)

#: How many rejected rows the report lists one by one (all are counted).
REPORTED_REJECTIONS = 100


_quote = json.encoder.encode_basestring  # the C encoder when available; keeps non-ASCII as is


def _encode_data(data: dict[str, str]) -> str:
    """A contact's own columns as compact JSON (strings only: faster than `json.dumps`)."""
    if len(data) == 1:  # the common case, a name column: no generator, no join
        for key, value in data.items():
            return "{" + _quote(key) + ":" + _quote(value) + "}"
    return "{" + ",".join([_quote(k) + ":" + _quote(v) for k, v in data.items()]) + "}"


#: Contacts per Lua call while submitting.
CHUNK = 1000
#: A draft whose submitter has not been heard of for this long is deleted by the reconciler.
DRAFT_TTL_MS = 10 * 60_000
#: How long an idempotency key stays reserved without news from its submission.
DEFAULT_LEASE_MS = 30_000


@dataclass
class SubmitReport:
    """What a submission did, contact by contact class."""

    campaign_id: str | None
    status: str
    accepted: int = 0
    duplicates: int = 0
    blocked: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    refused_because: str | None = None
    replayed: bool = False  # the original report of an idempotency key used before

    @property
    def total_rows(self) -> int:
        return self.accepted + self.duplicates + self.blocked + self.rejected

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "status": self.status,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "blocked": self.blocked,
            "rejected": self.rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "rejected_rows": self.rejected_rows,
            "batches": self.batches,
            "refused_because": self.refused_because,
            "replayed": self.replayed,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SubmitReport:
        """The report `as_dict` wrote."""
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class RejectionTally:
    """Counts rejected rows by reason and keeps the first `REPORTED_REJECTIONS` of them."""

    def __init__(self) -> None:
        self.count = 0
        self.by_reason: Counter[str] = Counter()
        self.rows: list[dict[str, Any]] = []

    def add(self, item: Rejection) -> None:
        self.count += 1
        # "phone: not a valid number for region US" is counted under its text before any detail.
        self.by_reason[item.reason.split(" (", 1)[0][:120]] += 1
        if len(self.rows) < REPORTED_REJECTIONS:
            self.rows.append({"row": item.row, "reason": item.reason, "value": item.value})


def refusal(rejected: int, dialable: int, strict: bool) -> str | None:
    """Pure: why a submission with these counts is refused, or None (the dry run asks too)."""
    if strict and rejected:
        return f"{rejected} row(s) rejected and --strict is set"
    if dialable == 0:
        return "no contact to dial (every row was rejected, a duplicate or blocked)"
    return None


def submit_campaign(
    store: StateStore,
    enqueue: Enqueue,
    spec: CampaignSpec,
    contacts: Iterable[Contact | Rejection],
    *,
    strict: bool = False,
    now: datetime | None = None,
    pace_per_s: float | None = None,
    preflight: Callable[[CampaignSpec], object] | None = None,
    idempotency_key: str | None = None,
    reservation: Reservation | None = None,
    lease_ms: int = DEFAULT_LEASE_MS,
) -> SubmitReport:
    """Submit a campaign; returns the report. Nothing is enqueued unless it is accepted.

    With `strict`, one rejected row refuses the whole submission (the report still lists every
    rejected row it saw). A submission with no dialable contact at all is refused too.
    `pace_per_s` (the provider's request budget) tells how fast the batch backlog can drain, so
    the reconciler does not take a long queue for lost messages.
    `preflight` (e.g. `AccountCheck.check`) runs first and refuses by raising, before anything
    is written.

    With `idempotency_key` (or a `reservation` of one, made before reading the request), a key used
    before answers its original report (`replayed`) when the content is the same (without a
    preflight), and raises `IdempotencyKeyReused` when it is not, or `SubmissionInProgress` while
    the first submission with it is still being read.
    """
    if reservation is None and idempotency_key is not None:
        reservation = reserve(store, idempotency_key, lease_ms)
    if reservation is not None and not reservation.ours:
        return _replay(reservation, spec, contacts, strict)
    if preflight is not None:
        try:
            preflight(spec)
        except BaseException:
            if reservation is not None:
                store.release_record(reservation.key, reservation.campaign_id)
            raise
    grouping = WindowGrouping(spec.window) if spec.window is not None else None
    campaign_id = new_campaign_id() if reservation is None else reservation.campaign_id
    fingerprint = None if reservation is None else Fingerprint(spec, strict)
    report = SubmitReport(campaign_id=campaign_id, status=CampaignStatus.DRAFT.value)
    rejections = RejectionTally()
    keeper = _Keeper(store, campaign_id, reservation, lease_ms)
    store.create_campaign(
        campaign_id,
        spec.name,
        spec.to_json(),
        extra=campaign_extra(spec),
        draft_deadline_ms=now_ms() + DRAFT_TTL_MS,
    )
    # Chunks are pipelined on one connection: Redis adds one while the next is read here.
    writer = ChunkWriter(store, campaign_id, spec.batch_size)
    try:
        with writer:
            chunk: list[tuple[str, str, str, str]] = []
            for item in contacts:
                if isinstance(item, Rejection):
                    rejections.add(item)
                    if fingerprint is not None:
                        fingerprint.rejection(item.row, item.reason)
                    continue
                if grouping is None and item.timezone is None:  # the hot case: contact_row inlined
                    data = item.data
                    row = (item.phone, _encode_data(data) if data else "", "", item.ref or "")
                else:
                    row = contact_row(item, grouping)
                if fingerprint is not None:
                    fingerprint.contact(row[0], row[1], row[3])
                chunk.append(row)
                if len(chunk) >= CHUNK:
                    keeper.keep()
                    _count(report, writer.send(chunk))
                    chunk = []
            if chunk:
                _count(report, writer.send(chunk))
            _count(report, writer.drain())
        report.rejected = rejections.count
        report.rejected_by_reason = dict(rejections.by_reason.most_common())
        report.rejected_rows = rejections.rows
        report.refused_because = refusal(report.rejected, report.accepted, strict)
    except BaseException:
        store.delete_campaign(campaign_id)
        keeper.release()
        raise
    if report.refused_because is not None:
        store.delete_campaign(campaign_id)
        keeper.release()
        log.warning(
            "campaign.refused",
            campaign_id=campaign_id,
            reason=report.refused_because,
            rejected=report.rejected,
        )
        report.campaign_id = None
        report.status = "refused"
        return report
    guard = None
    if reservation is not None and fingerprint is not None:
        guard = SubmissionGuard(
            reservation.key,
            ("reading",),
            {
                "state": "done",
                "spec_fp": fingerprint.spec_digest,
                "content_fp": fingerprint.content_digest(),
            },
        )
    try:
        live = go_live(store, enqueue, spec, report, now=now, pace_per_s=pace_per_s, guard=guard)
    except BaseException:
        if report.status == CampaignStatus.DRAFT.value:
            store.delete_campaign(campaign_id)
            keeper.release()
        raise
    if not live:
        store.delete_campaign(campaign_id)
        log.warning("campaign.superseded", campaign_id=campaign_id)
        raise SubmissionInProgress(
            "this submission took too long and another one with its idempotency key (or the "
            "draft's expiry) took over; retry to read the outcome"
        )
    return report


def go_live(
    store: StateStore,
    enqueue: Enqueue,
    spec: CampaignSpec,
    report: SubmitReport,
    *,
    now: datetime | None = None,
    pace_per_s: float | None = None,
    guard: SubmissionGuard | None = None,
) -> bool:
    """Make a fully read draft live and enqueue its batches; fills in the report's status.

    False (and nothing done) if the draft is gone, or with a `guard` whose record no longer
    names this draft; the report is stored in the guard's record in the same transaction.
    """
    assert report.campaign_id is not None  # a refused report never goes live
    campaign_id = report.campaign_id
    moment = now or datetime.now(UTC)
    later = spec.starts_later_than(moment)
    status = CampaignStatus.SCHEDULED if later else CampaignStatus.RUNNING
    report.batches = store.batch_count(campaign_id)
    # Plan-ahead campaigns are created now (planned at the provider); others wait for the start.
    delay_ms = None
    if later and spec.start_at is not None and not spec.plan_ahead:
        delay_ms = int((spec.start_at - moment).total_seconds() * 1000)
    spacing_ms = pickup_spacing_ms(spec, pace_per_s)
    final = SubmitReport(**{**vars(report), "status": status.value})
    if guard is not None:
        guard = SubmissionGuard(
            guard.key,
            guard.states,
            {**guard.done, "report": json.dumps(final.as_dict())},
            guard.event,
        )
    # The batches are indexed with their pickup times in the same transaction that makes the
    # campaign live: if this process dies before (or while) enqueueing, the reconciler sends them.
    applied = store.complete_submission(
        campaign_id,
        status,
        {
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": report.rejected,
            "submitted_at": now_ms(),
        },
        first_pickup_ms=now_ms() + (delay_ms or 0),
        spacing_ms=spacing_ms,
        guard=guard,
    )
    if not applied:
        return False
    report.status = status.value
    send_batches(
        store,
        enqueue,
        campaign_id,
        range(1, report.batches + 1),
        delay_ms=delay_ms,
        spacing_ms=spacing_ms,
    )
    store.set_meta(campaign_id, {"enqueued": report.batches})
    log.info(
        "campaign.submitted",
        campaign_id=campaign_id,
        status=status.value,
        accepted=report.accepted,
        duplicates=report.duplicates,
        blocked=report.blocked,
        rejected=report.rejected,
        batches=report.batches,
    )
    return True


def campaign_extra(spec: CampaignSpec) -> dict[str, Any]:
    """The meta fields a campaign keeps beside its spec for cheap reading: metadata, callback."""
    extra: dict[str, Any] = {}
    if spec.metadata is not None:
        extra["metadata"] = json.dumps(spec.metadata, separators=(",", ":"), ensure_ascii=False)
    if spec.callback_url is not None:
        extra["callback_url"] = spec.callback_url
    return extra


def contact_row(item: Contact, grouping: WindowGrouping | None) -> tuple[str, str, str, str]:
    """(phone, data JSON or '', window group or '', ref or '') as the store takes a contact."""
    data = item.data
    if item.timezone:
        data = {**data, "timezone": item.timezone}
    group = "" if grouping is None else grouping.key(item.phone, item.timezone)
    return item.phone, _encode_data(data) if data else "", group, item.ref or ""


def _replay(
    reservation: Reservation,
    spec: CampaignSpec,
    contacts: Iterable[Contact | Rejection],
    strict: bool,
) -> SubmitReport:
    """The original report of a key used before, once the content is known to be the same."""
    reservation.check_not_in_progress()
    assert reservation.existing is not None  # not ours, and not in progress: done
    fingerprint = Fingerprint(spec, strict)
    reservation.check_same(fingerprint, content=False)
    for item in contacts:
        if isinstance(item, Rejection):
            fingerprint.rejection(item.row, item.reason)
        else:
            phone, data, _, ref = contact_row(item, None)
            fingerprint.contact(phone, data, ref)
    reservation.check_same(fingerprint, content=True)
    report = SubmitReport.from_dict(json.loads(reservation.existing["report"]))
    report.replayed = True
    log.info("campaign.replayed", campaign_id=report.campaign_id)
    return report


class _Keeper:
    """Keeps a long submission's draft (and idempotency key) from expiring while it is read."""

    EVERY_S = 5.0

    def __init__(
        self, store: StateStore, campaign_id: str, reservation: Reservation | None, lease_ms: int
    ) -> None:
        self.store = store
        self.campaign_id = campaign_id
        self.reservation = reservation
        self.lease_ms = lease_ms
        self._last = time.monotonic()

    def keep(self) -> None:
        if time.monotonic() - self._last < self.EVERY_S:
            return
        self._last = time.monotonic()
        self.store.touch_draft(self.campaign_id, now_ms() + DRAFT_TTL_MS)
        if self.reservation is not None:
            self.store.extend_record(self.reservation.key, self.campaign_id, self.lease_ms)

    def release(self) -> None:
        if self.reservation is not None:
            self.store.release_record(self.reservation.key, self.campaign_id)


class WindowGrouping:
    """Which window group (time zone) a contact's calls are timed in; cached per number prefix.

    The time zone data of a number depends on its leading digits only, so the lookup (about 70 us
    in phonenumbers) is done once per prefix, not once per contact.
    """

    def __init__(self, window: CallWindow) -> None:
        self.window = window
        self._by_prefix: dict[str, str] = {}

    def key(self, phone: str, explicit_zone: str | None) -> str:
        if explicit_zone:
            return group_key(
                self.window, contact_zone(phone, explicit_zone, self.window.default_timezone)
            )
        prefix = phone[:-4]
        found = self._by_prefix.get(prefix)
        if found is None:
            zone = contact_zone(phone, None, self.window.default_timezone)
            found = self._by_prefix[prefix] = group_key(self.window, zone)
        return found


def _count(report: SubmitReport, answered: list[list[int]]) -> None:
    """Count what `add_contacts` did with each contact of the answered chunks."""
    for codes in answered:
        accepted, blocked = codes.count(1), codes.count(2)
        report.accepted += accepted
        report.blocked += blocked
        report.duplicates += len(codes) - accepted - blocked
