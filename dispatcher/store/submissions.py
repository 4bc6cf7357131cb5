"""Submission records: idempotency keys of the HTTP API and Python producer, and intake series.

An idempotency record is created (state `reading`, with a lease) before a submission is read, so a
retry that arrives meanwhile finds it and is told to wait; it becomes `done` with the report in the
same transaction that makes its campaign live (`CampaignStore.complete_submission`), and from then
on lives as long as that campaign (the campaign's meta links it, and deleting the campaign deletes
it). A submission that fails or is refused releases it.

An intake record follows a series of dramatiq messages (`external_id`, parts): `draft` while parts
arrive, then `submitted` (linked from its campaign like an idempotency key) or `refused` (kept for
a while so the caller can read why).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["PartResult", "SubmissionStore"]


@dataclass(frozen=True, slots=True)
class PartResult:
    """What applying one intake part did: add_contacts codes, or why nothing was applied."""

    applied: bool
    codes: str = ""
    state: str = ""  # the record's state when nothing was applied
    duplicate: bool = False  # the part had been applied before


def _decode(raw: Sequence[Any]) -> dict[str, str]:
    return {text(raw[i]): text(raw[i + 1]) for i in range(0, len(raw), 2)}


class SubmissionStore(StoreBase):
    """Idempotency and intake records in Redis."""

    # --- idempotency keys and shared record operations -----------------------------------------

    @translate
    def reserve_record(
        self, key: str, campaign_id: str, lease_ms: int, fields: dict[str, Any]
    ) -> dict[str, str] | None:
        """Create record `key` for `campaign_id` (state `reading`, expiring after `lease_ms`
        unless extended or completed); None if created, else the record that exists."""
        args: list[Any] = ["reserve", campaign_id, lease_ms]
        for name, value in fields.items():
            args += [name, value]
        out: Any = self._script("submission_record")(keys=[key], args=args)
        if text(out[0]) == "reserved":
            return None
        return _decode(out[1:])

    @translate
    def extend_record(self, key: str, campaign_id: str, lease_ms: int) -> bool:
        """Keep a `reading` record of this campaign for another `lease_ms`; False if it is not."""
        args: list[Any] = ["extend", campaign_id, lease_ms]
        return bool(self._script("submission_record")(keys=[key], args=args))

    @translate
    def release_record(self, key: str, campaign_id: str) -> bool:
        """Delete a `reading` record of this campaign (its submission failed or was refused)."""
        return bool(self._script("submission_record")(keys=[key], args=["release", campaign_id]))

    @translate
    def record(self, key: str) -> dict[str, str]:
        """A record's fields ({} when there is none)."""
        return {text(k): text(v) for k, v in self.client.hgetall(key).items()}

    # --- intake series -------------------------------------------------------------------------

    @translate
    def begin_intake(
        self, key: str, campaign_id: str, fields: dict[str, Any]
    ) -> dict[str, str] | None:
        """Create intake record `key` (state `draft`, for `campaign_id`) unless it exists; None
        if created, else the record that exists (read in the same step)."""
        args: list[Any] = ["begin", campaign_id, 0, "created_at", now_ms()]
        for name, value in fields.items():
            args += [name, value]
        out: Any = self._script("submission_record")(keys=[key], args=args)
        if text(out[0]) == "reserved":
            return None
        return _decode(out[1:])

    @translate
    def apply_part(
        self,
        key: str,
        campaign_id: str,
        part: int,
        batch_size: int,
        chunks: Sequence[Sequence[tuple[str, str, str, str]]],
        tallies: dict[str, Any],
        draft_deadline_ms: int,
    ) -> PartResult:
        """Add one part's contacts and mark the part received, in one transaction.

        Nothing happens if the part was applied before (a redelivered message) or the series is
        not a `draft` of this campaign any more. `tallies` are counters (`rows`, `rejected`) added
        to the record and strings (`rj:<part>`: rejected rows) written to it.
        """
        ck = self.campaign_keys(campaign_id)
        script = self._script("add_contacts")
        marker = f"p:{part}"
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call] # redis-py
                    state, owner, seen = pipe.hmget(key, "state", "campaign_id", marker)
                    if seen is not None:
                        return PartResult(False, state=text(state or b""), duplicate=True)
                    if state is None or text(state) != "draft" or text(owner or b"") != campaign_id:
                        return PartResult(False, state=text(state or b""))
                    pipe.multi()
                    keys = [ck.meta, ck.contacts, ck.data, ck.counts, self.keys.dnc]
                    keys.append(self.keys.events)
                    for chunk in chunks:
                        payload = "\n".join("\t".join(item) for item in chunk)
                        script(keys=keys, args=[ck.base, batch_size, payload], client=pipe)
                    pipe.hset(key, marker, 1)
                    pipe.hincrby(key, "received", 1)
                    for name, value in tallies.items():
                        if isinstance(value, int):
                            pipe.hincrby(key, name, value)
                        else:
                            pipe.hset(key, name, value)
                    pipe.hset(key, "updated_at", now_ms())
                    pipe.zadd(self.keys.drafts, {campaign_id: draft_deadline_ms}, xx=True)
                    out = pipe.execute()
                    codes = "".join(text(c) for c in out[: len(chunks)])
                    return PartResult(True, codes=codes)
                except redis.WatchError:
                    continue

    @translate
    def refuse_intake(
        self, key: str, fields: dict[str, Any], keep_ms: int, *, event: dict[str, str]
    ) -> None:
        """Record a series as refused (why, field errors, report), kept for `keep_ms`, and publish
        an `intake` event (`event`: external_id, reason) in the same transaction."""
        pipe = self.client.pipeline()
        pipe.hset(key, mapping=dict[Any, Any]({**fields, "state": "refused"}))
        pipe.hset(key, "updated_at", now_ms())
        pipe.pexpire(key, keep_ms)
        published = {"type": "intake", "state": "refused", "campaign_id": "", **event}
        pipe.xadd(
            self.keys.events,
            dict[Any, Any](published),
            maxlen=self.events_maxlen,
            approximate=True,
        )
        pipe.execute()

    @staticmethod
    def encode(value: Any) -> str:
        """Compact JSON for record fields."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
