"""A background thread in every worker process that makes sure no campaign is forgotten.

Every `watchdog_interval_s` it looks at the active campaigns: one with calls in its poll set but no
poll message scheduled (the message was lost with a Redis restart, or its worker died) gets one
again; a finished or cancelled one with nothing left to poll leaves the active set. Several
processes running it at once is harmless: scheduling a poll is guarded by a marker key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from dispatcher.errors import DispatcherError
from dispatcher.logs import get_logger
from dispatcher.store import now_ms
from workers.context import WorkerContext
from workers.guards import check_balance
from workers.polling import end_campaign, ensure_poll, next_work_ms

__all__ = ["Watchdog", "sweep"]

log = get_logger(__name__)


def sweep(ctx: WorkerContext) -> int:
    """One pass over the active campaigns; returns how many polls it scheduled."""
    scheduled = 0
    if ctx.store.active_campaigns():
        check_balance(ctx)
    for campaign_id in ctx.store.active_campaigns():
        due = next_work_ms(ctx, campaign_id)
        if due is not None:
            scheduled += int(ensure_poll(ctx, campaign_id, max(due, now_ms())))
            continue
        if ctx.store.status(campaign_id).value in ("finished", "cancelled"):
            end_campaign(ctx, campaign_id)
    return scheduled


class Watchdog(Middleware):
    """Runs `sweep` on a daemon thread from worker boot to worker shutdown."""

    def __init__(self, context: Callable[[], WorkerContext], interval_s: float) -> None:
        self._context = context
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dispatcher-watchdog", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                sweep(self._context())
            except DispatcherError as exc:
                log.warning("watchdog.failed", error=str(exc))
            except Exception:  # the thread must survive anything to keep doing its job
                log.exception("watchdog.crashed")
