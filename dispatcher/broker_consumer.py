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
consumer requeues them as soon as Redis answers (`_take_back_stranded`). A lossy failover also
leaves messages "taken" by this worker on the new master (acknowledged on the old one): a consumer
that met no error (its threads were busy, its cache full) would never look, so the process also
watches the server's `run_id` and every consumer takes back what is stranded once it changes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed

from dispatcher.logs import get_logger

__all__ = ["FailoverRedisBroker"]

log = get_logger(__name__)

#: How often a worker process asks which server it is talking to (`INFO server`'s `run_id`).
SERVER_CHECK_S = 2.0


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _FailoverConsumer(_RedisConsumer):
    """A consumer whose redis errors are all connection errors to dramatiq, and which takes back
    what this process holds in Redis but will never run."""

    def __init__(self, broker: FailoverRedisBroker, queue_name: str, *args: Any) -> None:
        super().__init__(broker, queue_name, *args)  # type: ignore[no-untyped-call]
        # A replacement after a connection error: what the old one held in memory is forgotten.
        self._restarted = broker.note_consumer(queue_name)

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
            broker: FailoverRedisBroker = self.broker
            changed = broker.server_changed(self.queue_name)
            if self._restarted or changed:
                self._take_back_stranded()
                self._restarted = False
            message = super().__next__()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        if message is not None:
            self.broker.taken(self.queue_name, message)
        return message

    def _take_back_stranded(self) -> None:
        """Requeue what this worker holds in Redis (its acks set for the queue) but will never
        run: after this consumer replaced one that met a connection error, or once the server
        is another one (a failover or a restart: a new `run_id`).

        * Every held message this process is not running or acknowledging, nor holds in this
          consumer's prefetch cache: prefetched by a consumer that was replaced, or acknowledged
          on a master that was then lost, so the new master still has it taken. Running it again
          is what at-least-once delivery means; every actor here re-reads its state, and a
          batch's claim decides.
        * On a delay queue (`.DQ`) after a connection error, every held message: dramatiq keeps
          those only in the consumer thread's memory, which it empties on a connection error.
        """
        broker: FailoverRedisBroker = self.broker
        key = f"{broker.namespace}:__acks__.{broker.broker_id}.{self.queue_name}"
        held = {text(member) for member in broker.client.smembers(key)}
        if self._restarted and self.queue_name.endswith(".DQ"):
            broker.forget_running(self.queue_name)
        held -= broker.running(self.queue_name)
        held -= set(self._cached_ids())
        if held:
            broker.do_requeue(self.queue_name, *sorted(held))
            log.warning("broker.requeued_stranded", queue=self.queue_name, messages=len(held))

    def _cached_ids(self) -> list[str]:
        ids = []
        for data in self.message_cache:
            if data is not None:
                with contextlib.suppress(Exception):  # a payload dramatiq itself cannot read
                    ids.append(str(Message.decode(data).options.get("redis_message_id", "")))
        return ids


class FailoverRedisBroker(RedisBroker):
    """A `RedisBroker` whose consumers survive a failover (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._consumed: set[str] = set()
        self._running: dict[str, set[str]] = {}
        self._run_id: str | None = None
        self._next_check = 0.0
        self._changed: set[str] = set()

    @property
    def consumer_class(self) -> type[_FailoverConsumer]:
        return _FailoverConsumer

    def note_consumer(self, queue_name: str) -> bool:
        """Record a new consumer of `queue_name`; True if it replaces an earlier one."""
        with self._lock:
            again = queue_name in self._consumed
            self._consumed.add(queue_name)
            return again

    def server_changed(self, queue_name: str) -> bool:
        """True once for each queue after the server answering is another one than before.

        One `INFO server` per `SERVER_CHECK_S` for the whole process (a redis error propagates:
        the consumer turns it into a connection error)."""
        now = time.monotonic()
        with self._lock:
            due = now >= self._next_check
            if due:
                self._next_check = now + SERVER_CHECK_S
        if due:
            run_id = str(self.client.info("server").get("run_id", ""))
            with self._lock:
                if self._run_id is not None and run_id != self._run_id:
                    self._changed |= self._consumed
                    log.warning("broker.server_changed", queues=len(self._consumed))
                self._run_id = run_id
        with self._lock:
            if queue_name in self._changed:
                self._changed.discard(queue_name)
                return True
            return False

    def forget_running(self, queue_name: str) -> None:
        with self._lock:
            self._running.pop(queue_name, None)

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
