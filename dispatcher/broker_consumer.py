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
the client to the new master. What remains (documented in docs/redis.md): a delayed message whose
re-enqueue failed stays in the worker's acks set until that process exits (then dramatiq's
heartbeat timeout requeues it); the reconciler meanwhile gives its batch more time, then a new
message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.errors import ConnectionClosed

__all__ = ["FailoverRedisBroker"]


class _FailoverConsumer(_RedisConsumer):
    """A consumer whose redis errors are all connection errors to dramatiq."""

    def ack(self, message: Any) -> None:
        try:
            super().ack(message)  # type: ignore[no-untyped-call] # dramatiq is untyped here
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)  # type: ignore[no-untyped-call] # dramatiq is untyped here
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]

    def requeue(self, messages: Iterable[Any]) -> None:
        try:
            super().requeue(messages)  # type: ignore[no-untyped-call] # dramatiq is untyped here
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]

    def __next__(self) -> Any:
        try:
            return super().__next__()  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]


class FailoverRedisBroker(RedisBroker):
    """A `RedisBroker` whose consumers survive a failover (see the module docstring)."""

    @property
    def consumer_class(self) -> type[_FailoverConsumer]:
        return _FailoverConsumer
