"""Contacts: adding them at submission, reading them back one by one or streamed."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import StateError
from dispatcher.store.archive_format import (
    FORMAT_VERSION,
    bucket_of,
    decode_bucket,
    find_in_bucket,
)
from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = [
    "MAX_IVR_ANSWERS",
    "MAX_IVR_ANSWER_CHARS",
    "READING_LEASE_MS",
    "ContactRecord",
    "ContactStore",
]

#: IVR-action answers kept per contact: a call has a handful of IVR steps, and the webhook receiver
#: must not let a replayed or forged stream of them grow one contact's record without end.
MAX_IVR_ANSWERS = 20
#: Characters of one IVR answer kept (a digit, a word, a recognised phrase).
MAX_IVR_ANSWER_CHARS = 200
#: How long a page of `iter_contacts` holds off an archive of the campaign (renewed every page).
READING_LEASE_MS = 60_000


def _check_format(fmt: bytes | str | None) -> None:
    if fmt is not None and text(fmt) != FORMAT_VERSION:
        raise StateError(f"archive format {text(fmt)!r} is not one this version reads")


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact as stored: its state and everything known about its calls."""

    phone: str
    state: str
    fields: dict[str, Any]
    data: dict[str, str]


class ContactStore(StoreBase):
    """Contacts in Redis."""

    @translate
    def add_contacts(
        self,
        campaign_id: str,
        batch_size: int,
        items: Sequence[tuple[str, str, str] | tuple[str, str, str, str]],
    ) -> list[int]:
        """Add (phone, data JSON or '', window group or '' [, the caller's ref or '']) tuples.

        Per tuple: 0 duplicate, 1 accepted (pending, in a batch of its group), 2 blocked.
        """
        keys, argv = self.add_contacts_arguments(campaign_id, batch_size, items)
        return [int(code) for code in text(self._script("add_contacts")(keys=keys, args=argv))]

    def add_contacts_arguments(
        self, campaign_id: str, batch_size: int, items: Sequence[tuple[str, ...]]
    ) -> tuple[list[str], list[Any]]:
        """The keys and arguments of one `add_contacts` call (`dispatcher.store.chunks` too)."""
        ck = self.campaign_keys(campaign_id)
        # JSON escapes control characters, so a data value can hold no raw tab or newline; a ref
        # with control characters is rejected when it is read (`dispatcher.contacts`).
        payload = "\n".join(["\t".join(item) for item in items])
        keys = [ck.meta, ck.contacts, ck.data, ck.counts, self.keys.dnc, self.keys.events]
        return keys, [ck.base, batch_size, payload]

    @translate
    def contact(self, campaign_id: str, phone: str) -> ContactRecord | None:
        """One contact, live or archived (`store.archive`); None if the campaign has no such
        phone."""
        ck = self.campaign_keys(campaign_id)
        # One transaction: the live record, its data and whether the campaign is archived are
        # read at one moment, so an archive committed meanwhile cannot make the contact vanish.
        pipe = self.client.pipeline()
        pipe.hget(ck.contacts, phone)
        pipe.hget(ck.data, phone)
        pipe.hmget(ck.meta, "archive_buckets", "archive_format")
        raw, data, (buckets, fmt) = pipe.execute()
        if raw is not None:
            return self._record(phone, raw, data)
        if buckets is None:
            return None
        _check_format(fmt)
        count = int(buckets)
        if count < 1:
            return None
        blob = self.client.hget(ck.archive, str(bucket_of(phone, count)))
        found = find_in_bucket(blob, phone) if blob else None  # type: ignore[arg-type]
        return None if found is None else self._record(phone, found.record, found.data)

    @translate
    def iter_contacts(self, campaign_id: str, page: int = 1000) -> Iterator[ContactRecord]:
        """Every contact of a campaign, live (HSCAN: Redis's order) or archived (bucket by
        bucket, by phone within a bucket).

        While it streams the live hash, each page renews this reader's lease in the campaign's
        `reading` set, which holds off an archive, and the lease goes when the stream ends or is
        closed; should an archive still happen (a reader stalled past its lease) the stream stops
        with `StateError` rather than end early.
        """
        ck = self.campaign_keys(campaign_id)
        token = secrets.token_hex(8)
        cursor, started = 0, False
        try:
            while True:
                now = now_ms()
                pipe = self.client.pipeline()
                pipe.zremrangebyscore(ck.reading, "-inf", now)  # leases of readers long gone
                pipe.zadd(ck.reading, {token: now + READING_LEASE_MS})
                pipe.pexpire(ck.reading, READING_LEASE_MS)  # gone by itself after the last reader
                pipe.hscan(ck.contacts, cursor, count=page)
                pipe.hmget(ck.meta, "archive_buckets", "archive_format")
                *_, (cursor, found), (buckets, fmt) = pipe.execute()
                if buckets is not None:
                    if started:
                        raise StateError(
                            f"campaign {campaign_id} was archived while its contacts were read: "
                            "read them again"
                        )
                    _check_format(fmt)
                    yield from self._iter_archive(ck.archive, int(buckets))
                    return
                chunk: dict[Any, Any] = found
                if chunk:
                    started = True
                    phones = list(chunk)
                    datas = self.client.hmget(ck.data, phones)
                    for phone, data in zip(phones, datas, strict=True):
                        yield self._record(text(phone), chunk[phone], data)
                if cursor == 0:
                    return
        finally:
            self.client.zrem(ck.reading, token)

    def _iter_archive(self, key: str, buckets: int) -> Iterator[ContactRecord]:
        for bucket in range(buckets):
            blob = self.client.hget(key, str(bucket))
            for c in decode_bucket(blob) if blob else []:  # type: ignore[arg-type]
                yield self._record(c.phone, c.record, c.data)

    @staticmethod
    def _record(phone: str, raw: bytes | str, data: bytes | str | None) -> ContactRecord:
        fields = json.loads(raw)
        return ContactRecord(
            phone=phone,
            state=str(fields.pop("s")),
            fields=fields,
            data=json.loads(data) if data else {},
        )

    @translate
    def record_ivr_answer(self, campaign_id: str, phone: str, answer: str) -> str:
        """Append an IVR action's answer to the contact (`iv` list): `recorded`, `unknown_phone`,
        `full` when the contact already has `MAX_IVR_ANSWERS`, or `archived` (not recorded: the
        campaign's contacts are archived)."""
        ck = self.campaign_keys(campaign_id)
        args: list[str | int] = [phone, answer[:MAX_IVR_ANSWER_CHARS], MAX_IVR_ANSWERS]
        outcome = int(self._script("ivr_answer")(keys=[ck.contacts], args=args))
        if outcome == 0 and self.client.hexists(ck.meta, "archived_at"):
            return "archived"  # its contacts are archived: nothing is written to them any more
        return {0: "unknown_phone", 1: "recorded", 2: "full"}[outcome]
