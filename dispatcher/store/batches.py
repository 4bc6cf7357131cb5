"""Batches: claimed right before their create, then sent, given back or ended."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.errors import CampaignNotFound
from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["BatchStore", "Claim", "Sent"]


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming a batch found: the phones to send now, or why there are none."""

    outcome: str  # claimed | sending | held | empty | untrusted | <the batch's status>
    phones: tuple[str, ...] = ()
    lease_until_ms: int = 0
    detail: str = ""
    #: With claim durability on: why a `claimed` claim is not confirmed ('' when it is, or off).
    unconfirmed: str = ""


@dataclass(frozen=True, slots=True)
class Sent:
    """What recording a create's api call did."""

    moved: int  # contacts moved to `sent`
    campaign_status: str  # read in the same script: a pause or cancel may have landed meanwhile
    late: bool  # the claim's lease had run out: the contacts were already `unknown`
    #: With claim durability on: why the record is not confirmed ('' when it is, or off).
    unconfirmed: str = ""


class BatchStore(StoreBase):
    """Batches in Redis."""

    @translate
    def batch_count(self, campaign_id: str) -> int:
        return int(self.client.hget(self.campaign_keys(campaign_id).meta, "batches") or 0)

    @translate
    def batch_status(self, campaign_id: str, batch_no: int) -> dict[str, str]:
        raw = self.client.hgetall(self.campaign_keys(campaign_id).batch(batch_no))
        info = {text(k): text(v) for k, v in raw.items()}
        info.setdefault("status", "pending")
        return info

    @translate
    def batches(self, campaign_id: str) -> list[tuple[int, dict[str, str]]]:
        """(batch number, its hash) for every batch, in one pipelined round trip per 1,000."""
        ck = self.campaign_keys(campaign_id)
        count = int(self.client.hget(ck.meta, "batches") or 0)
        out: list[tuple[int, dict[str, str]]] = []
        for start in range(1, count + 1, 1000):
            numbers = range(start, min(start + 1000, count + 1))
            pipe = self.client.pipeline(transaction=False)
            for bn in numbers:
                pipe.hgetall(ck.batch(bn))
            for bn, raw in zip(numbers, pipe.execute(), strict=True):
                info = {text(k): text(v) for k, v in raw.items()}
                info.setdefault("status", "pending")
                out.append((bn, info))
        return out

    @translate
    def set_batch_fields(self, campaign_id: str, batch_no: int, fields: dict[str, Any]) -> None:
        self.client.hset(
            self.campaign_keys(campaign_id).batch(batch_no), mapping=dict[Any, Any](fields)
        )

    @translate
    def batch_view(
        self, campaign_id: str, batch_no: int
    ) -> tuple[dict[str, str], dict[str, str], int]:
        """(campaign meta, batch hash, number of phones) in one round trip, for the batch actor."""
        ck = self.campaign_keys(campaign_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(ck.meta)
        pipe.hgetall(ck.batch(batch_no))
        pipe.llen(ck.batch_phones(batch_no))
        meta_raw, batch_raw, count = pipe.execute()
        if not meta_raw:
            raise CampaignNotFound(f"no campaign {campaign_id!r}")
        batch = {text(k): text(v) for k, v in batch_raw.items()}
        batch.setdefault("status", "pending")
        return {text(k): text(v) for k, v in meta_raw.items()}, batch, int(count)

    @translate
    def batch_phones(self, campaign_id: str, batch_no: int) -> list[str]:
        ck = self.campaign_keys(campaign_id)
        return [text(p) for p in self.client.lrange(ck.batch_phones(batch_no), 0, -1)]

    @translate
    def claim_batch(
        self,
        campaign_id: str,
        batch_no: int,
        lease_ms: int,
        token: str,
        *,
        daily_cap: int = 0,
        epoch_id: str = "",
    ) -> Claim:
        """`pending → sending` for the batch and its open contacts, right before the dial.

        Re-checks the campaign's status, the DNC list and (with `daily_cap`) how often each number
        was dialled today across all campaigns; a capped number waits for tomorrow (UTC). With
        `epoch_id`, the epoch marker is checked in the same script: a marker gone, changed or
        flagged lost answers `untrusted` and claims nothing (the caller judges why, see
        `store.trust`).
        """
        ck = self.campaign_keys(campaign_id)
        now = now_ms()
        today = time.strftime("%Y%m%d", time.gmtime(now / 1000))
        tomorrow_ms = (now // 86_400_000 + 1) * 86_400_000
        keys = [
            ck.meta,
            ck.counts,
            ck.contacts,
            ck.batch(batch_no),
            ck.batch_phones(batch_no),
            self.keys.dnc,
            self.keys.dial_counts(today),
            ck.retry,
            ck.batch_due,
            ck.leases,
            self.keys.events,
            self.keys.epoch,
        ]
        args: list[Any] = [now, lease_ms, token, batch_no, daily_cap, tomorrow_ms, epoch_id]
        reply, unconfirmed = self._durably("claim_batch", keys, args)
        out = [text(v) for v in reply]
        if out[0] == "claimed":
            return Claim("claimed", tuple(out[1:]), unconfirmed=unconfirmed)
        if out[0] == "sending":
            return Claim("sending", lease_until_ms=int(out[1]))
        if out[0] == "held":
            return Claim("held", detail=out[1])
        return Claim(out[0])

    @translate
    def mark_sent(
        self,
        campaign_id: str,
        batch_no: int,
        token: str,
        api_call_id: str,
        phones: Sequence[str],
        due_ms: int,
        planned_at_ms: int | None = None,
    ) -> Sent:
        """Record the api call created for a batch under claim `token`; schedule its first poll.

        A success that comes after the claim's lease ran out is recorded too (`Sent.late`): the
        contacts stay `unknown` until the provider's outcome for that api call replaces it. If the
        campaign was cancelled (or paused, for a planned call) meanwhile, the provider action it
        now owes is recorded in the same script.
        """
        ck = self.campaign_keys(campaign_id)
        keys = [
            ck.meta,
            ck.counts,
            ck.contacts,
            ck.batch(batch_no),
            ck.calls,
            ck.poll,
            ck.leases,
            ck.owed,
            self.keys.active,
        ]
        planned = "" if planned_at_ms is None else planned_at_ms
        args: list[Any] = [
            batch_no, api_call_id, due_ms, now_ms(), planned, token, campaign_id, *phones
        ]  # fmt: skip
        # The script also puts the campaign back in the active set: a late success may reach a
        # campaign that already left it, and its call must still be polled.
        (moved, status, late), unconfirmed = self._durably("mark_sent", keys, args)
        return Sent(int(moved), text(status), bool(late), unconfirmed)

    def _durably(self, name: str, keys: list[Any], args: list[Any]) -> tuple[Any, str]:
        """Run script `name`; with claim durability on, wait for its confirmation on the same
        connection: (reply, '' or why it is not confirmed)."""
        script = self._script(name)
        if not self.durability.enabled:
            return script(keys=keys, args=args), ""
        return self.durability.run(self.client, script, keys, args)

    @translate
    def release_batch(
        self,
        campaign_id: str,
        batch_no: int,
        token: str,
        phones: Sequence[str],
        *,
        deadline_ms: int,
    ) -> str:
        """Give a claimed batch back (the request provably did not take effect).

        Answers `pending` (a message must pick it up again; the reconciler does by `deadline_ms`),
        `cancelled` (the campaign was cancelled meanwhile: its contacts ended `cancelled`) or ''
        (not this claim's to give back).
        """
        ck = self.campaign_keys(campaign_id)
        keys = [
            ck.meta,
            ck.counts,
            ck.contacts,
            ck.batch(batch_no),
            ck.batch_due,
            ck.leases,
            self.keys.events,
        ]
        args: list[Any] = [token, now_ms(), batch_no, deadline_ms, *phones]
        code = int(self._script("release_batch")(keys=keys, args=args))
        return {1: "pending", 2: "cancelled"}.get(code, "")

    @translate
    def finish_batch(
        self,
        campaign_id: str,
        batch_no: int,
        state: str,
        reason: str,
        batch_status: str,
        *,
        only_if: str = "",
    ) -> tuple[int, bool]:
        """End the batch's open contacts in `state`; returns (moved, campaign finished).

        With `only_if`, nothing happens unless the batch's status is that one (checked atomically:
        cancelling a `pending` batch must not touch one a worker has just claimed).
        """
        moved, finished, _ = self._finish(
            campaign_id, batch_no, state, reason, batch_status, only_if, lease_expired=False
        )
        return moved, finished

    @translate
    def expire_lease(self, campaign_id: str, batch_no: int, reason: str) -> tuple[int, bool] | None:
        """End a `sending` batch `unknown` if its lease has run out; None if it had not (or was
        not sending any more). (moved, campaign finished) otherwise."""
        moved, finished, applied = self._finish(
            campaign_id, batch_no, "unknown", reason, "unknown", "sending", lease_expired=True
        )
        return (moved, finished) if applied else None

    def _finish(
        self,
        campaign_id: str,
        batch_no: int,
        state: str,
        reason: str,
        batch_status: str,
        only_if: str,
        *,
        lease_expired: bool,
    ) -> tuple[int, bool, bool]:
        ck = self.campaign_keys(campaign_id)
        keys = [
            ck.meta,
            ck.counts,
            ck.contacts,
            ck.batch(batch_no),
            ck.batch_phones(batch_no),
            ck.batch_due,
            ck.leases,
            self.keys.events,
        ]
        args: list[Any] = [
            state,
            reason[:500],
            now_ms(),
            batch_status,
            only_if,
            batch_no,
            "1" if lease_expired else "",
        ]
        moved, finished, applied = self._script("finish_batch")(keys=keys, args=args)
        return int(moved), bool(finished), bool(applied)
