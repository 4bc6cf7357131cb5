"""Archiving an ended campaign's contacts into compressed buckets, atomically.

A finished contact costs ~200 bytes in the live `contacts` hash (a hashtable entry, its sds
strings and ~150 bytes of JSON), and a data column ~100 more in `data`. Once a campaign has ended
and nothing can change its contacts any more, they are rewritten as zlib-compressed buckets
(`archive_format`) in one hash (`archive`), and the live `contacts` and `data` hashes and the
batches' phone lists (`bp`) are deleted. Meta, counters, batches and calls stay as they are, so the
campaign's page and list do not change.

Atomic and crash-safe: the campaign's meta, counters, contacts, data, poll and retry sets, owed
actions and the readers' lease are WATCHed while the contacts are read, and the buckets are
written, the live keys deleted and the meta marked (`archived_at`, `archive_buckets`,
`archive_format`, `archived_contacts`) in one MULTI/EXEC. A write to any of them meanwhile aborts
the archive (it is tried again later); a process that dies half-way has written nothing.

Only a campaign that is `finished` or `cancelled`, ended before the cutoff, has no open contact
(pending, sending, sent), is out of the active set and has nothing to poll, retry or ask the
provider is archived; and none while a reader streams its live contacts (`reading`, set by
`ContactStore.iter_contacts`), so a stream never loses its hash half-way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from dispatcher.lifecycle import ended_at_ms
from dispatcher.store.archive_format import (
    FORMAT_VERSION,
    ArchivedContact,
    bucket_count,
    encode_bucket,
    group_by_bucket,
)
from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["ArchiveOutcome", "ArchiveStore"]

_OPEN_STATES = ("pending", "sending", "sent")
#: Buckets written per HSET inside the transaction (a bucket is ~40-60 KB).
_BUCKETS_PER_HSET = 64
#: Keys unlinked per UNLINK inside the transaction.
_KEYS_PER_UNLINK = 1000
_META_FIELDS = ("status", "finished_at", "status_at", "archived_at", "batches", "name")


@dataclass(frozen=True, slots=True)
class ArchiveOutcome:
    """What archiving (or, in a dry run, looking at) one campaign came to.

    `outcome`: `archived`; `would_archive` (dry run); `archived_before`; `gone`; `not_ended`;
    `too_recent` (ended after the cutoff); `busy` (something is still open, see `reason`);
    `changed` (written to meanwhile: tried again later); `unarchivable` (see `reason`).
    """

    campaign_id: str
    outcome: str
    name: str = ""
    status: str = ""
    ended_at_ms: int = 0
    contacts: int = 0
    buckets: int = 0
    archive_bytes: int = 0
    reason: str = ""

    @property
    def done(self) -> bool:
        """Nothing more to do for this campaign (archived now or before, or gone)."""
        return self.outcome in ("archived", "archived_before", "gone", "unarchivable")


class ArchiveStore(StoreBase):
    """Archiving ended campaigns, and the index of those waiting for it."""

    @translate
    def archive_due(self, before_ms: int, limit: int) -> list[str]:
        """Up to `limit` campaigns that left the active set before `before_ms`, oldest first."""
        raw: Any = self.client.zrangebyscore(self.keys.archive_due, "-inf", before_ms, 0, limit)
        return [text(v) for v in raw]

    @translate
    def forget_archive_due(self, campaign_id: str) -> None:
        """Take a campaign out of the archive index (archived, gone, or never archivable)."""
        self.client.zrem(self.keys.archive_due, campaign_id)

    @translate
    def archive_later(self, campaign_id: str, at_ms: int) -> None:
        """Look at an indexed campaign again once `at_ms` is past the grace (to the back)."""
        self.client.zadd(self.keys.archive_due, {campaign_id: at_ms}, xx=True)

    @translate
    def unarchived_ended(self, cutoff_ms: int, limit: int, examine_max: int = 100_000) -> list[str]:
        """Campaigns created before `cutoff_ms`, ended and not archived, oldest first (what the
        index may lack: campaigns that ended before it existed); one pipeline per 500."""
        found: list[str] = []
        for ids in self._created_before(cutoff_ms, examine_max):
            if len(found) >= limit:
                break
            pipe = self.client.pipeline(transaction=False)
            for campaign_id in ids:
                pipe.hmget(self.campaign_keys(campaign_id).meta, *_META_FIELDS)
            for campaign_id, values in zip(ids, pipe.execute(), strict=True):
                meta = {k: text(v) for k, v in zip(_META_FIELDS, values, strict=True) if v}
                ended = ended_at_ms(meta)
                if ended is not None and ended <= cutoff_ms and "archived_at" not in meta:
                    found.append(campaign_id)
                    if len(found) == limit:
                        return found
        return found

    @translate
    def archive_campaign(
        self, campaign_id: str, ended_before_ms: int, *, dry_run: bool = False
    ) -> ArchiveOutcome:
        """Archive the campaign's contacts if it ended at or before `ended_before_ms` and
        nothing is open (see the module docstring); with `dry_run`, only say whether it would."""
        ck = self.campaign_keys(campaign_id)
        watched = [ck.meta, ck.counts, ck.contacts, ck.data, ck.poll, ck.retry, ck.owed, ck.reading]
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(*watched)  # type: ignore[no-untyped-call] # redis-py
                raw_meta: Any = pipe.hgetall(ck.meta)
                meta = {text(k): text(v) for k, v in raw_meta.items()}
                outcome = self._check(pipe, campaign_id, meta, ended_before_ms)
                if outcome.outcome != "ok":
                    return outcome
                total = int(pipe.hlen(ck.contacts))
                buckets = bucket_count(total)
                if dry_run:
                    return _with(outcome, "would_archive", contacts=total, buckets=buckets)
                try:
                    contacts = _read_live(pipe, ck.contacts, ck.data)
                    if len(contacts) != total:
                        return _with(outcome, "changed", reason="contacts changed while read")
                    groups = group_by_bucket(contacts, buckets)
                    blobs = {str(b): encode_bucket(group) for b, group in groups.items()}
                except ValueError as exc:
                    return _with(outcome, "unarchivable", contacts=total, reason=str(exc))
                live = [ck.contacts, ck.data]
                live += [ck.batch_phones(bn) for bn in range(1, int(meta.get("batches") or 0) + 1)]
                pipe.multi()
                names = list(blobs)
                for start in range(0, len(names), _BUCKETS_PER_HSET):
                    part = {n: blobs[n] for n in names[start : start + _BUCKETS_PER_HSET]}
                    pipe.hset(ck.archive, mapping=part)  # type: ignore[arg-type] # bytes values
                for start in range(0, len(live), _KEYS_PER_UNLINK):
                    pipe.unlink(*live[start : start + _KEYS_PER_UNLINK])
                marks = {
                    "archived_at": now_ms(),
                    "archive_buckets": buckets,
                    "archive_format": FORMAT_VERSION,
                    "archived_contacts": total,
                }
                pipe.hset(ck.meta, mapping=marks)  # type: ignore[arg-type] # ints are fine
                pipe.zrem(self.keys.archive_due, campaign_id)
                pipe.execute()
            except redis.WatchError:
                return ArchiveOutcome(campaign_id, "changed", reason="written to while archived")
        size = sum(len(b) for b in blobs.values())
        return _with(outcome, "archived", contacts=total, buckets=buckets, archive_bytes=size)

    def _check(
        self, pipe: Any, campaign_id: str, meta: dict[str, str], ended_before_ms: int
    ) -> ArchiveOutcome:
        """`ok` if the campaign may be archived now, else why not (reads under the WATCH)."""
        ck = self.campaign_keys(campaign_id)
        if not meta:
            return ArchiveOutcome(campaign_id, "gone")
        ended = ended_at_ms(meta)
        base = ArchiveOutcome(
            campaign_id,
            "ok",
            name=meta.get("name", ""),
            status=meta.get("status", ""),
            ended_at_ms=ended or 0,
            contacts=int(meta.get("archived_contacts") or 0),
            buckets=int(meta.get("archive_buckets") or 0),
        )
        if "archived_at" in meta:
            return _with(base, "archived_before")
        if ended is None:
            return _with(base, "not_ended")
        if ended > ended_before_ms:
            return _with(base, "too_recent")
        counts = {text(k): int(v) for k, v in pipe.hgetall(ck.counts).items()}
        still_open = sum(counts.get(state, 0) for state in _OPEN_STATES)
        reasons = [
            (still_open > 0, f"{still_open} contact(s) still open"),
            (bool(pipe.sismember(self.keys.active, campaign_id)), "still in the active set"),
            (int(pipe.zcard(ck.poll)) > 0, "calls still to poll"),
            (int(pipe.zcard(ck.retry)) > 0, "retries still waiting"),
            (int(pipe.hlen(ck.owed)) > 0, "provider actions still owed"),
            (int(pipe.zcount(ck.reading, now_ms(), "+inf")) > 0, "its contacts are being read"),
        ]
        busy = [why for found, why in reasons if found]
        return _with(base, "busy", reason="; ".join(busy)) if busy else base


def _with(outcome: ArchiveOutcome, name: str, **changes: Any) -> ArchiveOutcome:
    values = {
        "name": outcome.name,
        "status": outcome.status,
        "ended_at_ms": outcome.ended_at_ms,
        "contacts": outcome.contacts,
        "buckets": outcome.buckets,
        "archive_bytes": outcome.archive_bytes,
        "reason": outcome.reason,
        **changes,
    }
    return ArchiveOutcome(outcome.campaign_id, name, **values)


def _read_live(pipe: Any, contacts_key: str, data_key: str) -> list[ArchivedContact]:
    """Every contact and its data, read on a WATCHing connection (HSCAN may repeat a field
    while the hash is rehashed: each phone is kept once)."""
    found: dict[str, ArchivedContact] = {}
    cursor = 0
    while True:
        cursor, chunk = pipe.hscan(contacts_key, cursor, count=1000)
        if chunk:
            phones = list(chunk)
            datas = pipe.hmget(data_key, phones)
            for phone, data in zip(phones, datas, strict=True):
                name = text(phone)
                found[name] = ArchivedContact(name, text(chunk[phone]), text(data or b""))
        if cursor == 0:
            return list(found.values())
