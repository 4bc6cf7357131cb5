"""Pause, resume, cancel and reschedule against real workers and the sandbox."""

from __future__ import annotations

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
from tests.fixtures.campaigns import (
    assert_consistent,
    batch_messages,
    held_batches,
    phones,
    provider_details,
    submit,
    wait_until_finished,
    wait_while_progressing,
)
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow


@pytest.fixture
def controls(settings: Settings, store: StateStore) -> Controls:
    return Controls(store, make_enqueue(settings, store.client))


def creates(sandbox: Any) -> int:
    return sum(sandbox.stats()["creates_per_phone"].values())


#: The provider's final statuses (the sandbox's vocabulary) and the contact state each one means.
PROVIDER_OUTCOMES = {
    "completed": "completed",
    "no_answer": "no_answer",
    "busy": "busy",
    "failed": "failed",
    "invalid_number": "invalid",
}


def provider_statuses(sandbox: Any, call_ids: set[str]) -> dict[str, str]:
    """phone -> final status, read from the sandbox's `apiCalls/get` (calls it still has)."""
    return {
        call["phone"]: call["status"]
        for details in provider_details(sandbox.url, call_ids)
        for call in details["calls"]
    }


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
    # Creates claimed before the pause may still land; then every batch left is held, not dialled.
    pending = {n for n, info in store.batches(cid) if info.get("status") == "pending"}

    def all_held() -> bool:
        return not store.counts(cid).get("sending") and pending <= held_batches(
            worker_pool.logs(), cid
        )

    assert wait_while_progressing(all_held, lambda: len(held_batches(worker_pool.logs(), cid))), (
        store.counts(cid),
        sorted(pending - held_batches(worker_pool.logs(), cid)),
    )
    created = creates(sandbox)
    assert created == sum(1 for r in store.iter_contacts(cid) if r.fields.get("c"))
    assert created < 400
    progress = store.meta(cid)
    assert (progress["status"], progress["pause_reason"]) == ("paused", "test pause")
    with pytest.raises(TransitionRefused):
        controls.pause(cid)

    assert creates(sandbox) == created, "a dial was created while paused"
    controls.resume(cid)
    assert wait_until_finished(store, cid), store.counts(cid)
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


def test_cancel_mid_run_lets_created_calls_reconcile_to_the_providers_outcome(
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
    assert wait_while_progressing(
        lambda: not store.counts(cid).get("sent"), lambda: tuple(store.counts(cid).items())
    ), store.counts(cid)
    states = assert_consistent(store, cid, 300)
    created = sandbox.stats()["creates_per_phone"]
    assert 30 <= len(created) < 300
    records = list(store.iter_contacts(cid))
    outcome = provider_statuses(sandbox, {str(r.fields["c"]) for r in records if r.fields.get("c")})
    for record in records:
        if record.phone not in created:
            # Never created: cancelled, with no api call.
            assert record.state == "cancelled", record
            assert not record.fields.get("c"), record
        elif record.phone in outcome:
            # Created and left to run: the contact ends in what the provider says happened.
            assert record.state == PROVIDER_OUTCOMES[outcome[record.phone]], (record, outcome)
        else:
            # Created but removed at the provider before it started: cancelled.
            assert record.state == "cancelled", record
    assert states["cancelled"] >= 300 - len(created)
    assert sum(states[s] for s in PROVIDER_OUTCOMES.values()) == len(outcome)


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
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 40)
    assert max(sandbox.stats()["creates_per_phone"].values()) == 1


def test_rescheduling_earlier_moves_batches_already_waiting_for_the_old_start(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=20), count=1, threads=4)
    start = datetime.now(UTC) + timedelta(hours=1)
    report = submit(settings, store, 40, batch_size=10, start_at=start.isoformat())
    cid = report.campaign_id
    assert cid is not None
    assert store.status(cid) is CampaignStatus.SCHEDULED
    # Without plan_ahead nothing is created early: each batch message waits for the start.
    assert wait_for(lambda: batch_messages(store.client, settings) == (0, 4), 30), batch_messages(
        store.client, settings
    )
    assert creates(sandbox) == 0

    controls.reschedule(cid, datetime.now(UTC) + timedelta(seconds=1))
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 40)
    per_phone = sandbox.stats()["creates_per_phone"]
    assert per_phone == dict.fromkeys(phones(40), 1)
