"""Taking intake messages: a series of parts under one `external_id` becomes one campaign.

The first message of a series creates a draft and a record (`Keys.intake`). Each part is applied
in one transaction with the mark that it arrived, so a part delivered twice is applied once. When
the last part is in, the draft goes live exactly as a submission through the API does (in the same
transaction the record becomes `submitted` and an `intake` event is published). A message that
cannot be taken (bad spec, wrong types, unknown fields, too large, parts that disagree) refuses the
whole series: the draft is deleted and the record says why, readable by `external_id` (HTTP
`GET /intake/{external_id}`, `read_intake` in Python) and published as an `intake` event. A series
whose next part does not come in time is refused the same way by the reconciler
(`expire_drafts`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from dispatcher.contacts import Rejection, read_iterable
from dispatcher.errors import CampaignNotFound
from dispatcher.intake.contract import IntakeMessage, IntakeRefused, external_id_of, parse_message
from dispatcher.intake.idempotency import Fingerprint, new_campaign_id
from dispatcher.logs import get_logger
from dispatcher.producer import (
    CHUNK,
    REPORTED_REJECTIONS,
    RejectionTally,
    SubmitReport,
    WindowGrouping,
    campaign_extra,
    contact_row,
    go_live,
)
from dispatcher.queue import Enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore, SubmissionGuard, now_ms

__all__ = ["IntakeRecord", "expire_drafts", "read_intake", "take_message"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeRecord:
    """What became of a series: `draft` (parts still coming), `submitted` or `refused`."""

    external_id: str
    state: str
    campaign_id: str | None
    parts: int
    received_parts: int
    reason: str | None
    errors: list[dict[str, str]]
    report: dict[str, Any] | None
    updated_at_ms: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "state": self.state,
            "campaign_id": self.campaign_id,
            "parts": self.parts,
            "received_parts": self.received_parts,
            "reason": self.reason,
            "errors": self.errors,
            "report": self.report,
            "updated_at_ms": self.updated_at_ms,
        }


def read_intake(store: StateStore, external_id: str) -> IntakeRecord | None:
    """The record of series `external_id`, or None if there is none (or it expired)."""
    raw = store.record(store.keys.intake(external_id))
    if not raw:
        return None
    return IntakeRecord(
        external_id=external_id,
        state=raw.get("state", ""),
        campaign_id=raw.get("campaign_id") or None,
        parts=int(raw.get("parts") or 0),
        received_parts=int(raw.get("received") or 0),
        reason=raw.get("reason") or None,
        errors=json.loads(raw["errors"]) if raw.get("errors") else [],
        report=json.loads(raw["report"]) if raw.get("report") else None,
        updated_at_ms=int(raw["updated_at"]) if raw.get("updated_at") else None,
    )


def take_message(
    store: StateStore,
    enqueue: Enqueue,
    settings: Settings,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> str:
    """Take one intake message; what happened (`applied`, `submitted`, `duplicate`, `refused`,
    `ignored`). Never raises for a bad message (only for Redis being away)."""
    external_id = external_id_of(kwargs)
    key = None if external_id is None else store.keys.intake(external_id)
    record = {} if key is None else store.record(key)
    if record.get("state") in ("submitted", "refused", "purged"):
        log.info("intake.ignored", external_id=external_id, state=record["state"])
        return "ignored"
    try:
        message = parse_message(args, kwargs)
        if message.spec.callback_url is not None and settings.callback_secret is None:
            raise IntakeRefused(
                "callback_url needs DISPATCHER_CALLBACK_SECRET on the workers",
                external_id,
                [("spec.callback_url", "webhooks to callers are not configured")],
            )
        return _take(store, enqueue, settings, message, record)
    except IntakeRefused as refused:
        _refuse(store, settings, refused.external_id, refused.message, refused.errors)
        return "refused"


def _take(
    store: StateStore,
    enqueue: Enqueue,
    settings: Settings,
    message: IntakeMessage,
    record: dict[str, str],
) -> str:
    key = store.keys.intake(message.external_id)
    spec = message.spec
    spec_fp = Fingerprint(spec, message.strict).spec_digest
    deadline = now_ms() + int(settings.intake_draft_ttl_s * 1000)
    if not record:
        campaign_id = new_campaign_id()
        extra = {**campaign_extra(spec), "intake": message.external_id}
        store.create_campaign(
            campaign_id, spec.name, spec.to_json(), extra=extra, draft_deadline_ms=deadline
        )
        fields = {
            "external_id": message.external_id,
            "parts": message.parts,
            "spec_fp": spec_fp,
            "received": 0,
        }
        found = store.begin_intake(key, campaign_id, fields)
        if found is not None:  # another part of the series began it meanwhile
            store.delete_campaign(campaign_id)
            record = found
        else:
            record = {"campaign_id": campaign_id, **{k: str(v) for k, v in fields.items()}}
    if record.get("spec_fp") != spec_fp or record.get("parts") != str(message.parts):
        raise IntakeRefused(
            f"part {message.part} has another spec, strict or parts than the series' first part",
            message.external_id,
            [("spec", "every part must carry the same spec, strict and parts")],
        )
    campaign_id = record["campaign_id"]
    grouping = WindowGrouping(spec.window) if spec.window is not None else None
    chunks, tallies = _read_part(message, grouping, settings.default_region)
    result = store.apply_part(
        key, campaign_id, message.part, spec.batch_size, chunks, tallies, deadline
    )
    if result.duplicate:
        log.info("intake.part_duplicate", external_id=message.external_id, part=message.part)
    elif not result.applied:
        log.info("intake.ignored", external_id=message.external_id, state=result.state)
        return "ignored"
    else:
        log.info(
            "intake.part_applied",
            external_id=message.external_id,
            campaign_id=campaign_id,
            part=message.part,
            parts=message.parts,
        )
    # Also after a duplicate: the message that applied the last part may have died before this.
    finished = _finish(store, enqueue, settings, message, campaign_id)
    if finished:
        return finished
    return "duplicate" if result.duplicate else "applied"


def _read_part(
    message: IntakeMessage, grouping: WindowGrouping | None, default_region: str
) -> tuple[list[list[tuple[str, str, str, str]]], dict[str, Any]]:
    tally = RejectionTally()
    rows: list[tuple[str, str, str, str]] = []
    count = 0
    for item in read_iterable(message.contacts, default_region):
        count += 1
        if isinstance(item, Rejection):
            tally.add(item)
        else:
            rows.append(contact_row(item, grouping))
    for row in tally.rows:
        row["part"] = message.part
    tallies: dict[str, Any] = {
        "rows": count,
        "rejected": tally.count,
        f"rj:{message.part}": json.dumps(tally.rows),
        f"rr:{message.part}": json.dumps(dict(tally.by_reason)),
    }
    chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    return chunks, tallies


def _finish(
    store: StateStore,
    enqueue: Enqueue,
    settings: Settings,
    message: IntakeMessage,
    campaign_id: str,
) -> str:
    """Take the draft live if every part is in: `submitted` or `refused` if this call did."""
    key = store.keys.intake(message.external_id)
    record = store.record(key)
    if record.get("state") != "draft" or record.get("campaign_id") != campaign_id:
        return ""
    parts = int(record.get("parts") or 0)
    if sum(1 for name in record if name.startswith("p:")) < parts:
        return ""
    report = _report(store, campaign_id, record, parts)
    if message.strict and report.rejected:
        report.refused_because = f"{report.rejected} row(s) rejected and strict is set"
    elif report.accepted == 0:
        report.refused_because = (
            "no contact to dial (every row was rejected, a duplicate or blocked)"
        )
    if report.refused_because is not None:
        refused = SubmitReport(**{**vars(report), "campaign_id": None, "status": "refused"})
        _refuse(store, settings, message.external_id, report.refused_because, [], refused)
        return "refused"
    guard = SubmissionGuard(
        key,
        ("draft",),
        {"state": "submitted", "updated_at": now_ms()},
        event={
            "type": "intake",
            "external_id": message.external_id,
            "state": "submitted",
            "campaign_id": campaign_id,
            "reason": "",
        },
    )
    live = go_live(
        store, enqueue, message.spec, report, pace_per_s=settings.provider_rate_per_s, guard=guard
    )
    if not live:
        return ""
    log.info("intake.submitted", external_id=message.external_id, campaign_id=campaign_id)
    return "submitted"


def _report(
    store: StateStore, campaign_id: str, record: dict[str, str], parts: int
) -> SubmitReport:
    counts = store.counts(campaign_id)
    rows, rejected = int(record.get("rows") or 0), int(record.get("rejected") or 0)
    accepted, blocked = counts.get("pending", 0), counts.get("blocked", 0)
    by_reason: Counter[str] = Counter()
    rejected_rows: list[dict[str, Any]] = []
    for part in range(1, parts + 1):
        by_reason.update(json.loads(record.get(f"rr:{part}") or "{}"))
        rejected_rows += json.loads(record.get(f"rj:{part}") or "[]")
    return SubmitReport(
        campaign_id=campaign_id,
        status="draft",
        accepted=accepted,
        duplicates=rows - rejected - accepted - blocked,
        blocked=blocked,
        rejected=rejected,
        rejected_by_reason=dict(by_reason.most_common()),
        rejected_rows=rejected_rows[:REPORTED_REJECTIONS],
    )


def _refuse(
    store: StateStore,
    settings: Settings,
    external_id: str | None,
    reason: str,
    errors: list[tuple[str, str]],
    report: SubmitReport | None = None,
) -> None:
    """Refuse a whole series: the record says why, its draft (if any) is deleted."""
    log.warning(
        "intake.refused",
        external_id=external_id,
        reason=reason,
        errors=[f"{field}: {message}" for field, message in errors][:20],
    )
    if external_id is None:
        return  # nothing to record it under: the log line is all there is
    key = store.keys.intake(external_id)
    record = store.record(key)
    fields: dict[str, Any] = {
        "external_id": external_id,
        "reason": reason,
        "errors": json.dumps([{"field": f, "message": m} for f, m in errors][:100]),
        "campaign_id": "",
    }
    if report is not None:
        fields["report"] = json.dumps(report.as_dict())
    keep_ms = int(settings.intake_refusal_ttl_s * 1000)
    store.refuse_intake(key, fields, keep_ms, event={"external_id": external_id, "reason": reason})
    if record.get("campaign_id"):
        store.delete_campaign(record["campaign_id"])


def expire_drafts(store: StateStore, settings: Settings, limit: int = 100) -> int:
    """Delete drafts whose submitter went away; refuse their intake series. How many."""
    expired = 0
    for campaign_id in store.expired_drafts(now_ms(), limit):
        try:
            meta = store.meta(campaign_id)
        except CampaignNotFound:
            store.forget_draft(campaign_id)
            continue
        if meta.get("status") != "draft":
            store.forget_draft(campaign_id)
            continue
        external_id = meta.get("intake")
        if external_id:
            record = store.record(store.keys.intake(external_id))
            parts = int(record.get("parts") or 0)
            missing = [p for p in range(1, parts + 1) if f"p:{p}" not in record]
            reason = f"part(s) {_ranges(missing)} of {parts} never arrived"
            _refuse(store, settings, external_id, reason, [("part", reason)])
        else:
            store.delete_campaign(campaign_id)
        log.warning("draft.expired", campaign_id=campaign_id, external_id=external_id)
        expired += 1
    return expired


def _ranges(numbers: list[int]) -> str:
    """`1-3, 5` for [1, 2, 3, 5] (pure)."""
    out: list[str] = []
    start = prev = None
    for n in [*numbers, None]:
        if n is not None and prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ", ".join(out) or "none"
