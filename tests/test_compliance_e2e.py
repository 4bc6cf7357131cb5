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
from tests.fixtures.campaigns import (
    SPEC,
    assert_consistent,
    batch_messages,
    counts_key,
    held_batches,
    phones,
    submit,
    wait_until_finished,
    wait_while_progressing,
)
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow


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
    assert wait_until_finished(store, cid), store.counts(cid)
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
    controls = Controls(store, enqueuer(settings, store))
    # Paused once every first dial is out, so the retries wait for us (they are held) whatever
    # this process's speed; the number is blocked while they wait.
    assert wait_for(lambda: len(creates_per_phone(sandbox)) == 6, 30)
    controls.pause(cid)
    assert wait_for(lambda: (store.contact(cid, victim) or object()).fields.get("hist"), 30)  # type: ignore[attr-defined]
    store.dnc_add([victim])
    controls.resume(cid)
    assert wait_until_finished(store, cid), store.counts(cid)
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
    assert set(creates_per_phone(sandbox).values()) == {1}
    assert store.counts(cid) == {"pending": 5}
    # Deferred to the next UTC day, not dialled again today.
    next_day_ms = (time.time() // 86_400 + 1) * 86_400_000
    assert (store.next_retry_due_ms(cid) or 0) >= next_day_ms
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
    # The closed zone's two batches wait in dramatiq's delay queue for their window to open.
    assert wait_for(lambda: batch_messages(store.client, settings) == (0, 2), 30), batch_messages(
        store.client, settings
    )
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
    assert wait_until_finished(store, cid), store.counts(cid)
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
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 100)


def test_a_balance_falling_below_the_minimum_pauses_the_campaign_and_holds_its_batches(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # Each create pays for its generated audio and each answered call for its minutes: 10.0
    # falls below 8.5 after some dozens of calls, a few seconds into the campaign.
    sandbox.configure(balance=10.0)
    env = worker_env(
        settings, sandbox.url, provider_rate_per_s=8, min_balance=8.5, balance_check_interval_s=0.5
    )
    worker_pool.start(env, count=1, threads=2)
    # Scheduled for later first, so the guard reads the balance before anything is spent.
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cid = submit(settings, store, 80, batch_size=2, start_at=later).campaign_id
    assert cid is not None
    seen: list[float] = []

    def paused() -> bool:
        cached = store.get_global("balance").get("balance")
        if cached is not None and (not seen or seen[-1] != float(cached)):
            seen.append(float(cached))
        return store.status(cid) is CampaignStatus.PAUSED

    assert wait_for(lambda: paused() or seen, 30), store.get_global("balance")
    controls = Controls(store, enqueuer(settings, store))
    controls.reschedule(cid, datetime.now(UTC))
    assert wait_while_progressing(paused, lambda: counts_key(store, cid)), (seen, store.counts(cid))
    paused()  # the balance the guard paused on was cached before the pause: read it again
    reason = store.meta(cid)["pause_reason"]
    assert "balance" in reason, reason
    assert "below 8.5" in reason, reason
    # The guard read the balance above the minimum while the campaign ran, then saw it fall.
    assert seen[0] == 10.0, seen
    assert seen[-1] < 8.5, seen
    assert creates_per_phone(sandbox), "the campaign ran before the balance fell"

    # Batches are held, not dropped: once every pending one was looked at, nothing more is dialled.
    pending = {n for n, info in store.batches(cid) if info.get("status") == "pending"}
    assert pending

    def all_held() -> bool:
        return not store.counts(cid).get("sending") and pending <= held_batches(
            worker_pool.logs(), cid
        )

    assert wait_while_progressing(all_held, lambda: len(held_batches(worker_pool.logs(), cid)))
    dialled = creates_per_phone(sandbox)
    assert store.counts(cid).get("pending", 0) == 80 - len(dialled) > 0

    sandbox.configure(balance=1000.0)  # paid
    controls.resume(cid)
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 80)
    assert creates_per_phone(sandbox) == dict.fromkeys(phones(80), 1)


def test_a_shared_recording_is_created_once_and_removed_at_the_end(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=2, threads=4)
    report = submit(settings, store, 200, batch_size=20, shared_recording=True)
    cid = report.campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 200)

    def requests(path: str) -> int:
        return int(sandbox.stats()["requests"].get(path, {}).get("200", 0))

    assert requests("/apiCalls/createRecord") == 1
    assert requests("/apiCalls/create") == 10
    assert wait_for(lambda: requests("/apiCalls/removeRecord") == 1, 30)
    meta = store.meta(cid)
    assert meta["shared_record_removed"] == "1"
