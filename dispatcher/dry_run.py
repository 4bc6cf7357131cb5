"""`submit --dry-run`: what a submission would dial, in how many batches, for how long and how much.

Validates and normalises exactly as a real submission, checks the do-not-call list, and writes
nothing and enqueues nothing. Duplicates are found with an in-memory set (a dry run is for
looking, not for a million-row production list); the duration follows from the pacing settings and
the campaign's own pace, the cost from rough, configurable estimates (the provider publishes no
price list).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from dispatcher.contacts import Contact, Rejection
from dispatcher.producer import RejectionTally, WindowGrouping, refusal
from dispatcher.settings import Settings
from dispatcher.spec import CampaignSpec
from dispatcher.store import StateStore

__all__ = ["DryRunReport", "dry_run"]


@dataclass
class DryRunReport:
    """What a submission would do."""

    would_dial: int = 0
    duplicates: int = 0
    blocked: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    batches: int = 0
    batches_by_zone: dict[str, int] = field(default_factory=dict)
    generated_audio_requests: int = 0
    estimated_duration_s: float = 0.0
    estimated_cost: float = 0.0
    would_be_refused_because: str | None = None
    #: What the account preflight said ("not checked" without one).
    account_check: str = "not checked"

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": True, **asdict(self)}


def dry_run(
    store: StateStore,
    settings: Settings,
    spec: CampaignSpec,
    contacts: Iterable[Contact | Rejection],
    *,
    strict: bool = False,
    preflight: Callable[[CampaignSpec], str] | None = None,
) -> DryRunReport:
    """Everything `submit_campaign` would report, and estimates, without changing anything.

    `preflight` runs first, as it does for a real submission: a campaign the account cannot serve
    is refused (it raises) before a contact is read.
    """
    report = DryRunReport()
    if preflight is not None:
        report.account_check = preflight(spec)
    rejections = RejectionTally()
    seen: set[str] = set()
    per_zone: Counter[str] = Counter()
    grouping = WindowGrouping(spec.window) if spec.window is not None else None
    pending: list[tuple[str, str]] = []

    def flush() -> None:
        blocked = store.dnc_contains_many([phone for phone, _ in pending])
        for (_, zone), is_blocked in zip(pending, blocked, strict=True):
            if is_blocked:
                report.blocked += 1
            else:
                report.would_dial += 1
                per_zone[zone] += 1
        pending.clear()

    for item in contacts:
        if isinstance(item, Rejection):
            rejections.add(item)
            continue
        if item.phone in seen:
            report.duplicates += 1
            continue
        seen.add(item.phone)
        zone = "" if grouping is None else grouping.key(item.phone, item.timezone)
        pending.append((item.phone, zone))
        if len(pending) >= 1000:
            flush()
    flush()
    report.rejected = rejections.count
    report.rejected_by_reason = dict(rejections.by_reason.most_common())
    report.rejected_rows = rejections.rows
    report.would_be_refused_because = refusal(report.rejected, report.would_dial, strict)
    report.batches_by_zone = {
        zone or "all": -(-count // spec.batch_size) for zone, count in sorted(per_zone.items())
    }
    report.batches = sum(report.batches_by_zone.values())
    text = spec.call is not None and spec.call.record.text is not None
    report.generated_audio_requests = (
        (1 if spec.shared_recording else report.batches) if text else 0
    )
    duration = report.batches / settings.provider_rate_per_s
    if spec.dials_per_minute:
        duration = max(duration, report.would_dial / (spec.dials_per_minute / 60.0))
    report.estimated_duration_s = round(duration, 1)
    answered_minutes = (
        report.would_dial * settings.estimate_answer_rate * settings.estimate_minutes_per_answer
    )
    report.estimated_cost = round(
        answered_minutes * settings.estimate_price_per_minute
        + report.generated_audio_requests * settings.estimate_price_per_generated_record,
        2,
    )
    return report
