"""The intake actor's body: another service's campaign, sent as a dramatiq message.

The contract (actor name, queue, arguments, limits) is `dispatcher.intake.contract`; taking a
message is `dispatcher.intake.series`. The actor accepts any arguments at all, so a malformed
message is refused and recorded rather than raising inside dramatiq and being retried.
"""

from __future__ import annotations

from typing import Any

import structlog

from dispatcher.intake.series import expire_drafts, take_message
from dispatcher.logs import get_logger
from workers.context import WorkerContext

__all__ = ["expire_stale_drafts", "intake_campaign"]

log = get_logger(__name__)


def intake_campaign(ctx: WorkerContext, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Take one intake message (see `dispatcher.intake.series.take_message`)."""
    external_id = kwargs.get("external_id")
    structlog.contextvars.bind_contextvars(external_id=str(external_id)[:128])
    try:
        outcome = take_message(ctx.store, ctx.enqueue, ctx.settings, args, kwargs)
        log.debug("intake.taken", outcome=outcome)
    finally:
        structlog.contextvars.unbind_contextvars("external_id")


def expire_stale_drafts(ctx: WorkerContext) -> int:
    """Delete drafts left by submitters that went away (the reconciler calls this each sweep)."""
    return expire_drafts(ctx.store, ctx.settings)
