"""Polling end to end: calls in flight are reconciled even when every queued message is lost."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.keys import Keys
from tests.fixtures.campaigns import assert_consistent, phones, submit, wait_until_finished
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow


def test_a_lost_poll_is_re_armed_and_the_calls_in_flight_are_reconciled(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(speedup=1.0)  # calls take half a minute: still in flight when all is lost
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30)
    [first] = worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 20, batch_size=10).campaign_id
    assert cid is not None
    assert wait_for(lambda: store.counts(cid) == {"sent": 20}, 30), store.counts(cid)

    # The worker dies and every queued message with it (a Redis that lost its queues): the poll
    # message, and the marker that says one is scheduled, are gone.
    first.kill()
    client = store.client
    lost = list(client.scan_iter(match=f"{Keys(settings.key_prefix).dramatiq_namespace}*"))
    assert lost
    client.delete(*lost, Keys(settings.key_prefix).campaign(cid).tick)
    sandbox.configure(speedup=600.0)  # the calls end now, and nobody has been told to look

    worker_pool.start(env, count=1, threads=4)
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 20)
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(20), 1)
    assert "/apiCalls/get" in sandbox.stats()["requests"]
