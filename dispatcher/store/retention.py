"""Removing campaigns that ended long ago, whole, and only those.

Candidates come from the campaign index by creation time: a campaign that ended before the cutoff
was created before it, so `ZRANGEBYSCORE campaigns -inf <cutoff>` holds every campaign that can be
removed, plus the old ones still kept (still active, or ended after the cutoff). A campaign is
removed only when its status is `finished` or `cancelled`, it ended before the cutoff, it has left
the active set (nothing left to poll, retry or ask the provider) and no contact is open; anything
else (draft, scheduled, running, paused, planned calls) stays whatever its age.

Removal is resumable: the meta is marked `purging` (after the checks, atomically), then every other
key is unlinked, then the meta and the index entries go in one transaction. A process that dies
half-way leaves the campaign indexed and marked, and the next purge finishes it. The idempotency
or intake record that named the campaign becomes a small tombstone (`state` `purged`), kept for
`tombstone_ms`, so a retried submission is told its campaign was removed instead of silently
creating it again. The do-not-call list and the event stream (deployment-wide, bounded by
`MAXLEN`) are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dispatcher.lifecycle import ended_at_ms
from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["Ended", "RetentionStore"]

_META_FIELDS = ("status", "name", "created_at", "finished_at", "status_at")
_OPEN_STATES = ("pending", "sending", "sent")
#: Keys unlinked per command.
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Ended:
    """A campaign that ended before the cutoff and can be removed."""

    campaign_id: str
    name: str
    status: str
    created_at_ms: int
    ended_at_ms: int
    contacts: int


class RetentionStore(StoreBase):
    """Finding and removing campaigns past their retention."""

    @translate
    def purgeable(self, cutoff_ms: int, limit: int, examine_max: int = 10_000) -> list[Ended]:
        """Up to `limit` campaigns that ended before `cutoff_ms` and can be removed, oldest
        first; at most `examine_max` old campaigns are looked at (one pipeline per 500)."""
        found: list[Ended] = []
        for ids in self._created_before(cutoff_ms, examine_max):
            if len(found) >= limit:
                break
            pipe = self.client.pipeline(transaction=False)
            for campaign_id in ids:
                ck = self.campaign_keys(campaign_id)
                pipe.hmget(ck.meta, *_META_FIELDS)
                pipe.hgetall(ck.counts)
            pipe.smismember(self.keys.active, ids)
            replies = pipe.execute()
            active = replies[-1]
            for i, campaign_id in enumerate(ids):
                meta = dict(zip(_META_FIELDS, replies[2 * i], strict=True))
                fields = {k: text(v) for k, v in meta.items() if v is not None}
                counts = {text(k): int(v) for k, v in replies[2 * i + 1].items()}
                still_open = any(counts.get(state, 0) for state in _OPEN_STATES)
                ended = ended_at_ms(fields)
                if ended is None or ended > cutoff_ms or active[i] or still_open:
                    continue
                found.append(
                    Ended(
                        campaign_id=campaign_id,
                        name=fields.get("name", ""),
                        status=fields.get("status", ""),
                        created_at_ms=int(fields.get("created_at") or 0),
                        ended_at_ms=ended,
                        contacts=sum(counts.values()),
                    )
                )
                if len(found) == limit:
                    return found
        return found

    @translate
    def purge_campaign(self, campaign_id: str, cutoff_ms: int, tombstone_ms: int) -> int:
        """Remove every key of a campaign that ended before `cutoff_ms` (checked again here,
        atomically); how many keys were removed (0: it cannot be removed, or is gone)."""
        ck = self.campaign_keys(campaign_id)
        keys = [ck.meta, ck.counts, self.keys.active]
        out: Any = self._script("purge_mark")(keys=keys, args=[cutoff_ms])
        if not out:
            return 0
        batches = int(out[0] or 0)
        linked = text(out[1]) if out[1] else ""
        names = ck.every_key(batches)
        removed = 0
        body, meta = names[:-1], names[-1]
        for start in range(0, len(body), _CHUNK):
            removed += int(self.client.unlink(*body[start : start + _CHUNK]))
        pipe = self.client.pipeline()
        pipe.unlink(meta)
        pipe.zrem(self.keys.campaigns, campaign_id)
        pipe.srem(self.keys.active, campaign_id)
        pipe.zrem(self.keys.drafts, campaign_id)
        pipe.zrem(self.keys.callbacks_due, campaign_id)
        pipe.zrem(self.keys.archive_due, campaign_id)
        if linked:
            # The record a retried submission finds: say it was purged rather than be forgotten
            # (a forgotten key would create the campaign again and dial everyone a second time).
            pipe.delete(linked)
            pipe.hset(
                linked,
                mapping={
                    "state": "purged",
                    "campaign_id": campaign_id,
                    "purged_at": now_ms(),
                    "updated_at": now_ms(),
                    "reason": "the campaign ended and was removed after its retention period",
                },
            )
            pipe.pexpire(linked, max(tombstone_ms, 1))
        removed += int(pipe.execute()[0])
        return removed
