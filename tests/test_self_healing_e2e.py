"""Self-healing with real worker processes: graceful shutdowns cost nobody a call, and provider
actions a campaign owes survive the provider being down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatcher.controls import Controls
from dispatcher.lifecycle import CampaignStatus
from dispatcher.queue import make_enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from tests.test_pipeline_e2e import assert_consistent, finished, submit

pytestmark = pytest.mark.slow


def creates(sandbox: Any) -> int:
    return sum(sandbox.stats()["creates_per_phone"].values())


def test_workers_shut_down_gracefully_mid_campaign_leave_no_contact_unknown(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # Slow answers keep creates in flight whenever a worker is told to stop.
    sandbox.configure(latency_ms=400)
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30)
    worker_pool.start(env, count=2, threads=4)
    report = submit(settings, store, 600, batch_size=10)
    cid = report.campaign_id
    assert cid is not None
    stopped = 0
    for target in (60, 200, 340):
        assert wait_for(lambda t=target: creates(sandbox) >= t, 90), store.counts(cid)
        # Stop the oldest running worker the way a deploy or a scale-down does, and replace it.
        victim = next(p for p in worker_pool.processes if p.process and p.process.poll() is None)
        assert victim.process is not None
        in_flight = store.counts(cid).get("sending", 0)
        victim.terminate()
        victim.process.wait(timeout=60)
        stopped += int(in_flight > 0)
        worker_pool.start(env, count=1, threads=4)
    assert stopped >= 1, "no shutdown hit a create in flight: the test proved nothing"
    assert wait_for(lambda: finished(store, cid), 180), store.counts(cid)
    states = assert_consistent(store, cid, 600)
    assert states.get("unknown", 0) == 0, [
        r.fields.get("r") for r in store.iter_contacts(cid) if r.state == "unknown"
    ][:5]
    assert max(sandbox.stats()["creates_per_phone"].values()) == 1
    assert "client has been closed" not in worker_pool.logs()


def test_a_cancel_while_the_provider_is_down_removes_the_planned_calls_once_it_is_back(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(speedup=1.0)  # planned calls must stay planned while the test looks
    env = worker_env(settings, sandbox.url, provider_rate_per_s=20)
    worker_pool.start(env, count=1, threads=4)
    start = datetime.now(UTC) + timedelta(hours=2)
    report = submit(settings, store, 40, batch_size=10, start_at=start.isoformat(), plan_ahead=True)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: store.counts(cid).get("sent", 0) == 40, 60), store.counts(cid)
    assert sandbox.stats()["calls_by_status"].get("planned") == 40

    sandbox.configure(error_rate=1.0)  # the provider answers every request 5xx
    Controls(store, make_enqueue(settings, store.client)).cancel(cid)
    assert wait_for(lambda: (store.owed(cid, "cancel") or _none()).tries >= 2, 60)
    assert sandbox.stats()["calls_by_status"].get("planned") == 40  # still ringing later
    assert store.status(cid) is CampaignStatus.CANCELLED

    sandbox.configure(error_rate=0.0)  # back: the reconciler asks again, the calls go
    assert wait_for(lambda: store.counts(cid).get("cancelled", 0) == 40, 120), store.counts(cid)
    assert store.owed(cid, "cancel") is None
    assert sandbox.stats()["calls_by_status"].get("planned", 0) == 0
    assert_consistent(store, cid, 40)


class _NoOwed:
    tries = 0


def _none() -> _NoOwed:
    return _NoOwed()
