"""Retention: campaigns that ended long ago are removed, so a `noeviction` Redis does not fill up.

Used by the reconciler (`RetentionSweep`, at most once per `retention_sweep_interval_s` across all
worker processes, bounded per run) and by `dispatcher purge` (by hand, with a dry run). What may be
removed, and how, is `store.retention`'s: only finished or cancelled campaigns that ended before
the cutoff and have nothing left to do; never the do-not-call list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from dispatcher.logs import get_logger
from dispatcher.store import Ended, StateStore, now_ms

__all__ = ["DAY_MS", "PurgeReport", "cutoff_ms", "purge_ended"]

log = get_logger(__name__)

DAY_MS = 86_400_000


def cutoff_ms(older_than_days: float, now: int) -> int:
    """Campaigns that ended at or before this moment are past `older_than_days` (pure)."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    return now - int(older_than_days * DAY_MS)


@dataclass
class PurgeReport:
    """What one purge found and removed."""

    cutoff_ms: int
    dry_run: bool
    campaigns: list[Ended] = field(default_factory=list)  # removed (or, dry run, removable)
    keys_removed: int = 0
    skipped: int = 0  # found removable, then not (it changed meanwhile)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "cutoff_ms": self.cutoff_ms,
            "dry_run": self.dry_run,
            "campaigns": [
                {
                    "id": c.campaign_id,
                    "name": c.name,
                    "status": c.status,
                    "created_at_ms": c.created_at_ms,
                    "ended_at_ms": c.ended_at_ms,
                    "contacts": c.contacts,
                }
                for c in self.campaigns
            ],
            "removed": 0 if self.dry_run else len(self.campaigns),
            "keys_removed": self.keys_removed,
            "skipped": self.skipped,
        }


def purge_ended(
    store: StateStore,
    older_than_days: float,
    *,
    dry_run: bool = False,
    limit: int = 1_000_000,
    tombstone_ms: int = 30 * DAY_MS,
) -> PurgeReport:
    """Remove (or, with `dry_run`, list) up to `limit` campaigns that ended more than
    `older_than_days` ago; their submission records become tombstones kept `tombstone_ms`."""
    started = time.monotonic()
    report = PurgeReport(cutoff_ms(older_than_days, now_ms()), dry_run)
    found = store.purgeable(report.cutoff_ms, limit)
    if dry_run:
        report.campaigns = found
    for ended in [] if dry_run else found:
        removed = store.purge_campaign(ended.campaign_id, report.cutoff_ms, tombstone_ms)
        if removed == 0:
            report.skipped += 1
            continue
        report.campaigns.append(ended)
        report.keys_removed += removed
        log.info(
            "campaign.purged",
            campaign_id=ended.campaign_id,
            status=ended.status,
            ended_at_ms=ended.ended_at_ms,
            keys=removed,
        )
    report.duration_s = time.monotonic() - started
    return report
