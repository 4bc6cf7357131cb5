"""What the reconciler reads and writes: who should have picked each batch up by when, which
leases have run out, the provider actions a campaign still owes, and the reconciler's own lease.

Each pending batch carries the token of the one message meant to send it (`msg` in its hash): a
message with another token has been superseded (the reconciler sent a new one because the old one
looked lost) and does nothing, so a lost message costs one extra message, never two sends.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["OWED_OPERATIONS", "CampaignView", "Owed", "UpkeepStore"]

#: The provider actions a campaign can owe, and the ones each makes pointless when recorded (a
#: resume's unpark replaces a pause's park not yet done; a cancel replaces them all).
OWED_OPERATIONS: dict[str, tuple[str, ...]] = {
    "park": ("unpark",),
    "unpark": ("park",),
    "replan": (),
    "cancel": ("park", "unpark", "replan"),
}


@dataclass(frozen=True, slots=True)
class Owed:
    """A provider action a campaign still owes: when it is next due, and its version."""

    operation: str
    due_ms: int
    value: str  # `<due>:<version>:<tries>` as stored; settling compares it, so a newer request
    #             of the same action recorded meanwhile survives
    tries: int = 0

    @classmethod
    def parse(cls, operation: str, value: str) -> Owed:
        due, _, rest = value.partition(":")
        _, _, tries = rest.partition(":")
        return cls(operation, int(due or 0), value, int(tries or 0))


@dataclass(frozen=True, slots=True)
class CampaignView:
    """One campaign as a sweep of the reconciler sees it (read in one pipelined round trip)."""

    campaign_id: str
    status: str  # '' when the campaign is gone
    overdue_batches: list[int]  # pending batches no message picked up in time
    expired_leases: list[int]  # batches whose sender's lease has run out
    owed: list[Owed]
    next_poll_ms: int | None
    next_retry_ms: int | None
    poll_scheduled: bool
    open_contacts: int  # pending + sending + sent


def _score(raw: bytes | str) -> int | None:
    value = text(raw)
    return int(float(value)) if value else None


class UpkeepStore(StoreBase):
    """The reconciler's view of the store."""

    @translate
    def arm_batches(self, campaign_id: str, items: Sequence[tuple[int, str, int]]) -> None:
        """For (batch, message token, pickup ms): the message that will send it, and by when."""
        ck = self.campaign_keys(campaign_id)
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            for batch_no, token, _ in chunk:
                pipe.hset(ck.batch(batch_no), "msg", token)
            pipe.zadd(ck.batch_due, {str(bn): pickup for bn, _, pickup in chunk})
            pipe.execute()

    @translate
    def overdue_count(self, campaign_id: str, batch_no: int) -> int:
        """One more time this batch was found overdue; how many times so far."""
        return int(self.client.hincrby(self.campaign_keys(campaign_id).batch(batch_no), "stale", 1))

    @translate
    def postpone_pickup(self, campaign_id: str, batch_no: int, pickup_ms: int) -> None:
        """Expect the batch's (live, queued) message to pick it up by `pickup_ms` instead."""
        ck = self.campaign_keys(campaign_id)
        self.client.zadd(ck.batch_due, {str(batch_no): pickup_ms}, xx=True)

    @translate
    def batch_states(
        self, campaign_id: str, batch_nos: Sequence[int]
    ) -> dict[int, tuple[str, str]]:
        """Batch -> (status, token of the message meant to send it, '' if none recorded)."""
        ck = self.campaign_keys(campaign_id)
        pipe = self.client.pipeline(transaction=False)
        for bn in batch_nos:
            pipe.hmget(ck.batch(bn), "status", "msg")
        out = {}
        for bn, (status, token) in zip(batch_nos, pipe.execute(), strict=True):
            out[bn] = (
                "pending" if status is None else text(status),
                "" if token is None else text(token),
            )
        return out

    @translate
    def unindex_batches(self, campaign_id: str, batch_nos: Sequence[int]) -> None:
        """Forget batches that are not pending any more (normally the scripts do this)."""
        if batch_nos:
            self.client.zrem(self.campaign_keys(campaign_id).batch_due, *map(str, batch_nos))

    @translate
    def view_campaigns(
        self, campaign_ids: Sequence[str], overdue_before_ms: int, limit: int
    ) -> list[CampaignView]:
        """What the reconciler needs of each campaign: one script each, one round trip in all."""
        now = now_ms()
        batch = self._script_batch()
        script = self._script("view_campaign")
        for campaign_id in campaign_ids:
            ck = self.campaign_keys(campaign_id)
            keys = [
                ck.meta,
                ck.batch_due,
                ck.leases,
                ck.owed,
                ck.poll,
                ck.retry,
                ck.tick,
                ck.counts,
            ]
            batch.add(script, keys, [overdue_before_ms, now, limit])
        views = []
        for campaign_id, raw in zip(campaign_ids, batch.execute(), strict=True):
            status, due, leases, owed, poll, retry, tick, open_contacts = raw
            pairs = [text(v) for v in owed]
            owed_now = [Owed.parse(op, v) for op, v in zip(pairs[::2], pairs[1::2], strict=True)]
            views.append(
                CampaignView(
                    campaign_id=campaign_id,
                    status=text(status),
                    overdue_batches=[int(bn) for bn in due],
                    expired_leases=[int(bn) for bn in leases],
                    owed=sorted(owed_now, key=lambda o: o.operation),
                    next_poll_ms=_score(poll),
                    next_retry_ms=_score(retry),
                    poll_scheduled=bool(tick),
                    open_contacts=int(open_contacts),
                )
            )
        return views

    # --- provider actions owed ------------------------------------------------------------------

    @translate
    def owe(self, campaign_id: str, operation: str, due_ms: int) -> Owed:
        """Record that the campaign owes the provider `operation`; it stays owed until settled.

        The actions it makes pointless (`OWED_OPERATIONS`) are dropped in the same transaction.
        """
        ck = self.campaign_keys(campaign_id)
        value = f"{due_ms}:{secrets.token_hex(4)}:0"
        pipe = self.client.pipeline()
        dropped = OWED_OPERATIONS[operation]
        if dropped:
            pipe.hdel(ck.owed, *dropped)
        pipe.hset(ck.owed, operation, value)
        pipe.execute()
        return Owed(operation, due_ms, value)

    @translate
    def owed(self, campaign_id: str, operation: str) -> Owed | None:
        value = self.client.hget(self.campaign_keys(campaign_id).owed, operation)
        return None if value is None else Owed.parse(operation, text(value))

    @translate
    def settle(self, campaign_id: str, owed: Owed) -> bool:
        """The provider confirmed (or refused for good) `owed`: it is owed no more, unless a newer
        request of the same action was recorded meanwhile."""
        keys = [self.campaign_keys(campaign_id).owed]
        return bool(self._script("settle_owed")(keys=keys, args=[owed.operation, owed.value, ""]))

    @translate
    def postpone(self, campaign_id: str, owed: Owed, due_ms: int, *, tried: bool) -> Owed | None:
        """Look at `owed` again at `due_ms` (unless it changed meanwhile); the new record.

        `tried`: the provider was asked and failed (counts towards the backoff).
        """
        version = owed.value.split(":")[1] if owed.value.count(":") >= 1 else ""
        tries = owed.tries + (1 if tried else 0)
        value = f"{due_ms}:{version}:{tries}"
        keys = [self.campaign_keys(campaign_id).owed]
        changed = self._script("settle_owed")(keys=keys, args=[owed.operation, owed.value, value])
        return Owed(owed.operation, due_ms, value, tries) if changed else None

    # --- the campaign as a whole ----------------------------------------------------------------

    @translate
    def finish_if_done(self, campaign_id: str) -> bool:
        """Finish the campaign if every contact is terminal; True if it just finished."""
        ck = self.campaign_keys(campaign_id)
        keys = [ck.meta, ck.counts, self.keys.events]
        return bool(self._script("finish_if_done")(keys=keys, args=[now_ms()]))

    @translate
    def take_reconciler_lease(self, owner: str, ttl_ms: int) -> bool:
        """Hold (or keep holding) the right to sweep; one process at a time sweeps."""
        key = self.keys.reconciler_lease
        if self.client.set(key, owner, nx=True, px=ttl_ms):
            return True
        held = self.client.get(key)
        if held is not None and text(held) == owner:
            self.client.pexpire(key, ttl_ms)
            return True
        return False

    @translate
    def take_retention_turn(self, owner: str, every_ms: int) -> bool:
        """True if a retention run is due and this owner takes it (the key then says when the
        next one is due: it expires after `every_ms`)."""
        return bool(self.client.set(self.keys.retention_lease, owner, nx=True, px=every_ms))

    @translate
    def end_retention_turn(self, owner: str) -> None:
        """Let the next run start at once (this one stopped at its limit)."""
        key = self.keys.retention_lease
        held = self.client.get(key)
        if held is not None and text(held) == owner:
            self.client.delete(key)
