"""The actors, declared on a given broker (not on import), so any process can build its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dramatiq

from dispatcher.queue import queue_for
from dispatcher.store.keys import ACTOR_CONTROL, ACTOR_INTAKE, ACTOR_POLL, ACTOR_SEND_BATCH
from workers.batches import send_batch
from workers.context import WorkerContext
from workers.control import control_campaign
from workers.intake import intake_campaign
from workers.outages import through_redis_outages
from workers.polling import poll_campaign

__all__ = ["Actors", "declare_actors"]


@dataclass(frozen=True)
class Actors:
    send_batch: dramatiq.Actor[..., None]
    poll_campaign: dramatiq.Actor[..., None]
    control_campaign: dramatiq.Actor[..., None]
    intake_campaign: dramatiq.Actor[..., None]


def declare_actors(
    broker: dramatiq.Broker, queue_name: str, context: Callable[[], WorkerContext]
) -> Actors:
    """Declare the dispatcher's actors on `broker`; `context` gives the process's WorkerContext."""

    def _send_batch(campaign_id: str, batch_no: int, attempt: int = 0, token: str = "") -> None:
        through_redis_outages(
            context(), lambda: send_batch(context(), campaign_id, batch_no, attempt, token)
        )

    def _poll_campaign(campaign_id: str, due_ms: int = 0) -> None:
        through_redis_outages(context(), lambda: poll_campaign(context(), campaign_id, due_ms))

    def _control_campaign(campaign_id: str, operation: str) -> None:
        through_redis_outages(
            context(), lambda: control_campaign(context(), campaign_id, operation)
        )

    def _intake_campaign(*args: Any, **kwargs: Any) -> None:
        # Any arguments at all: a malformed message is refused and recorded, not a TypeError.
        through_redis_outages(context(), lambda: intake_campaign(context(), args, kwargs))

    # Failures the actors expect are handled inside them; what escapes is a bug or Redis being
    # away too long, which dramatiq retries with backoff. Retrying is safe: every step re-reads
    # state.
    options = {"max_retries": 20, "min_backoff": 1000, "max_backoff": 60_000}

    def declare(fn: Callable[..., None], name: str) -> dramatiq.Actor[..., None]:
        return dramatiq.Actor(
            fn,
            broker=broker,
            actor_name=name,
            queue_name=queue_for(queue_name, name),
            priority=0,
            options=dict(options),
        )

    return Actors(
        send_batch=declare(_send_batch, ACTOR_SEND_BATCH),
        poll_campaign=declare(_poll_campaign, ACTOR_POLL),
        control_campaign=declare(_control_campaign, ACTOR_CONTROL),
        intake_campaign=declare(_intake_campaign, ACTOR_INTAKE),
    )
