"""Guards that pause a campaign on their own: error bursts and a low account balance.

Errors are counted per campaign and per class of the client's error tree (rejected, ambiguous,
retry-safe separately) in a sliding window; a class over its threshold pauses the campaign with
the reason stored (shown by `status`) and logged. The balance is read with `userInfo` by one worker
at a time, every `balance_check_interval_s`, and cached in Redis; below `min_balance` every running
campaign is paused. An `InsufficientBalance` answer to a create pauses the campaign at once.
Resuming clears the reason (a guard that still holds will pause it again).
"""

from __future__ import annotations

from dispatcher.controls import Controls
from dispatcher.effebot.errors import EffebotError
from dispatcher.errors import TransitionRefused
from dispatcher.lifecycle import AUTO_PAUSE_PREFIX, CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.store import now_ms
from workers.context import WorkerContext
from workers.limits import provider_limit

__all__ = ["auto_pause", "check_balance", "record_error"]

log = get_logger(__name__)


def _controls(ctx: WorkerContext) -> Controls:
    return Controls(ctx.store, ctx.enqueue, pace_per_s=ctx.settings.provider_rate_per_s)


def auto_pause(ctx: WorkerContext, campaign_id: str, reason: str) -> bool:
    """Pause the campaign for `reason` unless it is not running; True if this call paused it."""
    try:
        _controls(ctx).pause(campaign_id, f"{AUTO_PAUSE_PREFIX}{reason}")
    except TransitionRefused:
        return False
    log.warning("campaign.auto_paused", campaign_id=campaign_id, reason=reason)
    return True


def record_error(ctx: WorkerContext, campaign_id: str, error_class: str) -> None:
    """Count one failed create of `error_class`; pause the campaign if its class is over."""
    s = ctx.settings
    threshold = {
        "rejected": s.autopause_rejected,
        "ambiguous": s.autopause_ambiguous,
        "retry_safe": s.autopause_retry_safe,
    }[error_class]
    if threshold <= 0:
        return
    window_ms = int(s.autopause_window_s * 1000)
    count = ctx.store.count_event(campaign_id, f"err:{error_class}", window_ms)
    if count >= threshold:
        auto_pause(
            ctx,
            campaign_id,
            f"{count} {error_class.replace('_', '-')} errors within {s.autopause_window_s:g}s",
        )


def check_balance(ctx: WorkerContext) -> float | None:
    """Read the balance (one worker per interval), cache it, pause everything if it is too low."""
    s = ctx.settings
    if s.min_balance is None:
        return None
    if not ctx.store.try_global_lock("balance", int(s.balance_check_interval_s * 1000)):
        return None
    try:
        ctx.pacer.acquire([provider_limit(s)], max_wait_s=30.0, sleep=ctx.sleep)
        balance = ctx.client.user_info().balance
    except EffebotError as exc:
        log.warning("balance.check_failed", error=str(exc))
        return None
    if balance is None:
        return None
    ctx.store.set_global("balance", {"balance": balance, "checked_at": now_ms()})
    if balance < s.min_balance:
        for campaign_id in ctx.store.active_campaigns():
            if ctx.store.status(campaign_id) in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
                auto_pause(ctx, campaign_id, f"balance {balance:g} is below {s.min_balance:g}")
    return balance
