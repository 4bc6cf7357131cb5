"""Polling and retries: the schedule of api calls to check, reconciliation, retry batches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dispatcher.store.base import StoreBase, now_ms, text, translate

__all__ = ["PHASE_BASE", "CallView", "PollStore", "ReconcileResult"]

#: A call's poll counter (`n:<id>` in the calls hash) is phase x PHASE_BASE + looks in that phase,
#: so one HINCRBY in the claim counts the look and the phase travels with it (0: a counter from
#: before phases were kept, read as the first phase).
PHASE_BASE = 1_000_000


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What applying one api call's details changed."""

    changed: int
    finished: bool
    strangers: int  # phones in the answer that are not the campaign's
    left_out: int = 0  # the campaign's phones a final answer did not list
    blocked: int = 0  # numbers its `toBlock`s added to the do-not-call list
    blocks_refused: int = 0  # `toBlock`s over `max_blocks` (the call stays polled)
    outcomes: dict[str, int] = field(default_factory=dict)  # dials ended now, by outcome


@dataclass(frozen=True, slots=True)
class CallView:
    """The provider's view of one api call, ready to apply."""

    api_call_id: str
    updates: Sequence[tuple[str, str, dict[str, Any]]]  # (phone, terminal state or '', details)
    next_due_ms: int  # when to look at it again if it stays open
    final: bool  # every call the provider listed is final


class PollStore(StoreBase):
    """Polling and retries in Redis."""

    @translate
    def claim_due_calls(
        self, campaign_id: str, lease_ms: int, limit: int, fill_ms: int = 0
    ) -> list[tuple[str, int]]:
        """Due api call ids with their poll counters, leased for `lease_ms`.

        Nothing unless a call is due now; then also the calls due within `fill_ms`, up to `limit`.
        """
        ck = self.campaign_keys(campaign_id)
        out = self._script("claim_due")(
            keys=[ck.poll, ck.calls], args=[now_ms(), lease_ms, limit, max(fill_ms, 0)]
        )
        return [(text(out[i]), int(out[i + 1])) for i in range(0, len(out), 2)]

    @translate
    def has_due_calls(self, campaign_id: str, at_ms: int) -> bool:
        """Whether a call is due for a poll by `at_ms` (one read, before reserving a request)."""
        poll = self.campaign_keys(campaign_id).poll
        return bool(self.client.zrangebyscore(poll, "-inf", at_ms, start=0, num=1))

    @translate
    def set_poll_counters(self, campaign_id: str, counters: dict[str, int]) -> None:
        """Start calls' counters again in a new phase (`PHASE_BASE`), one command."""
        if counters:
            items: list[str | int] = []
            for call_id, value in counters.items():
                items += (f"n:{call_id}", value)
            self.client.hset(self.campaign_keys(campaign_id).calls, items=items)

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

        `next_due_ms` None means the call is final. `retry_policy` is the JSON
        `{outcome: [max attempts, interval ms]}` of the campaign: an outcome it covers, with
        attempts left, sends the contact back to wait for another dial.
        """
        final = next_due_ms is None
        due = now_ms() if next_due_ms is None else next_due_ms
        return self.reconcile_many(
            campaign_id, [CallView(api_call_id, updates, due, final)], retry_policy
        )[0]

    @translate
    def reconcile_many(
        self,
        campaign_id: str,
        calls: Sequence[CallView],
        retry_policy: str = "",
        *,
        authoritative: bool = True,
        max_blocks: int | None = None,
    ) -> list[ReconcileResult]:
        """`reconcile` for several api calls, pipelined: one round trip, one script per call
        (EVALSHA, no `SCRIPT EXISTS` first; see `ScriptBatch`).

        `authoritative` answers (a `get`) end `unknown` the contacts a final answer leaves out;
        others (a webhook) keep such a call polled until a `get` says. `toBlock` adds a number to
        the do-not-call list only when it is a contact of the campaign dialled in that api call,
        at most `max_blocks` per api call (None: no limit); past that the call stays polled.
        """
        ck = self.campaign_keys(campaign_id)
        keys = [ck.meta, ck.counts, ck.contacts, ck.poll, ck.retry, ck.calls, self.keys.dnc]
        keys.append(self.keys.events)
        now = now_ms()
        batch = self._script_batch()
        script = self._script("reconcile")
        for call in calls:
            args: list[Any] = [
                call.api_call_id,
                now,
                "" if call.final else call.next_due_ms,
                retry_policy,
                "1" if authoritative else "0",
                call.next_due_ms,
                ck.base,
                "" if max_blocks is None else max_blocks,
            ]
            for phone, state, detail in call.updates:
                args += [phone, state, json.dumps(detail, separators=(",", ":"))]
            batch.add(script, keys, args)
        return [
            ReconcileResult(
                int(changed),
                bool(finished),
                int(strangers),
                int(left_out),
                int(blocked),
                int(refused),
                {text(ended[i]): int(ended[i + 1]) for i in range(0, len(ended), 2)},
            )
            for changed, finished, strangers, left_out, blocked, refused, ended in batch.execute()
        ]

    @translate
    def note_missing(self, campaign_id: str, api_call_id: str) -> int:
        """Count one more poll in a row that the provider did not return this call; the count."""
        key = self.campaign_keys(campaign_id).calls
        return int(self.client.hincrby(key, f"m:{api_call_id}", 1))

    @translate
    def reschedule_call(self, campaign_id: str, api_call_id: str, due_ms: int) -> None:
        self.client.zadd(self.campaign_keys(campaign_id).poll, {api_call_id: due_ms}, xx=True)

    @translate
    def phones_of_call(self, campaign_id: str, api_call_id: str) -> list[str]:
        """The phones of the batch an api call was created for."""
        batch_no = self.client.hget(self.campaign_keys(campaign_id).calls, api_call_id)
        if batch_no is None:
            return []
        ck = self.campaign_keys(campaign_id)
        return [text(p) for p in self.client.lrange(ck.batch_phones(int(batch_no)), 0, -1)]

    @translate
    def poll_entries(self, campaign_id: str) -> list[tuple[str, int]]:
        """Every api call still polled, with its due time (ms)."""
        raw: list[Any] = list(
            self.client.zrange(self.campaign_keys(campaign_id).poll, 0, -1, withscores=True)
        )
        return [(text(member), int(score)) for member, score in raw]

    @translate
    def take_retries(
        self, campaign_id: str, batch_size: int, deadline_ms: int, most: int = 1000
    ) -> list[int]:
        """Form batches of the retries that are due; their numbers (to enqueue).

        If no message picks a new batch up by `deadline_ms`, the reconciler sends one.
        """
        ck = self.campaign_keys(campaign_id)
        out = self._script("take_retries")(
            keys=[ck.meta, ck.contacts, ck.retry, ck.batch_due],
            args=[now_ms(), batch_size, ck.base, most, deadline_ms],
        )
        return [int(bn) for bn in out]

    @translate
    def close_retries(self, campaign_id: str, state: str, reason: str) -> int:
        """End every contact still waiting for a retry in `state` (cancel)."""
        ck = self.campaign_keys(campaign_id)
        moved, _ = self._script("close_retries")(
            keys=[ck.meta, ck.counts, ck.contacts, ck.retry, self.keys.events],
            args=[state, reason, now_ms()],
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
    def try_mark_tick(self, campaign_id: str, due_ms: int, ttl_ms: int) -> bool:
        """Take the right to schedule the campaign's poll message for `due_ms`.

        Granted when none is scheduled, or when the one scheduled is due later: the new message
        supersedes it (see `take_tick`). The marker holds the due time and expires after `ttl_ms`.
        """
        key = self.campaign_keys(campaign_id).tick
        return bool(self._script("poll_mark")(keys=[key], args=[due_ms, ttl_ms]))

    @translate
    def take_tick(self, campaign_id: str, due_ms: int) -> bool:
        """A poll message for `due_ms` starts: True if it is the one scheduled (marker cleared).

        A message a sooner one superseded gets False and does nothing; `due_ms` 0 (a message
        from before due times were sent) always acts.
        """
        key = self.campaign_keys(campaign_id).tick
        return bool(self._script("poll_take")(keys=[key], args=[due_ms]))

    @translate
    def clear_tick(self, campaign_id: str) -> None:
        self.client.delete(self.campaign_keys(campaign_id).tick)
