"""Pipelined script calls: EVALSHA only, and a server that lost its scripts still runs each once.

Each test runs on a Redis server of its own (`EmbeddedRedis`): its command counts are the test's
alone, and flushing its script cache harms no other test sharing the suite's server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from dispatcher.errors import StateError
from dispatcher.lifecycle import CampaignStatus
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.store import CallView, StateStore
from dispatcher.store.base import ScriptBatch

COUNT = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        yield client
        client.close()


def calls(client: redis.Redis, command: str) -> int:
    """How often the server ran `command`; `script`: every SCRIPT subcommand (Redis 6 counts
    them as one, Redis 7 apart as `script|exists`, `script|load`)."""
    stats = client.info("commandstats")
    return sum(
        int(value.get("calls", 0))
        for key, value in stats.items()
        if key == f"cmdstat_{command}" or key.startswith(f"cmdstat_{command}|")
    )


def sent_campaign(store: StateStore, phones: list[str]) -> list[str]:
    store.create_campaign("c", "scripts", "{}")
    store.add_contacts("c", len(phones), [(p, "", "", "") for p in phones])
    assert store.complete_submission("c", CampaignStatus.RUNNING, {})
    claim = store.claim_batch("c", 1, 60_000, "t1")
    store.mark_sent("c", 1, "t1", "900", claim.phones, due_ms=0)
    return list(claim.phones)


def test_a_warm_reconcile_is_one_round_trip_of_evalsha_without_script_exists(
    client: redis.Redis,
) -> None:
    store = StateStore(client, "t")
    first, _ = sent_campaign(store, ["11", "12"])
    store.reconcile_many("c", [CallView("900", [(first, "", {})], 10**13, False)])
    before = {name: calls(client, name) for name in ("evalsha", "eval", "script")}
    views = [CallView("900", [(first, "completed", {})], 0, False)] * 3
    assert [r.changed for r in store.reconcile_many("c", views)] == [1, 0, 0]
    assert calls(client, "evalsha") - before["evalsha"] == 3
    assert calls(client, "eval") == before["eval"]
    assert calls(client, "script") == before["script"]


def test_a_reconcile_after_the_scripts_were_flushed_runs_each_call_once(
    client: redis.Redis,
) -> None:
    store = StateStore(client, "t")
    first, second = sent_campaign(store, ["11", "12"])
    client.script_flush()  # what a restarted Redis looks like to the store's cached scripts
    views = [
        CallView("900", [(first, "completed", {})], 0, False),
        CallView("900", [(second, "busy", {})], 0, False),
    ]
    results = store.reconcile_many("c", views)
    assert [r.changed for r in results] == [1, 1]
    assert store.counts("c") == {"completed": 1, "busy": 1}
    assert calls(client, "eval") == 2  # the two calls the server refused, sent again
    # The EVALs cached the script: the next round trip is EVALSHA alone again.
    evalsha = calls(client, "evalsha")
    store.reconcile_many("c", views)
    assert calls(client, "evalsha") - evalsha == 2
    assert calls(client, "eval") == 2
    assert store.counts("c") == {"completed": 1, "busy": 1}


def test_only_the_calls_the_server_refused_are_sent_again(client: redis.Redis) -> None:
    """With a script that is not idempotent, a call run twice would show in the count."""
    known = client.register_script(COUNT)
    unknown = client.register_script(COUNT + " -- another script")
    client.script_load(COUNT)
    batch = ScriptBatch(client)
    batch.add(known, ["a"], [1])
    batch.add(unknown, ["a"], [10])
    batch.add(known, ["b"], [100])
    batch.add(unknown, ["b"], [1000])
    replies = batch.execute()
    assert len(batch) == 0
    assert int(client.get("a") or 0) == 11
    assert int(client.get("b") or 0) == 1100
    assert calls(client, "eval") == 2
    # Replies stay in the order the calls were added; the refused ones ran after the others.
    assert replies == [1, 11, 100, 1100]


def test_a_script_error_is_raised_and_the_other_calls_stand(client: redis.Redis) -> None:
    good = client.register_script(COUNT)
    bad = client.register_script("return redis.error_reply('refused')")
    batch = ScriptBatch(client)
    batch.add(good, ["a"], [1])
    batch.add(bad, [], [])
    batch.add(good, ["a"], [1])
    with pytest.raises(redis.ResponseError, match="refused"):
        batch.execute()
    assert int(client.get("a") or 0) == 2
    assert ScriptBatch(client).execute() == []


def test_a_store_batch_error_reaches_the_caller_as_a_state_error(client: redis.Redis) -> None:
    store = StateStore(client, "t")
    client.set(store.campaign_keys("c").meta, "not a hash")
    with pytest.raises(StateError):
        store.reconcile_many("c", [CallView("900", [("11", "completed", {})], 0, True)])
