"""Guards end to end: a campaign pauses itself on bursts of failed creates and on a refusal for
lack of balance, with the reason stored, and loses nobody while it waits."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.controls import Controls
from dispatcher.lifecycle import CampaignStatus
from dispatcher.queue import make_enqueue
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import (
    assert_consistent,
    counts_key,
    phones,
    submit,
    wait_until_finished,
    wait_while_progressing,
)
from tests.fixtures.workers import WorkerPool, worker_env

pytestmark = pytest.mark.slow


def paused(store: StateStore, campaign_id: str) -> bool:
    return store.status(campaign_id) is CampaignStatus.PAUSED


def test_a_burst_of_rejected_creates_pauses_the_campaign_and_holds_the_rest(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # A key the provider does not know: every create is refused (401), nothing is applied.
    env = worker_env(settings, sandbox.url, effebot_api_key="not-a-key", autopause_rejected=3)
    worker_pool.start(env, count=1, threads=1)
    cid = submit(settings, store, 20, batch_size=2).campaign_id
    assert cid is not None
    assert wait_while_progressing(lambda: paused(store, cid), lambda: counts_key(store, cid))
    reason = store.meta(cid)["pause_reason"]
    assert "auto-paused" in reason, reason
    assert "3 rejected errors" in reason, reason
    counts = store.counts(cid)
    # Three batches were refused (their contacts fail with the provider's message); the other
    # seven wait, untouched.
    assert counts == {"failed": 6, "pending": 14}, counts
    assert sandbox.stats()["requests"]["/apiCalls/create"] == {"401": 3}


def test_a_burst_of_retry_safe_failures_pauses_the_campaign_without_losing_a_contact(
    settings: Settings, store: StateStore, worker_pool: WorkerPool
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # connection refused: provably not applied
    env = worker_env(settings, nobody, autopause_retry_safe=3)
    worker_pool.start(env, count=1, threads=1)
    cid = submit(settings, store, 20, batch_size=2).campaign_id
    assert cid is not None
    assert wait_while_progressing(lambda: paused(store, cid), lambda: counts_key(store, cid))
    reason = store.meta(cid)["pause_reason"]
    assert "auto-paused" in reason, reason
    assert "retry-safe" in reason, reason
    # Nothing reached the provider, so nothing was lost: every contact still waits.
    assert store.counts(cid) == {"pending": 20}


def test_insufficient_balance_gives_the_batch_back_and_pauses_until_resumed(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(balance=0)  # every create is refused with 402, nothing is created
    worker_pool.start(worker_env(settings, sandbox.url), count=1, threads=2)
    cid = submit(settings, store, 10, batch_size=5).campaign_id
    assert cid is not None
    assert wait_while_progressing(lambda: paused(store, cid), lambda: counts_key(store, cid))
    assert "balance" in store.meta(cid)["pause_reason"]
    assert store.counts(cid) == {"pending": 10}  # given back, not failed
    assert sandbox.stats()["requests"]["/apiCalls/create"].get("402", 0) >= 1
    assert sandbox.stats()["creates_per_phone"] == {}

    sandbox.configure(balance=1000.0)
    Controls(store, make_enqueue(settings, store.client)).resume(cid)
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 10)
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(10), 1)
