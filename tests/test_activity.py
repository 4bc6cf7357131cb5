"""Per-minute dials and outcomes in Redis: counted where dials and outcomes happen, exactly once,
bounded in size, purged with the campaign, and never in the way of the work they count."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from dispatcher.effebot.responses import CallDetails
from dispatcher.lifecycle import CampaignStatus
from dispatcher.reconcile import reconcile_call, retry_policy_json
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore, now_ms
from dispatcher.store.activity import (
    EXPIRE_AFTER_S,
    KEEP_MINUTES,
    KINDS,
    TRIM_EVERY_MINUTES,
    minute_of,
)

SPEC = {"name": "t", "call": {"dutyPhone": 1, "record": {"text": "Hi"}}}


def sent_campaign(store: StateStore, phones: list[str], **spec: Any) -> None:
    """Campaign `c` with one batch of `phones` created at the provider as api call 9."""
    store.create_campaign("c", "t", parse_spec({**SPEC, **spec}).to_json())
    store.add_contacts("c", len(phones), [(p, "", "") for p in phones])
    store.complete_submission("c", CampaignStatus.RUNNING, {})
    claim = store.claim_batch("c", 1, 60_000, "t")
    store.mark_sent("c", 1, "t", "9", claim.phones, now_ms())


def details(*calls: dict[str, Any]) -> CallDetails:
    return CallDetails.model_validate({"id": 9, "calls": list(calls)})


def totals(store: StateStore) -> dict[str, int]:
    out: dict[str, int] = {}
    for minute in store.activity("c", now_ms(), 5):
        if minute.dials:
            out["dials"] = out.get("dials", 0) + minute.dials
        for state, n in minute.outcomes.items():
            out[state] = out.get(state, 0) + n
    return out


def test_dials_and_outcomes_land_in_the_current_minute(store: StateStore) -> None:
    sent_campaign(store, ["11", "12"])
    store.note_dials("c", 2)
    store.note_outcomes("c", [{"completed": 1}, {"completed": 2, "busy": 1}])
    [minute] = store.activity("c", now_ms(), 3)
    this_minute = minute_of(now_ms()) * 60_000
    assert minute.minute_ms in (this_minute, this_minute - 60_000)  # a minute may turn meanwhile
    assert (minute.dials, minute.outcomes) == (2, {"completed": 3, "busy": 1})


def test_an_outcome_is_counted_once_however_often_it_is_reported(store: StateStore) -> None:
    sent_campaign(store, ["11", "12", "13"])
    final = details(
        {"phone": "11", "status": "completed", "finishedAt": 5, "answeredAt": 4},
        {"phone": "12", "status": "no_answer", "finishedAt": 5, "hangupCause": 19},
        {"phone": "13", "status": "dialing"},
    )
    for source in ("webhook", "poll", "webhook"):  # the same answer three times
        reconcile_call(store, "c", final, next_due_ms=now_ms() + 1000, source=source)
    assert totals(store) == {"completed": 1, "no_answer": 1}
    later = details({"phone": "13", "status": "completed", "finishedAt": 9, "answeredAt": 8})
    reconcile_call(store, "c", later, next_due_ms=now_ms(), source="poll")
    assert totals(store) == {"completed": 2, "no_answer": 1}
    assert store.counts("c") == {"completed": 2, "no_answer": 1}


def test_a_dial_that_will_be_retried_counts_its_outcome_too(store: StateStore) -> None:
    sent_campaign(store, ["11"], retry={"no_answer": {"max_attempts": 2, "interval_s": 60}})
    policy = retry_policy_json(
        parse_spec({**SPEC, "retry": {"no_answer": {"max_attempts": 2, "interval_s": 60}}}).retry
    )
    answer = details({"phone": "11", "status": "no_answer", "finishedAt": 5, "hangupCause": 19})
    reconcile_call(store, "c", answer, next_due_ms=now_ms(), source="poll", retry_policy=policy)
    assert store.counts("c") == {"pending": 1}  # waiting for its second dial
    assert totals(store) == {"no_answer": 1}


def test_a_poll_that_leaves_a_contact_out_counts_it_unknown(store: StateStore) -> None:
    sent_campaign(store, ["11", "12"])
    answer = details({"phone": "11", "status": "completed", "finishedAt": 5, "answeredAt": 4})
    reconcile_call(store, "c", answer, next_due_ms=now_ms(), source="poll")
    assert totals(store) == {"completed": 1, "unknown": 1}


def test_only_known_kinds_are_kept(store: StateStore) -> None:
    sent_campaign(store, ["11"])
    store.note_outcomes("c", [{"completed": 1, "made-up": 5, "pending": 2}])
    store.note_dials("c", 0)
    assert totals(store) == {"completed": 1}


def test_the_series_is_trimmed_to_the_kept_minutes_and_expires(
    store: StateStore, redis_client: redis.Redis
) -> None:
    sent_campaign(store, ["11"])
    key = store.campaign_keys("c").activity
    now_minute = minute_of(now_ms())
    # Two days of old minutes, written as an older version of us would have, last trimmed long ago.
    old = {
        f"{now_minute - age}:{kind}": 1
        for age in range(KEEP_MINUTES, 2 * KEEP_MINUTES)
        for kind in KINDS
    }
    recent = {f"{now_minute - age}:dials": 3 for age in range(1, 30)}
    redis_client.hset(key, mapping={**old, **recent, "trimmed": now_minute - TRIM_EVERY_MINUTES})
    store.note_dials("c", 1)
    fields = {f.decode() for f in redis_client.hkeys(key)}
    assert fields == {*recent, f"{now_minute}:dials", "trimmed"}
    assert int(redis_client.hget(key, "trimmed") or 0) == now_minute
    assert 0 < redis_client.ttl(key) <= EXPIRE_AFTER_S
    window = store.activity("c", now_ms(), KEEP_MINUTES)
    assert sum(m.dials for m in window) == 29 * 3 + 1
    with pytest.raises(ValueError, match="minutes"):
        store.activity("c", now_ms(), KEEP_MINUTES + 1)


def test_a_trim_waits_its_hour(store: StateStore, redis_client: redis.Redis) -> None:
    sent_campaign(store, ["11"])
    key = store.campaign_keys("c").activity
    now_minute = minute_of(now_ms())
    stale = f"{now_minute - KEEP_MINUTES - 5}:dials"
    redis_client.hset(key, mapping={stale: 1, "trimmed": now_minute - TRIM_EVERY_MINUTES + 2})
    store.note_dials("c", 1)
    assert redis_client.hexists(key, stale)  # dropped at the next hourly trim, not at every write


def test_the_series_goes_with_its_campaign(store: StateStore, redis_client: redis.Redis) -> None:
    sent_campaign(store, ["11"])
    store.note_dials("c", 1)
    store.add_event("c", {"kind": "paused", "reason": "r"})
    assert redis_client.exists(store.campaign_keys("c").activity)
    store.delete_campaign("c")
    assert not redis_client.exists(store.campaign_keys("c").activity)
    assert store.recent_events("c", 10) == []


def test_recent_events_are_newest_first_and_bounded(store: StateStore) -> None:
    sent_campaign(store, ["11"])
    for i in range(5):
        store.add_event("c", {"kind": "rejected", "batch_no": i, "error": f"e{i}"})
    events = store.recent_events("c", 3)
    assert [e["batch_no"] for e in events] == [4, 3, 2]
    assert all(e["at_ms"] <= now_ms() for e in events)


def test_a_redis_that_fails_costs_the_numbers_never_the_dial(settings: Settings) -> None:
    from dispatcher.redis_server import free_port

    gone = StateStore(
        redis.Redis(port=free_port(), socket_connect_timeout=0.5), settings.key_prefix
    )
    gone.note_dials("c", 5)  # logged (`activity.not_recorded`), not raised
    gone.note_outcomes("c", [{"completed": 1}])
