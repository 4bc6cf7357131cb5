"""The dramatiq Redis broker as the producer and the workers both build it, and enqueueing by name.

The producer enqueues messages by actor name (ids only: a campaign id and a batch number), so it
needs neither the workers package nor the actors to be declared in its process. Redis errors met
while enqueueing become `StateError`, like every other Redis error the dispatcher meets: an actor
that cannot enqueue its follow-up is run again once Redis is back, never acknowledged with its work
lost.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from dispatcher.broker_consumer import FailoverRedisBroker
from dispatcher.errors import StateError
from dispatcher.intake.contract import intake_queue
from dispatcher.settings import Settings
from dispatcher.store.keys import ACTOR_CONTROL, ACTOR_INTAKE, ACTOR_POLL, ACTOR_SEND_BATCH, Keys

__all__ = [
    "BrokerEnqueue",
    "Enqueue",
    "live_batch_messages",
    "make_broker",
    "make_enqueue",
    "queue_for",
    "send",
]

#: enqueue(actor_name, args, delay_ms): how the producer and the controls hand messages over.
Enqueue = Callable[[str, tuple[Any, ...], int | None], None]

# dramatiq refuses delays of 7 days or more.
MAX_DELAY_MS = 7 * 24 * 3600 * 1000 - 60_000


def make_broker(
    settings: Settings, client: redis.Redis, middleware: list[Any] | None = None
) -> RedisBroker:
    """A RedisBroker on `client`, namespaced under the settings' key prefix, whose consumers
    survive a Redis failover (`dispatcher.broker_consumer`)."""
    kwargs: dict[str, Any] = {}
    if middleware is not None:
        kwargs["middleware"] = middleware
    broker = FailoverRedisBroker(
        client=client,
        namespace=Keys(settings.key_prefix).dramatiq_namespace,
        heartbeat_timeout=settings.broker_heartbeat_timeout_ms,
        maintenance_chance=settings.broker_maintenance_chance,
        **kwargs,
    )
    broker.declare_queue(settings.queue_name)
    broker.declare_queue(queue_for(settings.queue_name, ACTOR_POLL))
    broker.declare_queue(queue_for(settings.queue_name, ACTOR_INTAKE))
    return broker


def queue_for(queue_name: str, actor_name: str) -> str:
    """The queue an actor's messages go to.

    Polls and controls have a queue of their own, so that they never wait behind a backlog of
    batches (a 20,000-batch campaign enqueues every batch at once): reconciliation and a pause keep
    pace with the sends instead of starting after the last one. Intake messages from other
    services have theirs (a published contract: `dispatcher.intake.contract`).
    """
    if actor_name == ACTOR_INTAKE:
        return intake_queue(queue_name)
    return f"{queue_name}-poll" if actor_name in (ACTOR_POLL, ACTOR_CONTROL) else queue_name


def _message(queue_name: str, actor_name: str, args: tuple[Any, ...]) -> dramatiq.Message[Any]:
    return dramatiq.Message(
        queue_name=queue_for(queue_name, actor_name),
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={},
    )


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
    message = _message(queue_name, actor_name, args)
    try:
        if delay_ms is not None and delay_ms > 0:
            broker.enqueue(message, delay=min(int(delay_ms), MAX_DELAY_MS))
        else:
            broker.enqueue(message)
    except redis.RedisError as exc:
        raise StateError(f"redis: enqueueing {actor_name}: {exc}") from exc


class BrokerEnqueue:
    """An `Enqueue` onto the settings' queue; safe to share between threads.

    `many` enqueues a whole list in one pipelined round trip per page: a 1,000,000-contact campaign
    has 20,000 batches, and one round trip each was a fifth of the submission's time. It writes
    each message the way dramatiq's own enqueue does (the payload into `<queue>.msgs`, its id onto
    the queue; dramatiq documents this for producers in other languages), on a pipeline of its own,
    so nothing shared is swapped while other threads enqueue.
    """

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._broker = make_broker(settings, client)
        self._client = client
        self._queue_name = settings.queue_name
        self._namespace = Keys(settings.key_prefix).dramatiq_namespace

    def __call__(self, actor_name: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        send(self._broker, self._queue_name, actor_name, args, delay_ms)

    def many(
        self,
        actor_name: str,
        args_list: Sequence[tuple[Any, ...]],
        delay_ms: int | None,
        page: int = 1000,
    ) -> None:
        """Enqueue one message per args, `page` at a time in one round trip of two commands.

        Each message is the dict `dramatiq.Message.asdict` gives (same fields, same order, the
        broker's options), encoded with dramatiq's global encoder; a page's payloads go in with
        one HSET and their ids onto the queue with one RPUSH after it, so a worker that pops an
        id always finds its payload. Building `Message` objects and one HSET and RPUSH per
        message was most of the enqueue's time.
        """
        delay = None if delay_ms is None or delay_ms <= 0 else min(int(delay_ms), MAX_DELAY_MS)
        queue_name = queue_for(self._queue_name, actor_name)
        encode = dramatiq.get_encoder().encode
        try:
            for start in range(0, len(args_list), page):
                eta = None if delay is None else int(time.time() * 1000) + delay
                queue = queue_name if eta is None else f"{queue_name}.DQ"
                timestamp = int(time.time() * 1000)
                payloads: dict[str, bytes] = {}
                for args in args_list[start : start + page]:
                    message_id = str(uuid.uuid4())
                    options: dict[str, Any] = {"redis_message_id": message_id}
                    if eta is not None:
                        options["eta"] = eta
                    payloads[message_id] = encode(
                        {
                            "queue_name": queue,
                            "actor_name": actor_name,
                            "args": tuple(args),
                            "kwargs": {},
                            "options": options,
                            "message_id": str(uuid.uuid4()),
                            "message_timestamp": timestamp,
                        }
                    )
                if not payloads:
                    continue
                pipe = self._client.pipeline(transaction=False)
                pipe.hset(f"{self._namespace}:{queue}.msgs", mapping=payloads)  # type: ignore[arg-type]
                pipe.rpush(f"{self._namespace}:{queue}", *payloads)
                pipe.execute()
        except redis.RedisError as exc:
            raise StateError(f"redis: enqueueing {actor_name}: {exc}") from exc


def make_enqueue(settings: Settings, client: redis.Redis) -> BrokerEnqueue:
    """An `Enqueue` onto the settings' queue, through a broker on `client`."""
    return BrokerEnqueue(settings, client)


def _payloads(client: redis.Redis, key: str) -> Iterator[bytes]:
    for _, payload in client.hscan_iter(key, count=1000):
        yield payload


def live_batch_messages(
    client: redis.Redis, settings: Settings, campaign_ids: Collection[str]
) -> set[tuple[str, int, str]]:
    """(campaign, batch, token) of every `send_batch` message that may still run, for campaigns
    among `campaign_ids`: queued, delayed, or taken by a worker and not yet acknowledged.

    dramatiq keeps the payload of every such message in `<queue>.msgs` / `<queue>.DQ.msgs` until it
    is acknowledged; a dead-lettered message moves to `.XQ.msgs` and will not run. Costs a scan
    of the batch queue, so the reconciler calls it only when a batch looks overdue.
    """
    namespace = Keys(settings.key_prefix).dramatiq_namespace
    queue = settings.queue_name
    found: set[tuple[str, int, str]] = set()
    try:
        for key in (f"{namespace}:{queue}.msgs", f"{namespace}:{queue}.DQ.msgs"):
            for payload in _payloads(client, key):
                try:
                    message = json.loads(payload)
                    args = message["args"]
                    if message.get("actor_name") != ACTOR_SEND_BATCH or args[0] not in campaign_ids:
                        continue
                    token = str(args[3]) if len(args) > 3 else ""
                    found.add((str(args[0]), int(args[1]), token))
                except (ValueError, KeyError, IndexError, TypeError):
                    continue  # not one of ours, or not a batch message
    except redis.RedisError as exc:
        raise StateError(f"redis: reading the queue: {exc}") from exc
    return found
