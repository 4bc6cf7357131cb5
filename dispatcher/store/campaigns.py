"""Campaigns: their meta hash, status, counters, the campaign index and the active set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dispatcher.errors import CampaignNotFound
from dispatcher.lifecycle import CampaignStatus
from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["CampaignStore"]


class CampaignStore(StoreBase):
    """Campaigns in Redis."""

    @translate
    def create_campaign(self, campaign_id: str, name: str, spec_json: str) -> None:
        """Create a campaign in `draft`; nothing is enqueued for a draft."""
        ck = self.campaign_keys(campaign_id)
        created = now_ms()
        pipe = self.client.pipeline()
        pipe.hset(
            ck.meta,
            mapping={
                "id": campaign_id,
                "name": name,
                "status": CampaignStatus.DRAFT.value,
                "spec": spec_json,
                "created_at": created,
                "submitted": 0,
            },
        )
        pipe.zadd(self.keys.campaigns, {campaign_id: created})
        pipe.execute()

    @translate
    def complete_submission(
        self,
        campaign_id: str,
        status: CampaignStatus,
        fields: dict[str, Any],
        *,
        first_pickup_ms: int | None = None,
        spacing_ms: float = 0.0,
    ) -> None:
        """Mark a draft submitted (its batches are about to be enqueued) and make it active.

        In the same transaction every batch gets the time a message should have picked it up by
        (`first_pickup_ms`, then `spacing_ms` apart): if its message is lost before it is even
        sent, the reconciler sends one when that time has passed.
        """
        ck = self.campaign_keys(campaign_id)
        batches = int(self.client.hget(ck.meta, "batches") or 0)
        first = now_ms() if first_pickup_ms is None else first_pickup_ms
        pipe = self.client.pipeline()
        mapping: dict[Any, Any] = {**fields, "status": status.value, "submitted": 1}
        pipe.hset(ck.meta, mapping=mapping)
        for start in range(1, batches + 1, 1000):
            due = {
                str(bn): first + int((bn - 1) * spacing_ms)
                for bn in range(start, min(start + 1000, batches + 1))
            }
            pipe.zadd(ck.batch_due, due)
        pipe.sadd(self.keys.active, campaign_id)
        pipe.execute()

    @translate
    def delete_campaign(self, campaign_id: str) -> None:
        """Remove every key of a campaign (a submission that failed half-way)."""
        ck = self.campaign_keys(campaign_id)
        batches = int(self.client.hget(ck.meta, "batches") or 0)
        names = [
            ck.meta,
            ck.counts,
            ck.contacts,
            ck.data,
            ck.calls,
            ck.poll,
            ck.tick,
            ck.events,
            ck.retry,
            ck.batch_due,
            ck.leases,
            ck.owed,
        ]
        for bn in range(1, batches + 1):
            names += [ck.batch(bn), ck.batch_phones(bn)]
        names += [f"{ck.base}:lock:recording"]
        pipe = self.client.pipeline()
        for start in range(0, len(names), 1000):
            pipe.unlink(*names[start : start + 1000])
        pipe.zrem(self.keys.campaigns, campaign_id)
        pipe.srem(self.keys.active, campaign_id)
        pipe.execute()

    @translate
    def meta(self, campaign_id: str) -> dict[str, str]:
        """The campaign's meta hash, decoded; `CampaignNotFound` if there is none."""
        raw = self.client.hgetall(self.campaign_keys(campaign_id).meta)
        if not raw:
            raise CampaignNotFound(f"no campaign {campaign_id!r}")
        return {text(k): text(v) for k, v in raw.items()}

    @translate
    def counts(self, campaign_id: str) -> dict[str, int]:
        """Contacts per state (states with no contacts are left out)."""
        raw = self.client.hgetall(self.campaign_keys(campaign_id).counts)
        return {text(k): int(v) for k, v in raw.items() if int(v) != 0}

    @translate
    def counts_many(self, campaign_ids: Sequence[str]) -> list[dict[str, int]]:
        """`counts` of several campaigns in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for campaign_id in campaign_ids:
            pipe.hgetall(self.campaign_keys(campaign_id).counts)
        return [{text(k): int(v) for k, v in raw.items() if int(v) != 0} for raw in pipe.execute()]

    @translate
    def status(self, campaign_id: str) -> CampaignStatus:
        value = self.client.hget(self.campaign_keys(campaign_id).meta, "status")
        if value is None:
            raise CampaignNotFound(f"no campaign {campaign_id!r}")
        return CampaignStatus(text(value))

    @translate
    def set_status(
        self,
        campaign_id: str,
        target: CampaignStatus,
        allowed_from: Iterable[CampaignStatus],
        extra: dict[str, Any] | None = None,
    ) -> CampaignStatus:
        """Move to `target` if the status is one of `allowed_from` (atomically); the old status."""
        ck = self.campaign_keys(campaign_id)
        args = [target.value, now_ms(), *(s.value for s in allowed_from)]
        before = self._script("set_status")(keys=[ck.meta], args=args)
        if before is None:
            raise CampaignNotFound(f"no campaign {campaign_id!r}")
        previous = CampaignStatus(text(before))
        if extra and previous in set(allowed_from):
            self.client.hset(ck.meta, mapping=dict[Any, Any](extra))
        return previous

    @translate
    def set_meta(self, campaign_id: str, fields: dict[str, Any]) -> None:
        self.client.hset(self.campaign_keys(campaign_id).meta, mapping=dict[Any, Any](fields))

    @translate
    def list_campaigns(self, limit: int = 100) -> list[str]:
        """Campaign ids, newest first."""
        ids: list[Any] = list(self.client.zrevrange(self.keys.campaigns, 0, limit - 1))
        return [text(v) for v in ids]

    @translate
    def active_campaigns(self) -> list[str]:
        return sorted(text(v) for v in self.client.smembers(self.keys.active))

    @translate
    def deactivate(self, campaign_id: str) -> None:
        self.client.srem(self.keys.active, campaign_id)
