"""End to end: real worker processes, a real Redis, the sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import (
    SPEC,
    assert_consistent,
    assert_paced,
    finished,
    phones,
    submit,
    wait_until_finished,
)
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

# Other modules import these from here; they live in tests/fixtures/campaigns.py.
__all__ = ["SPEC", "assert_consistent", "finished", "phones", "submit"]

pytestmark = pytest.mark.slow


def test_a_5000_contact_campaign_completes_across_two_workers_within_the_pace(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    rate = 25
    # The production default jitter allowance (0.05 s). Every request is logged (DEBUG), so the
    # pace is judged from the workers' own start times, and the sandbox's arrivals against them.
    env = worker_env(settings, sandbox.url, provider_rate_per_s=rate, log_level="DEBUG")
    worker_pool.start(env, count=2, threads=4)
    cid = submit(settings, store, 5000).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), (store.counts(cid), worker_pool.logs()[-3000:])
    states = assert_consistent(store, cid, 5000)
    stats = sandbox.stats()
    creates = stats["creates_per_phone"]
    assert len(creates) == 5000
    assert max(creates.values()) == 1
    assert_paced(worker_pool.logs, stats, rate)
    # The sandbox's outcome mix shows up, and nothing is unknown without a fault.
    assert states["completed"] > 0
    assert states.get("unknown", 0) == 0


def test_a_worker_killed_mid_request_causes_no_double_dial_and_no_lost_contact(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # Every request takes 0.4 s at the provider, so the victim always has creates in flight.
    sandbox.configure(latency_ms=400)
    env = worker_env(
        settings,
        sandbox.url,
        provider_rate_per_s=20,
        broker_heartbeat_timeout_ms=2000,
        broker_maintenance_chance=200_000,
        batch_lease_s=4,
        read_timeout_s=2,
    )
    [victim] = worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 600, batch_size=20).campaign_id
    assert cid is not None

    def sending() -> set[int]:
        return {n for n, info in store.batches(cid) if info.get("status") == "sending"}

    # Kill it once some batches are done and at least one create is on its way.
    assert wait_for(lambda: store.counts(cid).get("pending", 0) <= 540 and sending(), 60)
    victim.kill()
    in_flight = sending()
    assert in_flight, "the kill hit no batch in flight: the test proves nothing"
    worker_pool.start(env, count=2, threads=4)
    assert wait_until_finished(store, cid), (store.counts(cid), worker_pool.logs()[-3000:])
    assert_consistent(store, cid, 600)
    creates = sandbox.stats()["creates_per_phone"]
    assert max(creates.values()) == 1
    # Nobody knows whether the victim's last creates reached the provider: unknown, not redialled.
    for batch_no in in_flight:
        for phone in store.batch_phones(cid, batch_no):
            record = store.contact(cid, phone)
            assert record is not None
            assert record.state == "unknown", (batch_no, phone, record.fields)
            assert creates.get(phone, 0) <= 1


def test_a_dropped_create_leaves_its_contacts_unknown_and_never_redials_them(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(drop_rate=0.2)
    # Many ambiguous failures on purpose: the guard that would pause the campaign stays off.
    env = worker_env(settings, sandbox.url, provider_rate_per_s=50, autopause_ambiguous=0)
    worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 600, batch_size=10).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), (store.counts(cid), worker_pool.logs()[-3000:])
    states = assert_consistent(store, cid, 600)
    stats = sandbox.stats()
    assert max(stats["creates_per_phone"].values()) == 1
    dropped = {
        phone
        for fault in stats["faults"]
        if fault["kind"] == "drop" and fault["endpoint"].endswith("create")
        for phone in fault.get("phones") or []
    }
    unknown = {r.phone for r in store.iter_contacts(cid) if r.state == "unknown"}
    assert states["unknown"] > 0
    assert unknown == dropped


def test_429s_are_retried_until_every_contact_is_dialled_once(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(rate_limit_per_s=4)
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30)
    worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 400, batch_size=10).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), (store.counts(cid), worker_pool.logs()[-3000:])
    states = assert_consistent(store, cid, 400)
    stats = sandbox.stats()
    assert stats["requests"].get("/apiCalls/create", {}).get("429", 0) > 0
    assert states.get("unknown", 0) == 0
    # Every contact was created, exactly once: none gave up on the 429s.
    creates = stats["creates_per_phone"]
    assert set(creates) == set(phones(400))
    assert set(creates.values()) == {1}
    # Whatever ended `failed` did so on the provider's word (its call status), not ours.
    for record in store.iter_contacts(cid):
        assert record.fields.get("c"), record
        if record.state == "failed":
            assert record.fields.get("st") == "failed", record.fields


def test_opting_in_to_redial_unknown_redials_only_after_an_ambiguous_fault(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(drop_rate=0.2)
    env = worker_env(
        settings, sandbox.url, provider_rate_per_s=50, autopause_ambiguous=0, redial_unknown=True
    )
    worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 300, batch_size=10).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), (store.counts(cid), worker_pool.logs()[-2000:])
    states = assert_consistent(store, cid, 300)
    assert states.get("unknown", 0) == 0
    stats = sandbox.stats()
    dropped = {
        phone
        for fault in stats["faults"]
        if fault["kind"] == "drop" and fault["endpoint"].endswith("create")
        for phone in fault.get("phones") or []
    }
    twice = {phone for phone, n in stats["creates_per_phone"].items() if n > 1}
    assert dropped, "the sandbox injected no drop: the test proves nothing"
    assert twice <= dropped
