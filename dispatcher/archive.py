"""Archiving: ended campaigns' contacts move into compressed buckets, so Redis holds ~1/4 of them.

Used by the reconciler (`archive_tick`: a few campaigns per sweep, from the index of campaigns
that left the active set) and by `dispatcher archive` (by hand, one campaign or every one due,
with a dry run). What may be archived, and how, is `store.archive`'s; readers find an archived
campaign's contacts through `ContactStore` as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dispatcher.logs import get_logger
from dispatcher.store import ArchiveOutcome, StateStore, now_ms

__all__ = ["ArchiveReport", "archive_campaigns", "archive_due_campaigns"]

log = get_logger(__name__)


@dataclass
class ArchiveReport:
    """What one archive run looked at and did."""

    cutoff_ms: int
    dry_run: bool
    campaigns: list[ArchiveOutcome] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def archived(self) -> list[ArchiveOutcome]:
        wanted = "would_archive" if self.dry_run else "archived"
        return [c for c in self.campaigns if c.outcome == wanted]

    def as_dict(self) -> dict[str, object]:
        return {
            "cutoff_ms": self.cutoff_ms,
            "dry_run": self.dry_run,
            "campaigns": [
                {
                    "id": c.campaign_id,
                    "name": c.name,
                    "status": c.status,
                    "outcome": c.outcome,
                    "ended_at_ms": c.ended_at_ms,
                    "contacts": c.contacts,
                    "buckets": c.buckets,
                    "archive_bytes": c.archive_bytes,
                    **({"reason": c.reason} if c.reason else {}),
                }
                for c in self.campaigns
            ],
            "archived": 0 if self.dry_run else len(self.archived),
            "contacts": sum(c.contacts for c in self.archived),
            "duration_s": round(self.duration_s, 3),
        }


def _log(outcome: ArchiveOutcome, duration_s: float) -> None:
    if outcome.outcome == "archived":
        log.info(
            "campaign.archived",
            campaign_id=outcome.campaign_id,
            contacts=outcome.contacts,
            buckets=outcome.buckets,
            archive_bytes=outcome.archive_bytes,
            duration_s=round(duration_s, 3),
        )
    elif outcome.outcome == "unarchivable":
        log.warning("campaign.unarchivable", campaign_id=outcome.campaign_id, reason=outcome.reason)


def archive_campaigns(
    store: StateStore,
    after_s: float,
    campaign_ids: list[str] | None = None,
    *,
    dry_run: bool = False,
    limit: int = 1_000_000,
) -> ArchiveReport:
    """Archive (or, with `dry_run`, look at) the named campaigns, or else every campaign that
    ended more than `after_s` ago and is not archived yet (up to `limit`)."""
    if after_s < 0:
        raise ValueError("after_s must not be negative")
    started = time.monotonic()
    report = ArchiveReport(now_ms() - int(after_s * 1000), dry_run)
    ids = (
        campaign_ids
        if campaign_ids is not None
        else store.unarchived_ended(report.cutoff_ms, limit)
    )
    for campaign_id in ids:
        began = time.monotonic()
        outcome = store.archive_campaign(campaign_id, report.cutoff_ms, dry_run=dry_run)
        if outcome.done and outcome.outcome != "archived":
            store.forget_archive_due(campaign_id)
        _log(outcome, time.monotonic() - began)
        report.campaigns.append(outcome)
    report.duration_s = time.monotonic() - started
    return report


def archive_due_campaigns(
    store: StateStore, after_s: float, *, limit: int, max_contacts: int
) -> ArchiveReport:
    """The reconciler's share: up to `limit` campaigns of the archive index that left the active
    set more than `after_s` ago, stopping once `max_contacts` contacts were archived. One not
    archivable yet (busy, written to meanwhile, ended more recently) goes to the back of the
    index, to be looked at again `after_s` later."""
    started = time.monotonic()
    report = ArchiveReport(now_ms() - int(after_s * 1000), False)
    archived = 0
    for campaign_id in store.archive_due(report.cutoff_ms, limit):
        began = time.monotonic()
        outcome = store.archive_campaign(campaign_id, report.cutoff_ms)
        if outcome.outcome == "not_ended" or (outcome.done and outcome.outcome != "archived"):
            store.forget_archive_due(campaign_id)  # left the active set again once it ends
        elif not outcome.done:
            store.archive_later(campaign_id, now_ms())
            log.info(
                "campaign.archive_later",
                campaign_id=campaign_id,
                outcome=outcome.outcome,
                reason=outcome.reason,
            )
        _log(outcome, time.monotonic() - began)
        report.campaigns.append(outcome)
        archived += outcome.contacts if outcome.outcome == "archived" else 0
        if archived >= max_contacts:
            break
    report.duration_s = time.monotonic() - started
    return report
