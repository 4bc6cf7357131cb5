"""dramatiq's Redis broker, with a consumer that survives a Redis failover.

dramatiq turns only `redis.ConnectionError` into its `ConnectionClosed`, and only in fetch, ack
and nack. During a failover a worker also meets `TimeoutError` (a frozen master), a plain
`ResponseError` (Redis 6.2 wraps a demoted master's READONLY inside a script error; NOREPLICAS)
and errors from `requeue`. Two things then go wrong in dramatiq 2.2:

* a consumer thread whose delayed-message enqueue fails calls `close()`, whose `requeue` raises
  again, which `close()` does not catch: the thread exits for good, and that process never fetches
  from that queue again (retries and delayed messages stop) until it is restarted;
* an ack that fails with anything but `ConnectionError` is not retried: the message runs again
  once the worker restarts.

Here every redis error of the consumer's own commands becomes `ConnectionClosed`, which dramatiq
handles by retrying the ack every few seconds and restarting the consumer, so the process follows
the client to the new master.

A restarted consumer also loses what the old one held only in memory: its prefetched messages and,
on a delay queue, every delayed message (dramatiq empties the thread's delay queue on a connection
error). Those stay in this worker's acks set, with a live heartbeat, so nothing requeues them
until the process exits; a batch would wait for the reconciler's longest grace. The replacement
consumer requeues them as soon as Redis answers (`_take_back_stranded`), and with them the
messages a lossy failover left "taken" by this worker: acknowledged on the old master, still in
this worker's acks set on the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed

from dispatcher.logs import get_logger

__all__ = ["FailoverRedisBroker"]

log = get_logger(__name__)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _FailoverConsumer(_RedisConsumer):
    """A consumer whose redis errors are all connection errors to dramatiq, and which takes back
    what this process holds in Redis but will never run."""

    def __init__(self, broker: FailoverRedisBroker, queue_name: str, *args: Any) -> None:
        super().__init__(broker, queue_name, *args)  # type: ignore[no-untyped-call]
        self._recover = broker.note_consumer(queue_name)

    def ack(self, message: Any) -> None:
        try:
            super().ack(message)  # type: ignore[no-untyped-call] # dramatiq is untyped here
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        self.broker.done(self.queue_name, message)

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)  # type: ignore[no-untyped-call] # dramatiq is untyped here
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        self.broker.done(self.queue_name, message)

    def requeue(self, messages: Iterable[Any]) -> None:
        try:
            super().requeue(messages)  # type: ignore[no-untyped-call] # dramatiq is untyped here
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]

    def __next__(self) -> Any:
        try:
            if self._recover:
                self._take_back_stranded()
                self._recover = False
            message = super().__next__()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        if message is not None:
            self.broker.taken(self.queue_name, message)
        return message

    def _take_back_stranded(self) -> None:
        """Requeue what this worker holds in Redis (its acks set for the queue) but will never
        run, once Redis answers again after a connection error.

        * On a normal queue: every held message this process is not running or acknowledging
          (prefetched by the consumer this one replaces; or acknowledged on a master that was then
          lost, so the new master still has it taken). Running it again is what at-least-once
          delivery means; every actor here re-reads its state, and a batch's claim decides.
        * On a delay queue (`.DQ`): every held message. dramatiq keeps those only in the consumer
          thread's memory, which it empties on a connection error.
        """
        broker: FailoverRedisBroker = self.broker
        key = f"{broker.namespace}:__acks__.{broker.broker_id}.{self.queue_name}"
        held = {text(member) for member in broker.client.smembers(key)}
        if not self.queue_name.endswith(".DQ"):
            held -= broker.running(self.queue_name)
        if held:
            broker.do_requeue(self.queue_name, *sorted(held))
            log.warning("broker.requeued_stranded", queue=self.queue_name, messages=len(held))


class FailoverRedisBroker(RedisBroker):
    """A `RedisBroker` whose consumers survive a failover (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._consumed: set[str] = set()
        self._running: dict[str, set[str]] = {}

    @property
    def consumer_class(self) -> type[_FailoverConsumer]:
        return _FailoverConsumer

    def note_consumer(self, queue_name: str) -> bool:
        """Record a new consumer of `queue_name`; True if it replaces an earlier one."""
        with self._lock:
            again = queue_name in self._consumed
            self._consumed.add(queue_name)
            return again

    def taken(self, queue_name: str, message: Any) -> None:
        """A message handed to this process (until `done`)."""
        with self._lock:
            self._running.setdefault(queue_name, set()).add(_redis_id(message))

    def done(self, queue_name: str, message: Any) -> None:
        with self._lock:
            self._running.get(queue_name, set()).discard(_redis_id(message))

    def running(self, queue_name: str) -> set[str]:
        with self._lock:
            return set(self._running.get(queue_name, ()))


def _redis_id(message: Any) -> str:
    return str(message.options.get("redis_message_id", ""))
