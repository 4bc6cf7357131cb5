"""Riding out a Redis outage inside the actor, instead of handing the message back to dramatiq.

When Redis goes away (a restart, a failover) an actor's state calls fail. Raising would ask
dramatiq's Retries middleware to re-enqueue the message, which needs the same Redis: the retry is
lost, and when Redis is back the original message is acked all the same, leaving a batch `pending`
with no message to send it. So the actor waits for Redis here, with backoff, and runs again from
the top once it answers (every step re-reads its state, so a second run is safe); the message stays
unacked meanwhile, and is redelivered if this worker dies. After `redis_outage_max_s` it gives up
and raises, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from dispatcher.errors import StateError
from dispatcher.logs import get_logger
from workers.context import WorkerContext

__all__ = ["retry_state", "through_redis_outages"]

log = get_logger(__name__)

T = TypeVar("T")


def _wait(ctx: WorkerContext, started: float, attempt: int, exc: StateError) -> None:
    if time.monotonic() - started > ctx.settings.redis_outage_max_s:
        raise exc
    delay_s = min(0.2 * 2**attempt, 5.0)
    log.warning("redis.unavailable", error=str(exc), retry_in_s=delay_s)
    ctx.sleep(delay_s)


def through_redis_outages(ctx: WorkerContext, run: Callable[[], None]) -> None:
    """Run an actor body, running it again while Redis is unavailable."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            run()
            return
        except StateError as exc:
            _wait(ctx, started, attempt, exc)
            attempt += 1


def retry_state(ctx: WorkerContext, write: Callable[[], T]) -> T:
    """Retry one idempotent state write until Redis takes it (e.g. recording an api call id)."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return write()
        except StateError as exc:
            _wait(ctx, started, attempt, exc)
            attempt += 1
