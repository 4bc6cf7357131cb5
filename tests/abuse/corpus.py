"""What the corpus's modules share: a spec, settings helpers and ways to see what was written."""

from __future__ import annotations

from typing import Any

import redis

from dispatcher.settings import Settings

SPEC: dict[str, Any] = {
    "name": "bad input",
    "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
    "batch_size": 2,
}
GOOD_CSV = "phone,name\n+1 202 555 0143,Ann\n+1 202 555 0144,Bob\n"


def with_changes(settings: Settings, **changes: Any) -> Settings:
    """The test's settings with `changes`, validated (secrets become SecretStr)."""
    return Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]


def spec_with(**call: Any) -> dict[str, Any]:
    return {**SPEC, "call": {**SPEC["call"], **call}}


def keys_under(client: redis.Redis, prefix: str) -> list[bytes]:
    """Every key the dispatcher could have written: its prefix and the broker's namespace.

    The epoch marker is left out: the app writes it when it starts (`dispatcher.store.trust`),
    before any request, so it says nothing about what a request landed.
    """
    epoch = f"{prefix}:epoch".encode()
    return sorted(k for k in client.scan_iter(match=f"{prefix}*", count=1000) if k != epoch)


def snapshot(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key under `prefix` with its whole value, to compare before and after a request."""
    readers: dict[bytes, Any] = {
        b"hash": client.hgetall,
        b"zset": lambda key: client.zrange(key, 0, -1, withscores=True),
        b"list": lambda key: client.lrange(key, 0, -1),
        b"set": client.smembers,
        b"string": client.get,
        b"stream": lambda key: client.xrange(key),  # the event stream
    }
    return {key: readers[client.type(key)](key) for key in keys_under(client, prefix)}
