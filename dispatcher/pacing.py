"""Global pacing: GCRA reservations in Redis, shared by every worker process on every host.

One Lua script (`lua/pacing.lua`, run with EVALSHA, falling back to EVAL once per process when the
server has not cached it) checks any number of limits and, if the request can start within the
caller's patience, reserves that start on all of them at once: one round trip, no WATCH/MULTI
retry loop, no busy waiting. Times come from the Redis server's clock (`TIME`), so host clocks may
disagree freely. A caller that is refused gets the time to come back and re-enqueues its message
with that delay instead of holding a worker thread (or burning a dramatiq retry).

Each limit keeps one key, its theoretical arrival time (TAT) in microseconds. A request may start
at `TAT - tolerance`, where tolerance = (burst - 1) / rate; starting moves the TAT to
max(TAT, start) + cost / rate. With burst 1, consecutive starts are therefore at least
cost / rate apart: a limit of `rate_per_s` never grants more than `rate_per_s` starts in any
1-second window. A cost above the burst is allowed and paid *after* the start (the next request
waits longer), so a batch of 50 dials can go as soon as the campaign's pace has room for it.
Increments are rounded up and tolerances down to whole microseconds: rounding never loosens a limit.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import redis

from dispatcher.errors import StateError

__all__ = ["ACCOUNT_PREFIX", "SHARED_NAMESPACE", "GlobalPacer", "Limit", "Reservation"]

_SCRIPT = resources.files("dispatcher").joinpath("lua/pacing.lua").read_text(encoding="utf-8")
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode("utf-8"), usedforsecurity=False).hexdigest()
#: Waits are capped here before conversion, so an "infinite" patience stays an integer.
_MAX_WAIT_CAP_S = 10.0**9
#: A limit whose key starts with this belongs to a provider account, not to one deployment: it is
#: kept under `SHARED_NAMESPACE`, outside every key prefix, so all prefixes share its budget.
ACCOUNT_PREFIX = "account:"
SHARED_NAMESPACE = "effebot-dispatcher"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `rate_per_s` units per second, `burst` at once; this request takes `cost` units."""

    key: str
    rate_per_s: float
    burst: float = 1.0
    cost: float = 1.0

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("a limit needs a key")
        if not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)):
            raise ValueError(f"rate_per_s must be a positive number, not {self.rate_per_s!r}")
        if not (self.burst >= 1 and math.isfinite(self.burst)):
            raise ValueError(f"burst must be at least 1, not {self.burst!r}")
        if not (self.cost >= 0 and math.isfinite(self.cost)):
            raise ValueError(f"cost must not be negative, not {self.cost!r}")

    @property
    def increment_us(self) -> int:
        """How far one such request moves the limit's TAT, rounded up."""
        return math.ceil(self.cost * 1_000_000 / self.rate_per_s)

    @property
    def tolerance_us(self) -> int:
        """How far ahead of its TAT the limit still lets a request start, rounded down."""
        return math.floor((self.burst - 1) * 1_000_000 / self.rate_per_s)


@dataclass(frozen=True, slots=True)
class Reservation:
    """Granted: sleep `wait_s`, then send. Refused: nothing was reserved; try again in `wait_s`."""

    granted: bool
    wait_s: float
    #: The reserved (or, when refused, the earliest possible) start on the Redis server's clock.
    start_at_us: int = 0


class GlobalPacer:
    """Reserves start times against limits kept in Redis under `{key_prefix}:pace:{key}`.

    An account's limit (`account:<digest>`) is kept under `effebot-dispatcher:pace:` whatever the
    prefix, so every deployment on the Redis server that uses that account shares it.
    """

    def __init__(self, redis_client: redis.Redis, key_prefix: str) -> None:
        self._redis = redis_client
        self._prefix = f"{key_prefix}:pace:"

    def key(self, limit_key: str) -> str:
        """The Redis key holding one limit's TAT."""
        if limit_key.startswith(ACCOUNT_PREFIX):
            return f"{SHARED_NAMESPACE}:pace:{limit_key}"
        return self._prefix + limit_key

    def reserve(
        self, limits: Sequence[Limit], max_wait_s: float, *, now_us: int | None = None
    ) -> Reservation:
        """Reserve the earliest start all limits allow, if it is within `max_wait_s` from now.

        "Now" is the Redis server's clock; `now_us` replaces it (for tests, which need a clock
        they control to check the arithmetic exactly).
        """
        if not limits:
            return Reservation(True, 0.0, 0)
        if max_wait_s < 0 or math.isnan(max_wait_s):
            raise ValueError("max_wait_s must not be negative")
        keys = [self.key(limit.key) for limit in limits]
        if len(set(keys)) != len(keys):
            raise ValueError("each limit may appear once per reservation")
        args: list[int] = [int(min(max_wait_s, _MAX_WAIT_CAP_S) * 1_000_000)]
        for limit in limits:
            args += (limit.increment_us, limit.tolerance_us)
        if now_us is not None:
            args.append(now_us)
        granted, wait_us, start_us = self._run(keys, args)
        return Reservation(bool(granted), max(wait_us, 0) / 1_000_000, start_us)

    def acquire(
        self,
        limits: Sequence[Limit],
        max_wait_s: float,
        sleep: Callable[[float], object] = time.sleep,
    ) -> Reservation:
        """Reserve, and when granted sleep until the reserved start; a refusal is returned as is."""
        reservation = self.reserve(limits, max_wait_s)
        if reservation.granted and reservation.wait_s > 0:
            sleep(reservation.wait_s)
        return reservation

    def _run(self, keys: list[str], args: list[int]) -> tuple[int, int, int]:
        try:
            try:
                reply = self._redis.evalsha(_SCRIPT_SHA, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                # First use on this server (or after SCRIPT FLUSH): EVAL also caches the script.
                reply = self._redis.eval(_SCRIPT, len(keys), *keys, *args)
        except redis.RedisError as exc:
            raise StateError(f"pacing failed: {exc}") from exc
        granted, wait_us, start_us = reply
        return int(granted), int(wait_us), int(start_us)
