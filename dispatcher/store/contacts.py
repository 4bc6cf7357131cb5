"""Contacts: adding them at submission, reading them back one by one or streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.store.base import StoreBase, text, translate

__all__ = ["MAX_IVR_ANSWERS", "MAX_IVR_ANSWER_CHARS", "ContactRecord", "ContactStore"]

#: IVR-action answers kept per contact: a call has a handful of IVR steps, and the webhook receiver
#: must not let a replayed or forged stream of them grow one contact's record without end.
MAX_IVR_ANSWERS = 20
#: Characters of one IVR answer kept (a digit, a word, a recognised phrase).
MAX_IVR_ANSWER_CHARS = 200


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
        ck = self.campaign_keys(campaign_id)
        raw, data = self.client.hmget(ck.contacts, phone)[0], self.client.hget(ck.data, phone)
        if raw is None:
            return None
        return self._record(phone, raw, data)

    @translate
    def iter_contacts(self, campaign_id: str, page: int = 1000) -> Iterator[ContactRecord]:
        """Every contact of a campaign, streamed with HSCAN (order is Redis's)."""
        ck = self.campaign_keys(campaign_id)
        cursor = 0
        while True:
            cursor, found = self.client.hscan(ck.contacts, cursor, count=page)
            chunk: dict[Any, Any] = found  # type: ignore[assignment] # HSCAN answers a mapping
            if chunk:
                phones = list(chunk)
                datas = self.client.hmget(ck.data, phones)
                for phone, data in zip(phones, datas, strict=True):
                    yield self._record(text(phone), chunk[phone], data)
            if cursor == 0:
                return

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
        or `full` when the contact already has `MAX_IVR_ANSWERS`."""
        ck = self.campaign_keys(campaign_id)
        args: list[str | int] = [phone, answer[:MAX_IVR_ANSWER_CHARS], MAX_IVR_ANSWERS]
        outcome = int(self._script("ivr_answer")(keys=[ck.contacts], args=args))
        return {0: "unknown_phone", 1: "recorded", 2: "full"}[outcome]
