"""The event stream's readers (consumer groups) and the webhook deliveries waiting to be sent.

The Lua scripts publish campaign status changes and contacts' final outcomes to one stream
(`Keys.events`). The webhook deliverer reads it through a consumer group and moves what belongs to
campaigns with a `callback_url` into per-campaign lists of deliveries, acknowledging the entries in
the same transaction, so the stream can be trimmed without losing a delivery and nothing is queued
twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["EventStore", "StreamEntry"]


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One stream entry: its id (what readers dedupe on) and its fields."""

    entry_id: str
    fields: dict[str, str]


def _entries(raw: Any) -> list[StreamEntry]:
    out = []
    for entry_id, fields in raw or []:
        if fields is None:  # deleted (trimmed) while pending
            continue
        out.append(StreamEntry(text(entry_id), {text(k): text(v) for k, v in fields.items()}))
    return out


class EventStore(StoreBase):
    """The event stream and the webhook outbox in Redis."""

    @translate
    def ensure_group(self, group: str, start: str = "0") -> None:
        """Create consumer group `group` on the event stream (reading from `start`) if missing."""
        try:
            self.client.xgroup_create(self.keys.events, group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @translate
    def read_group(self, group: str, consumer: str, count: int, block_ms: int) -> list[StreamEntry]:
        """New entries for `consumer` of `group` (waiting up to `block_ms` for some)."""
        raw: Any = self.client.xreadgroup(
            group, consumer, {self.keys.events: ">"}, count=count, block=block_ms
        )
        return _entries(raw[0][1]) if raw else []

    @translate
    def claim_stale(
        self, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[StreamEntry]:
        """Entries another consumer of `group` read but never acknowledged (it died), taken over."""
        raw = self.client.xautoclaim(
            self.keys.events, group, consumer, min_idle_ms, start_id="0-0", count=count
        )
        return _entries(raw[1])

    @translate
    def ack(self, group: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.client.xack(self.keys.events, group, *entry_ids)

    @translate
    def read_events(self, after: str = "-", count: int = 1000) -> list[StreamEntry]:
        """Entries after `after` (exclusive; `-` from the oldest retained), oldest first."""
        start = after if after == "-" else f"({after}"
        return _entries(self.client.xrange(self.keys.events, min=start, count=count))

    # --- webhook deliveries -----------------------------------------------------------------------

    @translate
    def callback_target(self, campaign_id: str) -> tuple[str, str, str] | None:
        """(callback URL or '', metadata JSON or '', status) of a campaign; None if it is gone."""
        url, metadata, status = self.client.hmget(
            self.campaign_keys(campaign_id).meta, "callback_url", "metadata", "status"
        )
        if status is None:
            return None
        return text(url or b""), text(metadata or b""), text(status)

    @translate
    def queue_deliveries(
        self, deliveries: Mapping[str, Sequence[str]], group: str, entry_ids: Sequence[str]
    ) -> None:
        """Append deliveries (JSON) to their campaigns' lists and acknowledge the stream entries
        they came from, in one transaction."""
        pipe = self.client.pipeline()
        now = now_ms()
        for campaign_id, items in deliveries.items():
            if items:
                pipe.rpush(self.campaign_keys(campaign_id).callbacks, *items)
                pipe.zadd(self.keys.callbacks_due, {campaign_id: now}, nx=True)
        if entry_ids:
            pipe.xack(self.keys.events, group, *entry_ids)
        pipe.execute()

    @translate
    def claim_due_callbacks(self, lease_ms: int, most: int) -> list[str]:
        """Campaigns whose next delivery is due, each leased to this sender for `lease_ms`."""
        args: list[Any] = ["claim", now_ms(), lease_ms, most]
        out = self._script("callback_outbox")(keys=[self.keys.callbacks_due], args=args)
        return [text(v) for v in out]

    @translate
    def next_delivery(self, campaign_id: str) -> str | None:
        head = self.client.lindex(self.campaign_keys(campaign_id).callbacks, 0)
        return None if head is None else text(head)

    @translate
    def delivery_done(self, campaign_id: str, sent: str) -> bool:
        """The receiver took `sent` (the campaign's head delivery): drop it from the list."""
        keys = [self.keys.callbacks_due, self.campaign_keys(campaign_id).callbacks]
        args: list[Any] = ["done", now_ms(), campaign_id, sent]
        return bool(self._script("callback_outbox")(keys=keys, args=args))

    @translate
    def delivery_retry(self, campaign_id: str, sent: str, keep: str, due_ms: int) -> bool:
        """The receiver did not take `sent`: keep it (as `keep`, with its tries) for `due_ms`."""
        keys = [self.keys.callbacks_due, self.campaign_keys(campaign_id).callbacks]
        args: list[Any] = ["retry", now_ms(), campaign_id, sent, keep, due_ms]
        return bool(self._script("callback_outbox")(keys=keys, args=args))

    @translate
    def drop_deliveries(self, campaign_id: str) -> None:
        """Forget a campaign's deliveries (the campaign is gone)."""
        keys = [self.keys.callbacks_due, self.campaign_keys(campaign_id).callbacks]
        self._script("callback_outbox")(keys=keys, args=["drop", now_ms(), campaign_id])

    @translate
    def callbacks_idle(self, campaign_id: str) -> None:
        """The campaign's outbox was found empty: it leaves the due set, unless one just came."""
        keys = [self.keys.callbacks_due, self.campaign_keys(campaign_id).callbacks]
        self._script("callback_outbox")(keys=keys, args=["idle", now_ms(), campaign_id])

    @translate
    def postpone_callbacks(self, campaign_id: str, due_ms: int) -> None:
        self.client.zadd(self.keys.callbacks_due, {campaign_id: due_ms}, xx=True)

    @translate
    def pending_deliveries(self, campaign_id: str) -> int:
        return int(self.client.llen(self.campaign_keys(campaign_id).callbacks))
