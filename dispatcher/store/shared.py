"""Redis state beside the campaigns' own: the do-not-call list, deployment-wide values, locks and
events."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["SharedState"]


class SharedState(StoreBase):
    """The parts of the store that are not one campaign's contacts and batches."""

    @translate
    def add_event(self, campaign_id: str, event: dict[str, Any], keep: int = 100) -> None:
        ck = self.campaign_keys(campaign_id)
        pipe = self.client.pipeline()
        pipe.lpush(ck.events, json.dumps({"at_ms": now_ms(), **event}))
        pipe.ltrim(ck.events, 0, keep - 1)
        pipe.execute()

    @translate
    def try_lock(self, campaign_id: str, name: str, ttl_ms: int) -> bool:
        """A short-lived per-campaign lock (e.g. creating the shared recording once)."""
        key = f"{self.campaign_keys(campaign_id).base}:lock:{name}"
        return bool(self.client.set(key, "1", nx=True, px=ttl_ms))

    @translate
    def unlock(self, campaign_id: str, name: str) -> None:
        self.client.delete(f"{self.campaign_keys(campaign_id).base}:lock:{name}")

    @translate
    def count_event(self, campaign_id: str, name: str, window_ms: int) -> int:
        """Record one event and count those of the last `window_ms` (a sliding window)."""
        key = f"{self.campaign_keys(campaign_id).base}:ev:{name}"
        now = now_ms()
        pipe = self.client.pipeline()
        pipe.zadd(key, {f"{now}-{secrets.token_hex(4)}": now})
        pipe.zremrangebyscore(key, "-inf", now - window_ms)
        pipe.zcard(key)
        pipe.pexpire(key, window_ms + 1000)
        return int(pipe.execute()[2])

    @translate
    def set_global(self, name: str, fields: dict[str, Any], ttl_ms: int | None = None) -> None:
        key = f"{self.keys.prefix}:{name}"
        pipe = self.client.pipeline()
        pipe.hset(key, mapping=dict[Any, Any](fields))
        if ttl_ms:
            pipe.pexpire(key, ttl_ms)
        pipe.execute()

    @translate
    def get_global(self, name: str) -> dict[str, str]:
        raw = self.client.hgetall(f"{self.keys.prefix}:{name}")
        return {text(k): text(v) for k, v in raw.items()}

    @translate
    def delete_global_fields(self, name: str, fields: Sequence[str]) -> None:
        if fields:
            self.client.hdel(f"{self.keys.prefix}:{name}", *fields)

    @translate
    def try_global_lock(self, name: str, ttl_ms: int) -> bool:
        return bool(self.client.set(f"{self.keys.prefix}:lock:{name}", "1", nx=True, px=ttl_ms))

    @translate
    def release_global_lock(self, name: str) -> None:
        self.client.delete(f"{self.keys.prefix}:lock:{name}")

    # --- do-not-call ----------------------------------------------------------------------------

    @translate
    def dnc_add(self, phones: Iterable[str]) -> int:
        added = 0
        chunk: list[str] = []
        for phone in phones:
            chunk.append(phone)
            if len(chunk) >= 5000:
                added += int(self.client.sadd(self.keys.dnc, *chunk))
                chunk = []
        if chunk:
            added += int(self.client.sadd(self.keys.dnc, *chunk))
        return added

    @translate
    def dnc_remove(self, phones: Sequence[str]) -> int:
        return int(self.client.srem(self.keys.dnc, *phones)) if phones else 0

    @translate
    def dnc_contains(self, phone: str) -> bool:
        return bool(self.client.sismember(self.keys.dnc, phone))

    @translate
    def dnc_contains_many(self, phones: Sequence[str]) -> list[bool]:
        if not phones:
            return []
        return [bool(v) for v in self.client.smismember(self.keys.dnc, list(phones))]

    @translate
    def dnc_iter(self) -> Iterator[str]:
        for value in self.client.sscan_iter(self.keys.dnc, count=1000):
            yield text(value)

    @translate
    def dnc_scan(self, cursor: int, digits: str, count: int) -> tuple[int, list[str]]:
        """One SSCAN step of the list for numbers containing `digits` (digits only: no glob)."""
        if not digits.isdigit():
            raise ValueError("digits must be digits")
        after, found = self.client.sscan(self.keys.dnc, cursor, match=f"*{digits}*", count=count)
        return int(after), [text(phone) for phone in found]

    @translate
    def ping(self) -> bool:
        return bool(self.client.ping())
