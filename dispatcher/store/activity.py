"""A campaign's activity over time: dials and outcomes per minute, kept bounded, for the console.

One hash per campaign (`CampaignKeys.activity`), field `<unix minute>:<kind>` -> count, where the
kind is `dials` or the outcome of a dial (a terminal contact state). A writer adds with one
pipelined round trip (an HINCRBY per kind, the expiry pushed on); once an hour at most, a writer
drops the minutes older than `KEEP_MINUTES`. So the hash holds at most `KEEP_MINUTES` +
`TRIM_EVERY_MINUTES` minutes of `KINDS` whatever the campaign's length, and a campaign nobody
writes for loses it `EXPIRE_AFTER_S` after its last activity (or with the campaign).

These are statistics beside the truth (the counters and the contacts): a write that fails is
logged once (`activity.not_recorded`) and never fails the dial or the reconciliation it counts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from dispatcher.logs import get_logger
from dispatcher.store.base import StoreBase, now_ms, text, translate
from dispatcher.store.scripts import TERMINAL_STATES

__all__ = [
    "DIALS",
    "EXPIRE_AFTER_S",
    "KEEP_MINUTES",
    "KINDS",
    "TRIM_EVERY_MINUTES",
    "ActivityStore",
    "Minute",
]

log = get_logger(__name__)

#: Phones in accepted creates.
DIALS = "dials"
#: Everything a minute counts: dials and each outcome of a dial.
KINDS = (DIALS, *TERMINAL_STATES)
#: Minutes kept (and the longest window a read may ask for): one day.
KEEP_MINUTES = 1440
#: How often (minutes) a writer drops the minutes older than `KEEP_MINUTES`.
TRIM_EVERY_MINUTES = 60
#: The hash goes this long after its last write (the campaign's own keys may stay longer).
EXPIRE_AFTER_S = 7 * 24 * 3600
#: The field holding the minute of the last trim.
_TRIMMED = "trimmed"


@dataclass(frozen=True, slots=True)
class Minute:
    """What happened in one minute: dials started and outcomes reconciled."""

    minute_ms: int  # the minute's start (UNIX ms)
    dials: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"minute_ms": self.minute_ms, "dials": self.dials, "outcomes": self.outcomes}


def minute_of(at_ms: int) -> int:
    """Pure: the UNIX minute `at_ms` falls in."""
    return at_ms // 60_000


class ActivityStore(StoreBase):
    """Per-minute dials and outcomes of each campaign."""

    def note_dials(self, campaign_id: str, phones: int) -> None:
        """Count `phones` dialled now (a create the provider accepted)."""
        if phones > 0:
            self._add(campaign_id, {DIALS: phones})

    def note_outcomes(self, campaign_id: str, tallies: Iterable[Mapping[str, int]]) -> None:
        """Count the outcomes reconciled now (`{state: contacts}` per reconciled api call)."""
        total: Counter[str] = Counter()
        for tally in tallies:
            total.update(tally)
        self._add(campaign_id, {k: n for k, n in total.items() if k in KINDS and n > 0})

    def _add(self, campaign_id: str, counts: Mapping[str, int]) -> None:
        if not counts:
            return
        key = self.campaign_keys(campaign_id).activity
        minute = minute_of(now_ms())
        try:
            pipe = self.client.pipeline(transaction=False)
            for kind, n in counts.items():
                pipe.hincrby(key, f"{minute}:{kind}", n)
            pipe.hsetnx(key, _TRIMMED, minute)
            pipe.hget(key, _TRIMMED)
            pipe.expire(key, EXPIRE_AFTER_S)
            trimmed = pipe.execute()[-2]
            if trimmed is not None and minute - int(trimmed) >= TRIM_EVERY_MINUTES:
                self._trim(key, minute)
        except redis.RedisError as exc:
            log.warning("activity.not_recorded", campaign_id=campaign_id, error=str(exc))

    def _trim(self, key: str, minute: int) -> None:
        # Rare (hourly) and O(fields): two writers trimming at once delete the same fields.
        oldest = minute - KEEP_MINUTES
        stale = [
            name
            for name in (text(f) for f in self.client.hkeys(key))
            if name != _TRIMMED and int(name.partition(":")[0]) <= oldest
        ]
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(stale), 1000):
            pipe.hdel(key, *stale[start : start + 1000])
        pipe.hset(key, _TRIMMED, minute)
        pipe.execute()

    @translate
    def activity(self, campaign_id: str, until_ms: int, minutes: int) -> list[Minute]:
        """The `minutes` minutes up to the one `until_ms` falls in, oldest first; quiet ones left
        out. One HMGET of minutes x kinds fields: nothing else of the campaign is read."""
        if not 1 <= minutes <= KEEP_MINUTES:
            raise ValueError(f"minutes must be 1..{KEEP_MINUTES}")
        last = minute_of(until_ms)
        wanted = [(m, kind) for m in range(last - minutes + 1, last + 1) for kind in KINDS]
        values = self.client.hmget(
            self.campaign_keys(campaign_id).activity, [f"{m}:{kind}" for m, kind in wanted]
        )
        found: dict[int, Minute] = {}
        for (m, kind), value in zip(wanted, values, strict=True):
            if value is None or int(value) == 0:
                continue
            entry = found.setdefault(m, Minute(minute_ms=m * 60_000))
            if kind == DIALS:
                found[m] = Minute(entry.minute_ms, int(value), entry.outcomes)
            else:
                entry.outcomes[kind] = int(value)
        return [found[m] for m in sorted(found)]

    @translate
    def recent_events(self, campaign_id: str, limit: int) -> list[dict[str, Any]]:
        """The campaign's last `limit` events (pauses, faults, controls), newest first."""
        raw = self.client.lrange(self.campaign_keys(campaign_id).events, 0, limit - 1)
        out: list[dict[str, Any]] = []
        for item in raw:
            try:
                event = json.loads(text(item))
            except ValueError:
                continue  # not ours: the list is written by `add_event` only
            if isinstance(event, dict):
                out.append(event)
        return out
