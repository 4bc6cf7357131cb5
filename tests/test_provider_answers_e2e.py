"""Real workers meeting the answers the reference allows: what happens to campaigns and contacts.

Each case is the sandbox over HTTP answering as a real provider may: refusals with HTTP 200, a
template endpoint at another path, records still in moderation, a server that refuses long URLs.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import redis

from dispatcher.controls import Controls
from dispatcher.lifecycle import CampaignStatus
from dispatcher.queue import make_enqueue, queue_for
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.fleet import FleetReader
from dispatcher.store.keys import ACTOR_POLL, Keys
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from tests.test_pipeline_e2e import SPEC, assert_consistent, finished, submit

pytestmark = pytest.mark.slow

TEMPLATE_SPEC: dict[str, Any] = {"call": None, "template": {"templateId": 1, "dutyPhone": 1}}


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


@pytest.fixture
def controls(settings: Settings, store: StateStore) -> Controls:
    return Controls(store, make_enqueue(settings, store.client))


def paused(store: StateStore, campaign_id: str) -> bool:
    return store.status(campaign_id) is CampaignStatus.PAUSED


def idle(settings: Settings, redis_client: redis.Redis) -> bool:
    """No batch message of the test's queue is waiting (ready or delayed) any more."""
    queues = (settings.queue_name, queue_for(settings.queue_name, ACTOR_POLL))
    snapshot = FleetReader(redis_client, Keys(settings.key_prefix)).snapshot(queues, 60_000)
    batches = snapshot.queues[0]
    return batches.ready + batches.delayed == 0


def requests_logged(pool: WorkerPool, endpoint: str) -> int:
    """How many requests the workers made to `endpoint` (one `effebot.request` line each)."""
    count = 0
    for line in pool.logs().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "effebot.request" and event.get("endpoint") == endpoint:
            count += 1
    return count


def creates(sandbox: Any) -> Counter[str]:
    return Counter(sandbox.stats()["creates_per_phone"])


def test_a_balance_refusal_answered_200_pauses_the_campaign_and_loses_no_contact(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    sandbox.configure(refusal_status=200, balance=0.0)
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=50), threads=2)
    report = submit(settings, store, 20, batch_size=5)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: paused(store, cid), 60), (store.meta(cid), worker_pool.logs()[-2000:])
    assert "lack of balance" in store.meta(cid)["pause_reason"]
    assert store.counts(cid) == {"pending": 20}, "nothing failed, nothing was lost"
    assert creates(sandbox) == Counter()

    sandbox.configure(balance=1000.0)
    controls.resume(cid)
    assert wait_for(lambda: finished(store, cid), 120), store.counts(cid)
    assert_consistent(store, cid, 20)
    assert len(creates(sandbox)) == 20
    assert max(creates(sandbox).values()) == 1


def test_field_errors_answered_200_fail_the_contacts_with_the_fields_shown(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(refusal_status=200)
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=50), threads=2)
    # No preflight on this path: the provider is the one to refuse the language.
    report = submit(settings, store, 10, batch_size=5, call={**SPEC["call"], "lang": "fr-FR"})
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: finished(store, cid), 60), store.counts(cid)
    assert store.counts(cid) == {"failed": 10}
    reasons = {record.fields.get("r") for record in store.iter_contacts(cid)}
    [reason] = reasons
    assert reason is not None
    assert "HTTP 200" in reason
    assert "lang: The selected lang is invalid." in reason
    assert creates(sandbox) == Counter()


def test_a_missing_template_endpoint_pauses_the_campaign_naming_the_setting(
    settings: Settings,
    store: StateStore,
    redis_client: redis.Redis,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    threads = 2
    wrong = worker_env(
        settings,
        sandbox.url,
        provider_rate_per_s=50,
        template_create_path="apiCalls/noSuchTemplateEndpoint",
    )
    (first,) = worker_pool.start(wrong, threads=threads)
    report = submit(settings, store, 40, batch_size=5, **TEMPLATE_SPEC)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: paused(store, cid), 60), (store.meta(cid), worker_pool.logs()[-2000:])
    reason = store.meta(cid)["pause_reason"]
    assert "DISPATCHER_TEMPLATE_CREATE_PATH" in reason
    assert "apiCalls/noSuchTemplateEndpoint" in reason
    # Every batch message is looked at and held: none fails, and the wrong path was tried at most
    # once per worker thread (the requests in flight when the first 404 came back).
    assert wait_for(lambda: idle(settings, redis_client), 60)
    assert store.counts(cid) == {"pending": 40}
    assert 1 <= requests_logged(worker_pool, "apiCalls/noSuchTemplateEndpoint") <= threads

    # Fixing the setting and resuming dials everyone exactly once.
    first.stop()
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=50), threads=threads)
    controls.resume(cid)
    assert wait_for(lambda: finished(store, cid), 120), store.counts(cid)
    assert_consistent(store, cid, 40)
    assert len(creates(sandbox)) == 40
    assert max(creates(sandbox).values()) == 1


def test_a_recording_in_moderation_holds_the_campaign_until_it_is_approved(
    settings: Settings,
    store: StateStore,
    redis_client: redis.Redis,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    moderation_s = 3000.0  # 5 s of real time at the session's speed-up
    sandbox.configure(moderation_rate=1.0, moderation_s=moderation_s)
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=50), threads=2)
    report = submit(settings, store, 20, batch_size=5, shared_recording=True)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: paused(store, cid), 60), (store.meta(cid), worker_pool.logs()[-2000:])
    paused_sim_s = float(sandbox.stats()["sim_now"])  # after the recording was created
    assert "moderation" in store.meta(cid)["pause_reason"]
    assert "resume once it is approved" in store.meta(cid)["pause_reason"]
    assert wait_for(lambda: idle(settings, redis_client), 60)
    assert store.counts(cid) == {"pending": 20}
    stats = sandbox.stats()["requests"]
    assert stats["/apiCalls/createRecord"] == {"200": 1}, "one recording, not one per batch"
    assert sum(stats["/apiCalls/create"].values()) <= 2, "no loop of refused creates"

    assert wait_for(lambda: float(sandbox.stats()["sim_now"]) > paused_sim_s + moderation_s, 60)
    controls.resume(cid)
    assert wait_for(lambda: finished(store, cid), 120), store.counts(cid)
    assert_consistent(store, cid, 20)
    assert len(creates(sandbox)) == 20


def test_polling_past_a_server_url_limit_shrinks_its_requests_and_finishes(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # One id fits in 50 bytes, two do not: any get that polls several calls at once meets a 414.
    sandbox.configure(max_url_bytes=50, instant=True)
    # Every call falls due at about the same time: the first poll asks for all of them at once.
    env = worker_env(
        settings, sandbox.url, provider_rate_per_s=200, get_chunk_size=500, poll_first_delay_s=2.0
    )
    worker_pool.start(env, threads=4)
    report = submit(settings, store, 120, batch_size=2)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: finished(store, cid), 120), store.counts(cid)
    assert_consistent(store, cid, 120)
    answered = sandbox.stats()["requests"]["/apiCalls/get"]
    assert answered.get("200", 0) >= 1
    # 60 api calls, fewer gets than that: some get asked for several, met a 414 and was halved
    # until one id fitted; the worker keeps that size, so there are at most log2(500) + 1 of them.
    assert answered.get("414", 0) >= 1, answered
    assert answered["414"] <= 10, "the smaller chunk is remembered, not rediscovered every poll"
