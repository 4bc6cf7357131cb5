"""Pause, resume, cancel and reschedule against real workers and the sandbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dispatcher.controls import Controls
from dispatcher.effebot.client import EffebotClient
from dispatcher.errors import TransitionRefused
from dispatcher.lifecycle import CampaignStatus
from dispatcher.queue import make_enqueue
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.store import StateStore
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from tests.test_pipeline_e2e import assert_consistent, finished, submit

pytestmark = pytest.mark.slow


@pytest.fixture
def store(settings: Settings, redis_client: Any) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


@pytest.fixture
def controls(settings: Settings, store: StateStore) -> Controls:
    return Controls(store, make_enqueue(settings, store.client))


def creates(sandbox: Any) -> int:
    return sum(sandbox.stats()["creates_per_phone"].values())


def test_pause_holds_every_dial_and_resume_dials_each_contact_exactly_once(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=6), count=2, threads=4)
    report = submit(settings, store, 400, batch_size=10)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: creates(sandbox) >= 60, 60)
    controls.pause(cid, "test pause")
    time.sleep(1.0)  # a create already claimed before the pause may still land
    held = creates(sandbox)
    time.sleep(3.0)
    assert creates(sandbox) == held, "a dial was created while paused"
    assert held < 400
    progress = store.meta(cid)
    assert (progress["status"], progress["pause_reason"]) == ("paused", "test pause")
    with pytest.raises(TransitionRefused):
        controls.pause(cid)

    controls.resume(cid)
    assert wait_for(lambda: finished(store, cid), 120), store.counts(cid)
    assert_consistent(store, cid, 400)
    per_phone = sandbox.stats()["creates_per_phone"]
    assert len(per_phone) == 400
    assert max(per_phone.values()) == 1


def test_cancel_removes_planned_calls_and_cancels_unsent_contacts(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    sandbox.configure(speedup=1.0)  # planned calls must stay planned while the test looks
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=20), count=1, threads=4)
    start = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    report = submit(settings, store, 200, batch_size=20, start_at=start, plan_ahead=True)
    cid = report.campaign_id
    assert cid is not None
    # Every batch is created at once, planned for the start time.
    assert wait_for(lambda: store.counts(cid).get("sent", 0) == 200, 60), store.counts(cid)
    assert sandbox.stats()["calls_by_status"].get("planned") == 200

    controls.cancel(cid)
    assert wait_for(lambda: store.counts(cid).get("cancelled", 0) == 200, 60), store.counts(cid)
    assert_consistent(store, cid, 200)
    assert store.status(cid) is CampaignStatus.CANCELLED
    stats = sandbox.stats()
    assert stats["calls_by_status"].get("planned", 0) == 0
    assert stats["requests"]["/apiCalls/remove"]["200"] >= 1


def test_cancel_mid_run_lets_sent_calls_reconcile(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=5), count=1, threads=4)
    report = submit(settings, store, 300, batch_size=10)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: creates(sandbox) >= 30, 60)
    controls.cancel(cid)
    created = set(sandbox.stats()["creates_per_phone"])
    assert wait_for(lambda: not store.counts(cid).get("sent"), 60), store.counts(cid)
    states = assert_consistent(store, cid, 300)
    assert states["cancelled"] >= 300 - len(created) - 10
    # Contacts whose calls were created reconcile to the provider's outcome, not `cancelled`.
    for record in store.iter_contacts(cid):
        if record.phone in created and record.fields.get("c"):
            assert record.state != "pending"


def test_pause_parks_planned_calls_and_reschedule_moves_them(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    sandbox.configure(speedup=1.0)  # planned calls must stay planned while the test looks
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=20), count=1, threads=4)
    start = datetime.now(UTC) + timedelta(hours=2)
    report = submit(settings, store, 40, batch_size=20, start_at=start.isoformat(), plan_ahead=True)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: store.counts(cid).get("sent", 0) == 40, 60)
    ids = [int(info["api_call_id"]) for _, info in store.batches(cid)]

    with httpx.Client() as http:
        client = EffebotClient(http, base_url=sandbox.url, api_key=SANDBOX_API_KEY)

        def planned_at() -> list[datetime]:
            return [d.planned_at for d in client.get_calls(ids) if d.planned_at is not None]

        controls.pause(cid)
        parked_after = datetime.now(UTC) + timedelta(days=20)
        assert wait_for(lambda: all(p > parked_after for p in planned_at()), 30), planned_at()

        controls.resume(cid)
        assert wait_for(lambda: all(abs((p - start).total_seconds()) < 2 for p in planned_at()), 30)

        soon = datetime.now(UTC) + timedelta(seconds=1)
        controls.reschedule(cid, soon)
        assert wait_for(lambda: all(p < start - timedelta(hours=1) for p in planned_at()), 30)
    sandbox.configure(speedup=600.0)  # now let the calls play out
    assert wait_for(lambda: finished(store, cid), 120), store.counts(cid)
    assert_consistent(store, cid, 40)
    assert max(sandbox.stats()["creates_per_phone"].values()) == 1
