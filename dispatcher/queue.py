"""The dramatiq Redis broker as the producer and the workers both build it, and enqueueing by name.

The producer enqueues messages by actor name (ids only: a campaign id and a batch number), so it
needs neither the workers package nor the actors to be declared in its process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from dispatcher.settings import Settings
from dispatcher.store.keys import ACTOR_CONTROL, ACTOR_POLL, Keys

__all__ = ["BrokerEnqueue", "Enqueue", "make_broker", "make_enqueue", "queue_for", "send"]

#: enqueue(actor_name, args, delay_ms): how the producer and the controls hand messages over.
Enqueue = Callable[[str, tuple[Any, ...], int | None], None]

# dramatiq refuses delays of 7 days or more.
MAX_DELAY_MS = 7 * 24 * 3600 * 1000 - 60_000


def make_broker(
    settings: Settings, client: redis.Redis, middleware: list[Any] | None = None
) -> RedisBroker:
    """A RedisBroker on `client`, namespaced under the settings' key prefix."""
    kwargs: dict[str, Any] = {}
    if middleware is not None:
        kwargs["middleware"] = middleware
    broker = RedisBroker(  # type: ignore[no-untyped-call] # dramatiq's __init__ is untyped
        client=client,
        namespace=Keys(settings.key_prefix).dramatiq_namespace,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
        **kwargs,
    )
    broker.declare_queue(settings.queue_name)
    broker.declare_queue(queue_for(settings.queue_name, ACTOR_POLL))
    return broker


def queue_for(queue_name: str, actor_name: str) -> str:
    """The queue an actor's messages go to.

    Polls and controls have a queue of their own, so that they never wait behind a backlog of
    batches (a 20,000-batch campaign enqueues every batch at once): reconciliation and a pause keep
    pace with the sends instead of starting after the last one.
    """
    return f"{queue_name}-poll" if actor_name in (ACTOR_POLL, ACTOR_CONTROL) else queue_name


def send(
    broker: dramatiq.Broker,
    queue_name: str,
    actor_name: str,
    args: tuple[Any, ...],
    delay_ms: int | None = None,
) -> None:
    """Enqueue one message for `actor_name` (declared or not in this process).

    `queue_name` is the deployment's queue; the actor's own queue is derived from it.
    """
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue_for(queue_name, actor_name),
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={},
    )
    if delay_ms is not None and delay_ms > 0:
        broker.enqueue(message, delay=min(int(delay_ms), MAX_DELAY_MS))
    else:
        broker.enqueue(message)


class BrokerEnqueue:
    """An `Enqueue` onto the settings' queue through a broker of its own (so not thread-shared).

    `many` enqueues a whole list in one pipelined round trip: a 1,000,000-contact campaign has
    20,000 batches, and one round trip each was a fifth of the submission's time.
    """

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._broker = make_broker(settings, client)
        self._queue_name = settings.queue_name

    def __call__(self, actor_name: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        send(self._broker, self._queue_name, actor_name, args, delay_ms)

    def many(
        self,
        actor_name: str,
        args_list: Sequence[tuple[Any, ...]],
        delay_ms: int | None,
        page: int = 1000,
    ) -> None:
        """Enqueue one message per args, pipelined `page` at a time."""
        broker = self._broker
        # The broker runs its dispatch script through `scripts["dispatch"]` on every enqueue; for
        # the length of this loop it runs on a pipeline instead (the broker is ours alone).
        dispatch = broker.scripts["dispatch"]
        for start in range(0, len(args_list), page):
            pipe = broker.client.pipeline(transaction=False)
            broker.scripts["dispatch"] = functools.partial(dispatch, client=pipe)
            try:
                for args in args_list[start : start + page]:
                    send(broker, self._queue_name, actor_name, args, delay_ms)
            finally:
                broker.scripts["dispatch"] = dispatch
            pipe.execute()


def make_enqueue(settings: Settings, client: redis.Redis) -> BrokerEnqueue:
    """An `Enqueue` onto the settings' queue, through a broker on `client`."""
    return BrokerEnqueue(settings, client)
