"""Retry policy, call windows, the daily cap, guards and shared recordings, end to end."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from dispatcher.contacts import read_iterable
from dispatcher.controls import Controls
from dispatcher.lifecycle import CampaignStatus
from dispatcher.producer import submit_campaign
from dispatcher.queue import make_enqueue
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from tests.test_pipeline_e2e import SPEC, assert_consistent, finished, phones, submit

pytestmark = pytest.mark.slow


@pytest.fixture
def store(settings: Settings, redis_client: Any) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


def enqueuer(settings: Settings, store: StateStore) -> Any:
    return make_enqueue(settings, store.client)


def creates_per_phone(sandbox: Any) -> dict[str, int]:
    return dict(sandbox.stats()["creates_per_phone"])


def test_no_answers_are_redialled_up_to_the_maximum_after_the_interval(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(outcomes={"no_answer": 1.0})
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    started = time.monotonic()
    retry = {"no_answer": {"max_attempts": 3, "interval_s": 2}}
    report = submit(settings, store, 10, batch_size=5, retry=retry)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: finished(store, cid), 90), store.counts(cid)
    # Two intervals of 2 s separate the three attempts of each contact.
    assert time.monotonic() - started >= 4.0
    states = assert_consistent(store, cid, 10)
    assert states == {"no_answer": 10}
    assert set(creates_per_phone(sandbox).values()) == {3}
    for record in store.iter_contacts(cid):
        assert record.fields["a"] == 3
        assert [h["s"] for h in record.fields["hist"]] == ["no_answer", "no_answer"]


def test_a_number_put_on_the_dnc_list_before_its_retry_is_not_redialled(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(outcomes={"busy": 1.0})
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    retry = {"busy": {"max_attempts": 2, "interval_s": 3}}
    report = submit(settings, store, 6, batch_size=6, retry=retry)
    cid = report.campaign_id
    assert cid is not None
    victim = phones(6)[0]
    assert wait_for(lambda: (store.contact(cid, victim) or object()).fields.get("hist"), 30)  # type: ignore[attr-defined]
    store.dnc_add([victim])
    assert wait_for(lambda: finished(store, cid), 60), store.counts(cid)
    assert_consistent(store, cid, 6)
    record = store.contact(cid, victim)
    assert record is not None
    assert record.state == "blocked"
    per_phone = creates_per_phone(sandbox)
    assert per_phone[victim] == 1
    assert all(per_phone[p] == 2 for p in phones(6)[1:])


def test_the_daily_cap_defers_a_number_instead_of_dialling_it_again(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(outcomes={"no_answer": 1.0})
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30, max_dials_per_number_per_day=1)
    worker_pool.start(env, count=1, threads=4)
    retry = {"no_answer": {"max_attempts": 3, "interval_s": 0.5}}
    report = submit(settings, store, 5, batch_size=5, retry=retry)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(
        lambda: all(
            (r.fields.get("r") or "").startswith("daily dial cap") for r in store.iter_contacts(cid)
        ),
        30,
    )
    time.sleep(1.5)
    assert set(creates_per_phone(sandbox).values()) == {1}
    assert store.counts(cid) == {"pending": 5}
    assert store.next_retry_due_ms(cid) is not None
    Controls(store, enqueuer(settings, store)).cancel(cid)
    assert store.counts(cid) == {"cancelled": 5}


def _hour(moment: datetime) -> str:
    return f"{moment.hour:02d}:00"


def test_no_contact_is_dialled_outside_its_own_window(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    now = datetime.now(UTC)
    # Open now in UTC; twelve hours away from it in UTC+12.
    window = {"hours": [f"{_hour(now - timedelta(hours=1))}-{_hour(now + timedelta(hours=2))}"]}
    open_phones, closed_phones = phones(20)[:10], phones(20)[10:]
    rows = [{"phone": p, "timezone": "UTC"} for p in open_phones]
    rows += [{"phone": p, "timezone": "Etc/GMT-12"} for p in closed_phones]
    spec = parse_spec({**SPEC, "batch_size": 5, "window": window})
    report = submit_campaign(store, enqueuer(settings, store), spec, read_iterable(rows, "US"))
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(
        lambda: sum(v for k, v in store.counts(cid).items() if k != "pending") == 10, 60
    ), store.counts(cid)
    time.sleep(2.0)
    assert set(creates_per_phone(sandbox)) == set(open_phones)
    waiting = {r.phone for r in store.iter_contacts(cid) if r.state == "pending"}
    assert waiting == set(closed_phones)
    zones = {info.get("zone") for _, info in store.batches(cid)}
    assert len(zones) == 2


def test_contacts_past_the_window_expiry_end_expired_without_a_dial(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url), count=1, threads=2)
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    window = {"hours": ["00:00-24:00"], "weekdays": ["mon", "tue"], "expiry_date": yesterday}
    report = submit(settings, store, 8, batch_size=4, window=window)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: finished(store, cid), 30), store.counts(cid)
    assert assert_consistent(store, cid, 8) == {"expired": 8}
    assert creates_per_phone(sandbox) == {}


def test_an_error_burst_pauses_the_campaign_with_its_reason(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(error_rate=1.0)
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30, autopause_ambiguous=3)
    worker_pool.start(env, count=1, threads=2)
    report = submit(settings, store, 100, batch_size=5)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: store.status(cid) is CampaignStatus.PAUSED, 30)
    reason = store.meta(cid)["pause_reason"]
    assert "auto-paused" in reason
    assert "ambiguous" in reason
    counts = store.counts(cid)
    assert 3 <= counts.get("unknown", 0) // 5 <= 8
    assert counts.get("pending", 0) > 0

    sandbox.configure(error_rate=0.0)
    Controls(store, enqueuer(settings, store)).resume(cid)
    assert store.meta(cid)["pause_reason"] == ""
    assert wait_for(lambda: finished(store, cid), 60), store.counts(cid)
    assert_consistent(store, cid, 100)


def test_a_low_balance_pauses_running_campaigns(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    env = worker_env(
        settings,
        sandbox.url,
        provider_rate_per_s=2,
        min_balance=5000,
        balance_check_interval_s=1,
    )
    worker_pool.start(env, count=1, threads=2)
    report = submit(settings, store, 200, batch_size=5)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: store.status(cid) is CampaignStatus.PAUSED, 30)
    assert "balance" in store.meta(cid)["pause_reason"]


def test_a_shared_recording_is_created_once_and_removed_at_the_end(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=2, threads=4)
    report = submit(settings, store, 200, batch_size=20, shared_recording=True)
    cid = report.campaign_id
    assert cid is not None
    assert wait_for(lambda: finished(store, cid), 60), store.counts(cid)
    assert_consistent(store, cid, 200)

    def requests(path: str) -> int:
        return int(sandbox.stats()["requests"].get(path, {}).get("200", 0))

    assert requests("/apiCalls/createRecord") == 1
    assert requests("/apiCalls/create") == 10
    assert wait_for(lambda: requests("/apiCalls/removeRecord") == 1, 30)
    meta = store.meta(cid)
    assert meta["shared_record_removed"] == "1"
