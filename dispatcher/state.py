"""The Redis state store: campaigns, contacts, batches, the poll schedule and the DNC list.

The only module that talks to Redis for campaign state (the pacer keeps its own keys); redis errors
are translated to `StateError` here. Changes that touch a contact's state go through the Lua
scripts of `dispatcher.scripts`, so counters and per-contact states never disagree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from dispatcher import scripts
from dispatcher.errors import CampaignNotFound
from dispatcher.keys import Keys
from dispatcher.lifecycle import CampaignStatus
from dispatcher.shared_state import SharedState, now_ms, text, translate

__all__ = ["Claim", "ContactRecord", "ReconcileResult", "StateStore", "now_ms"]


_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], 'n:' .. id, 1)
end
return out
"""


_IVR_ANSWER = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
local answers = rec.iv or {}
answers[#answers + 1] = ARGV[2]
rec.iv = answers
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
"""


@dataclass(frozen=True, slots=True)
class Claim:
    """What claiming a batch found: the phones to send now, or why there are none."""

    outcome: str  # claimed | sending | held | empty | <the batch's status>
    phones: tuple[str, ...] = ()
    lease_until_ms: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    changed: int
    finished: bool
    strangers: int


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """One contact as stored: its state and everything known about its calls."""

    phone: str
    state: str
    fields: dict[str, Any]
    data: dict[str, str]


class StateStore(SharedState):
    """Campaign state in Redis under one key prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self._add = client.register_script(scripts.ADD_CONTACTS)
        self._claim = client.register_script(scripts.CLAIM_BATCH)
        self._sent = client.register_script(scripts.MARK_SENT)
        self._release = client.register_script(scripts.RELEASE_BATCH)
        self._finish = client.register_script(scripts.FINISH_BATCH)
        self._reconcile = client.register_script(scripts.RECONCILE)
        self._set_status = client.register_script(scripts.SET_STATUS)
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._ivr = client.register_script(_IVR_ANSWER)
        self._take_retries = client.register_script(scripts.TAKE_RETRIES)
        self._close_retries = client.register_script(scripts.CLOSE_RETRIES)

    @classmethod
    def connect(cls, url: str, prefix: str) -> StateStore:
        """A store on a new connection pool to `url`."""
        client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix)

    # --- campaigns ------------------------------------------------------------------------------

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
    def add_contacts(
        self, campaign_id: str, batch_size: int, items: Sequence[tuple[str, str, str]]
    ) -> list[int]:
        """Add (phone, data JSON or '', window group or '') triples.

        Per triple: 0 duplicate, 1 accepted (pending, in a batch of its group), 2 blocked.
        """
        ck = self.campaign_keys(campaign_id)
        # JSON escapes control characters, so a data value can hold no raw tab or newline.
        payload = "\n".join(f"{phone}\t{data}\t{group}" for phone, data, group in items)
        argv: list[Any] = [ck.base, batch_size, payload]
        keys = [ck.meta, ck.contacts, ck.data, ck.counts, self.keys.dnc]
        return [int(code) for code in text(self._add(keys=keys, args=argv))]

    @translate
    def complete_submission(
        self, campaign_id: str, status: CampaignStatus, fields: dict[str, Any]
    ) -> None:
        """Mark a draft submitted (its batches are about to be enqueued) and make it active."""
        ck = self.campaign_keys(campaign_id)
        pipe = self.client.pipeline()
        mapping: dict[Any, Any] = {**fields, "status": status.value, "submitted": 1}
        pipe.hset(ck.meta, mapping=mapping)
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
        before = self._set_status(keys=[ck.meta], args=args)
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

    # --- batches --------------------------------------------------------------------------------

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
    ) -> Claim:
        """`pending → sending` for the batch and its open contacts, right before the dial.

        Re-checks the campaign's status, the DNC list and (with `daily_cap`) how often each number
        was dialled today across all campaigns; a capped number waits for tomorrow (UTC).
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
        ]
        args: list[Any] = [now, lease_ms, token, batch_no, daily_cap, tomorrow_ms]
        out = [text(v) for v in self._claim(keys=keys, args=args)]
        if out[0] == "claimed":
            return Claim("claimed", tuple(out[1:]))
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
        api_call_id: str,
        phones: Sequence[str],
        due_ms: int,
        planned_at_ms: int | None = None,
    ) -> tuple[int, str]:
        """Record the api call created for a batch, schedule its first poll; (moved, status)."""
        ck = self.campaign_keys(campaign_id)
        keys = [ck.meta, ck.counts, ck.contacts, ck.batch(batch_no), ck.calls, ck.poll]
        planned = "" if planned_at_ms is None else planned_at_ms
        args: list[Any] = [batch_no, api_call_id, due_ms, now_ms(), planned, *phones]
        moved, status = self._sent(keys=keys, args=args)
        return int(moved), text(status)

    @translate
    def release_batch(
        self, campaign_id: str, batch_no: int, token: str, phones: Sequence[str]
    ) -> bool:
        """Give a claimed batch back to `pending` (the request provably did not take effect)."""
        ck = self.campaign_keys(campaign_id)
        keys = [ck.counts, ck.contacts, ck.batch(batch_no)]
        return bool(self._release(keys=keys, args=[token, *phones]))

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
        ck = self.campaign_keys(campaign_id)
        keys = [ck.meta, ck.counts, ck.contacts, ck.batch(batch_no), ck.batch_phones(batch_no)]
        args: list[Any] = [state, reason[:500], now_ms(), batch_status, only_if, batch_no]
        moved, finished = self._finish(keys=keys, args=args)
        return int(moved), bool(finished)

    # --- polling --------------------------------------------------------------------------------

    @translate
    def claim_due_calls(self, campaign_id: str, lease_ms: int, limit: int) -> list[tuple[str, int]]:
        """Due api call ids with how many times each has been polled, leased for `lease_ms`."""
        ck = self.campaign_keys(campaign_id)
        out = self._claim_due(keys=[ck.poll, ck.calls], args=[now_ms(), lease_ms, limit])
        return [(text(out[i]), int(out[i + 1])) for i in range(0, len(out), 2)]

    @translate
    def reconcile(
        self,
        campaign_id: str,
        api_call_id: str,
        updates: Sequence[tuple[str, str, dict[str, Any]]],
        next_due_ms: int | None,
        retry_policy: str = "",
    ) -> ReconcileResult:
        """Apply (phone, terminal state or '', details) for one api call; idempotent.

        `retry_policy` is the JSON `{outcome: [max attempts, interval ms]}` of the campaign: an
        outcome it covers, with attempts left, sends the contact back to wait for another dial.
        """
        return self.reconcile_many(
            campaign_id, [(api_call_id, updates, next_due_ms)], retry_policy
        )[0]

    @translate
    def reconcile_many(
        self,
        campaign_id: str,
        calls: Sequence[tuple[str, Sequence[tuple[str, str, dict[str, Any]]], int | None]],
        retry_policy: str = "",
    ) -> list[ReconcileResult]:
        """`reconcile` for several api calls, pipelined: one round trip, one script per call."""
        ck = self.campaign_keys(campaign_id)
        keys = [ck.meta, ck.counts, ck.contacts, ck.poll, ck.retry]
        now = now_ms()
        pipe = self.client.pipeline(transaction=False)
        for api_call_id, updates, next_due_ms in calls:
            due = "" if next_due_ms is None else next_due_ms
            args: list[Any] = [api_call_id, now, due, retry_policy]
            for phone, state, detail in updates:
                args += [phone, state, json.dumps(detail, separators=(",", ":"))]
            self._reconcile(keys=keys, args=args, client=pipe)
        return [
            ReconcileResult(int(changed), bool(finished), int(strangers))
            for changed, finished, strangers in pipe.execute()
        ]

    @translate
    def reschedule_call(self, campaign_id: str, api_call_id: str, due_ms: int) -> None:
        self.client.zadd(self.campaign_keys(campaign_id).poll, {api_call_id: due_ms}, xx=True)

    @translate
    def phones_of_call(self, campaign_id: str, api_call_id: str) -> list[str]:
        """The phones of the batch an api call was created for."""
        batch_no = self.client.hget(self.campaign_keys(campaign_id).calls, api_call_id)
        return [] if batch_no is None else self.batch_phones(campaign_id, int(batch_no))

    @translate
    def poll_entries(self, campaign_id: str) -> list[tuple[str, int]]:
        """Every api call still polled, with its due time (ms)."""
        raw: list[Any] = list(
            self.client.zrange(self.campaign_keys(campaign_id).poll, 0, -1, withscores=True)
        )
        return [(text(member), int(score)) for member, score in raw]

    @translate
    def take_retries(self, campaign_id: str, batch_size: int, most: int = 1000) -> list[int]:
        """Form batches of the retries that are due; their numbers (to enqueue)."""
        ck = self.campaign_keys(campaign_id)
        out = self._take_retries(
            keys=[ck.meta, ck.contacts, ck.retry], args=[now_ms(), batch_size, ck.base, most]
        )
        return [int(bn) for bn in out]

    @translate
    def close_retries(self, campaign_id: str, state: str, reason: str) -> int:
        """End every contact still waiting for a retry in `state` (cancel)."""
        ck = self.campaign_keys(campaign_id)
        moved, _ = self._close_retries(
            keys=[ck.meta, ck.counts, ck.contacts, ck.retry], args=[state, reason, now_ms()]
        )
        return int(moved)

    @translate
    def next_retry_due_ms(self, campaign_id: str) -> int | None:
        first = self.client.zrange(self.campaign_keys(campaign_id).retry, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    @translate
    def next_poll_due_ms(self, campaign_id: str) -> int | None:
        first = self.client.zrange(self.campaign_keys(campaign_id).poll, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    @translate
    def try_mark_tick(self, campaign_id: str, ttl_ms: int) -> bool:
        """Take the right to schedule the campaign's next poll message (one at a time)."""
        key = self.campaign_keys(campaign_id).tick
        return bool(self.client.set(key, "1", nx=True, px=max(ttl_ms, 1)))

    @translate
    def clear_tick(self, campaign_id: str) -> None:
        self.client.delete(self.campaign_keys(campaign_id).tick)

    # --- contacts -------------------------------------------------------------------------------

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
    def record_ivr_answer(self, campaign_id: str, phone: str, answer: str) -> bool:
        """Append an IVR action's answer to the contact (`ivr` list); False for an unknown phone."""
        ck = self.campaign_keys(campaign_id)
        updated = self._ivr(keys=[ck.contacts], args=[phone, answer[:200]])
        return bool(updated)
