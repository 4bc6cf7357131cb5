"""Submitting a campaign: validate, normalise, dedupe, check the DNC list, batch, enqueue.

Contacts stream through in chunks: each chunk is one Lua call that dedupes against what the
campaign already holds, checks the do-not-call list and appends the accepted phones to batches, so
memory stays flat however long the list is. The campaign stays a `draft` (which no worker acts on)
until every row has been read; only then is it marked submitted and one message per batch
enqueued. Any failure before that deletes the draft, so a refused submission leaves nothing behind.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dispatcher.batch_messages import pickup_spacing_ms, send_batches
from dispatcher.contacts import Contact, Rejection
from dispatcher.lifecycle import CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.queue import Enqueue
from dispatcher.spec import CampaignSpec
from dispatcher.store import StateStore, now_ms
from dispatcher.windows import CallWindow, contact_zone, group_key

__all__ = ["SubmitReport", "new_campaign_id", "refusal", "submit_campaign"]

log = get_logger(__name__)

#: How many rejected rows the report lists one by one (all are counted).
REPORTED_REJECTIONS = 100


def _encode_data(data: dict[str, str]) -> str:
    """A contact's own columns as compact JSON (strings only: faster than `json.dumps`)."""
    quote = json.encoder.encode_basestring
    return "{" + ",".join(f"{quote(k)}:{quote(v)}" for k, v in data.items()) + "}"


#: Contacts per Lua call while submitting.
CHUNK = 1000


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
        }


def new_campaign_id() -> str:
    """A short random id, safe in Redis keys and URLs."""
    return secrets.token_hex(8)


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
) -> SubmitReport:
    """Submit a campaign; returns the report. Nothing is enqueued unless it is accepted.

    With `strict`, one rejected row refuses the whole submission (the report still lists every
    rejected row it saw). A submission with no dialable contact at all is refused too.
    `pace_per_s` (the provider's request budget) tells how fast the batch backlog can drain, so
    the reconciler does not take a long queue for lost messages.
    `preflight` (e.g. `AccountCheck.check`) runs first and refuses by raising, before anything
    is written.
    """
    if preflight is not None:
        preflight(spec)
    grouping = WindowGrouping(spec.window) if spec.window is not None else None
    campaign_id = new_campaign_id()
    report = SubmitReport(campaign_id=campaign_id, status=CampaignStatus.DRAFT.value)
    rejections = RejectionTally()
    store.create_campaign(campaign_id, spec.name, spec.to_json())
    # One chunk is written (by a second thread, waiting on Redis without the GIL) while the next
    # is read and normalised here; chunks still go to Redis one after the other, in order.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="submit-writer")
    in_flight: Future[None] | None = None
    try:
        chunk: list[tuple[str, str, str]] = []
        for item in contacts:
            if isinstance(item, Rejection):
                rejections.add(item)
                continue
            data = item.data
            if item.timezone:
                data = {**data, "timezone": item.timezone}
            group = "" if grouping is None else grouping.key(item.phone, item.timezone)
            chunk.append((item.phone, _encode_data(data) if data else "", group))
            if len(chunk) >= CHUNK:
                if in_flight is not None:
                    in_flight.result()
                in_flight = writer.submit(
                    _flush, store, campaign_id, spec.batch_size, chunk, report
                )
                chunk = []
        if in_flight is not None:
            in_flight.result()
            in_flight = None
        if chunk:
            _flush(store, campaign_id, spec.batch_size, chunk, report)
        report.rejected = rejections.count
        report.rejected_by_reason = dict(rejections.by_reason.most_common())
        report.rejected_rows = rejections.rows
        report.refused_because = refusal(report.rejected, report.accepted, strict)
    except BaseException:
        if in_flight is not None:
            in_flight.exception()  # let the chunk being written land before deleting everything
        store.delete_campaign(campaign_id)
        raise
    finally:
        writer.shutdown(wait=True)
    if report.refused_because is not None:
        store.delete_campaign(campaign_id)
        log.warning(
            "campaign.refused",
            campaign_id=campaign_id,
            reason=report.refused_because,
            rejected=report.rejected,
        )
        report.campaign_id = None
        report.status = "refused"
        return report

    moment = now or datetime.now(UTC)
    later = spec.starts_later_than(moment)
    status = CampaignStatus.SCHEDULED if later else CampaignStatus.RUNNING
    report.batches = store.batch_count(campaign_id)
    # Plan-ahead campaigns are created now (planned at the provider); others wait for the start.
    delay_ms = None
    if later and spec.start_at is not None and not spec.plan_ahead:
        delay_ms = int((spec.start_at - moment).total_seconds() * 1000)
    spacing_ms = pickup_spacing_ms(spec, pace_per_s)
    # The batches are indexed with their pickup times in the same transaction that makes the
    # campaign live: if this process dies before (or while) enqueueing, the reconciler sends them.
    store.complete_submission(
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
    )
    send_batches(
        store,
        enqueue,
        campaign_id,
        range(1, report.batches + 1),
        delay_ms=delay_ms,
        spacing_ms=spacing_ms,
    )
    store.set_meta(campaign_id, {"enqueued": report.batches})
    report.status = status.value
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
    return report


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


def _flush(
    store: StateStore,
    campaign_id: str,
    batch_size: int,
    chunk: list[tuple[str, str, str]],
    report: SubmitReport,
) -> None:
    for code in store.add_contacts(campaign_id, batch_size, chunk):
        if code == 1:
            report.accepted += 1
        elif code == 2:
            report.blocked += 1
        else:
            report.duplicates += 1
