"""Campaigns: their meta hash, status, counters, the campaign index and the active set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from dispatcher.errors import CampaignNotFound
from dispatcher.lifecycle import CampaignStatus
from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["CampaignStore", "SubmissionGuard"]


@dataclass(frozen=True, slots=True)
class SubmissionGuard:
    """A record (an idempotency key, an intake series) that must still name this draft, in one of
    `states`, for the draft to go live; `done` is written to it in the same transaction."""

    key: str
    states: tuple[str, ...]
    done: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] | None = None  # published on the event stream in the same transaction


class CampaignStore(StoreBase):
    """Campaigns in Redis."""

    @translate
    def create_campaign(
        self,
        campaign_id: str,
        name: str,
        spec_json: str,
        *,
        extra: dict[str, Any] | None = None,
        draft_deadline_ms: int | None = None,
    ) -> None:
        """Create a campaign in `draft`; nothing is enqueued for a draft.

        `extra` meta fields (the caller's metadata, callback URL, intake id) are stored with it.
        With `draft_deadline_ms` the draft is indexed to expire then unless it is completed (or
        its deadline moved): the reconciler deletes a draft whose submitter went away.
        """
        ck = self.campaign_keys(campaign_id)
        created = now_ms()
        pipe = self.client.pipeline()
        fields: dict[Any, Any] = dict(extra or {})
        pipe.hset(
            ck.meta,
            mapping={
                **fields,
                "id": campaign_id,
                "name": name,
                "status": CampaignStatus.DRAFT.value,
                "spec": spec_json,
                "created_at": created,
                "submitted": 0,
            },
        )
        pipe.zadd(self.keys.campaigns, {campaign_id: created})
        if draft_deadline_ms is not None:
            pipe.zadd(self.keys.drafts, {campaign_id: draft_deadline_ms})
        pipe.execute()

    @translate
    def touch_draft(self, campaign_id: str, deadline_ms: int) -> None:
        """Move a draft's expiry (its submitter is still at work)."""
        self.client.zadd(self.keys.drafts, {campaign_id: deadline_ms}, xx=True)

    @translate
    def expired_drafts(self, now: int, limit: int = 100) -> list[str]:
        """Drafts whose deadline has passed."""
        found: list[Any] = list(
            self.client.zrangebyscore(self.keys.drafts, "-inf", now, start=0, num=limit)
        )
        return [text(v) for v in found]

    @translate
    def forget_draft(self, campaign_id: str) -> None:
        self.client.zrem(self.keys.drafts, campaign_id)

    @translate
    def complete_submission(
        self,
        campaign_id: str,
        status: CampaignStatus,
        fields: dict[str, Any],
        *,
        first_pickup_ms: int | None = None,
        spacing_ms: float = 0.0,
        guard: SubmissionGuard | None = None,
    ) -> bool:
        """Mark a draft submitted (its batches are about to be enqueued) and make it active.

        In the same transaction every batch gets the time a message should have picked it up by
        (`first_pickup_ms`, then `spacing_ms` apart): if its message is lost before it is even
        sent, the reconciler sends one when that time has passed. Nothing happens (False) unless
        the campaign is still a draft (the reconciler deletes drafts left too long). With a
        `guard`, only if the guard's record still names this campaign in one of its states (a
        retry may have taken the key over, or another message completed the series); the record is
        then marked done and kept as long as the campaign (its key is linked from the meta).
        """
        ck = self.campaign_keys(campaign_id)
        batches = int(self.client.hget(ck.meta, "batches") or 0)
        first = now_ms() if first_pickup_ms is None else first_pickup_ms
        mapping: dict[Any, Any] = {**fields, "status": status.value, "submitted": 1}
        if guard is not None:
            mapping["submission_key"] = guard.key
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(ck.meta)  # type: ignore[no-untyped-call] # redis-py
                    current = pipe.hget(ck.meta, "status")
                    if current is None or text(current) != CampaignStatus.DRAFT.value:
                        return False
                    if guard is not None:
                        pipe.watch(guard.key)  # type: ignore[no-untyped-call] # redis-py
                        owner, state = pipe.hmget(guard.key, "campaign_id", "state")
                        if owner is None or text(owner) != campaign_id:
                            return False
                        if state is None or text(state) not in guard.states:
                            return False
                    pipe.multi()
                    pipe.hset(ck.meta, mapping=mapping)
                    for start in range(1, batches + 1, 1000):
                        due = {
                            str(bn): first + int((bn - 1) * spacing_ms)
                            for bn in range(start, min(start + 1000, batches + 1))
                        }
                        pipe.zadd(ck.batch_due, due)
                    pipe.sadd(self.keys.active, campaign_id)
                    pipe.zrem(self.keys.drafts, campaign_id)
                    if guard is not None:
                        pipe.hset(guard.key, mapping=dict[Any, Any](guard.done))
                        pipe.persist(guard.key)
                        if guard.event is not None:
                            pipe.xadd(
                                self.keys.events,
                                dict[Any, Any](guard.event),
                                maxlen=self.events_maxlen,
                                approximate=True,
                            )
                    self._publish_status(pipe, campaign_id, status.value, "draft")
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def _publish_status(
        self, pipe: Any, campaign_id: str, status: str, previous: str, *, ended: bool = False
    ) -> None:
        """Queue a campaign status event on `pipe` (the Lua scripts publish the same shape)."""
        fields = {
            "type": "campaign",
            "campaign_id": campaign_id,
            "status": status,
            "previous": previous,
            "ended": "1" if ended else "0",
        }
        pipe.xadd(self.keys.events, fields, maxlen=self.events_maxlen, approximate=True)

    @translate
    def delete_campaign(self, campaign_id: str) -> None:
        """Remove every key of a campaign (a submission that failed half-way), and the
        idempotency record linked to it.

        A draft's deletion is published (`discarded`) if contacts blocked while it was read had
        their outcomes published already.
        """
        ck = self.campaign_keys(campaign_id)
        batches_raw, status, linked, published = self.client.hmget(
            ck.meta, "batches", "status", "submission_key", "published"
        )
        batches = int(batches_raw or 0)
        names = [
            ck.meta,
            ck.counts,
            ck.contacts,
            ck.data,
            ck.archive,
            ck.reading,
            ck.calls,
            ck.poll,
            ck.tick,
            ck.events,
            ck.activity,
            ck.retry,
            ck.batch_due,
            ck.leases,
            ck.owed,
            ck.callbacks,
        ]
        if linked is not None:
            names.append(text(linked))
        for bn in range(1, batches + 1):
            names += [ck.batch(bn), ck.batch_phones(bn)]
        names += [f"{ck.base}:lock:recording"]
        pipe = self.client.pipeline()
        for start in range(0, len(names), 1000):
            pipe.unlink(*names[start : start + 1000])
        pipe.zrem(self.keys.campaigns, campaign_id)
        pipe.srem(self.keys.active, campaign_id)
        pipe.zrem(self.keys.drafts, campaign_id)
        pipe.zrem(self.keys.callbacks_due, campaign_id)
        pipe.zrem(self.keys.archive_due, campaign_id)
        if published is not None and text(status or b"") == CampaignStatus.DRAFT.value:
            self._publish_status(pipe, campaign_id, "discarded", "draft", ended=True)
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
        before = self._script("set_status")(keys=[ck.meta, self.keys.events], args=args)
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
    def page_campaigns(
        self,
        limit: int,
        after: tuple[int, str] | None = None,
        status: str | None = None,
        examine_max: int = 5000,
    ) -> tuple[list[str], tuple[int, str] | None]:
        """Up to `limit` campaign ids, newest first, created before `after` (created ms, id).

        With `status`, only campaigns in it; at most `examine_max` campaigns are looked at per
        call, so a page can be short. The second value is where the next page starts (None: there
        is nothing further).
        """
        key = self.keys.campaigns
        top: Any = "+inf" if after is None else after[0]
        chunk = limit + 1 if status is None else 200
        found: list[str] = []
        examined, offset = 0, 0
        last: tuple[int, str] | None = None
        while examined < examine_max:
            raw: list[Any] = list(
                self.client.zrevrangebyscore(
                    key, top, "-inf", start=offset, num=chunk, withscores=True
                )
            )
            if not raw:
                return found, None
            offset += len(raw)
            page = [(text(member), int(score)) for member, score in raw]
            if after is not None:
                # Equal scores come in descending id order: resume after the cursor's id.
                page = [(m, s) for m, s in page if s < after[0] or m < after[1]]
            states: list[Any] = [None] * len(page)
            if status is not None and page:
                pipe = self.client.pipeline(transaction=False)
                for member, _ in page:
                    pipe.hget(self.campaign_keys(member).meta, "status")
                states = pipe.execute()
            for (member, score), state in zip(page, states, strict=True):
                if len(found) == limit:
                    return found, last
                examined += 1
                last = (score, member)
                if status is None or (state is not None and text(state) == status):
                    found.append(member)
        return found, last

    @translate
    def active_campaigns(self) -> list[str]:
        return sorted(text(v) for v in self.client.smembers(self.keys.active))

    @translate
    def deactivate(self, campaign_id: str) -> None:
        """Leave the active set; an ended campaign then waits in the archive index
        (`store.archive`) until it is archived."""
        pipe = self.client.pipeline()
        pipe.srem(self.keys.active, campaign_id)
        pipe.zadd(self.keys.archive_due, {campaign_id: now_ms()}, nx=True)
        pipe.execute()
