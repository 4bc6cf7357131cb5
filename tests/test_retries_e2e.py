"""Retries end to end: redials follow the campaign's rules, and failed sends end or wait as told.

A redial is a new batch that goes through the batch actor like any other: it waits while the
campaign is paused, it is dialled only inside the call window, and it carries the campaign's call
parameters. A create that provably did not reach the provider is tried again, after the
provider's Retry-After, at most `DISPATCHER_RETRY_SAFE_MAX_ATTEMPTS` times.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatcher.controls import Controls
from dispatcher.queue import make_enqueue
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import (
    assert_consistent,
    batch_messages,
    held_batches,
    log_events,
    logged_at_s,
    phones,
    provider_details,
    request_started_at_s,
    submit,
    wait_until_finished,
    wait_while_progressing,
)
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow


@pytest.fixture
def controls(settings: Settings, store: StateStore) -> Controls:
    return Controls(store, make_enqueue(settings, store.client))


def call_details(sandbox: Any, call_ids: list[str]) -> dict[str, dict[str, Any]]:
    """api call id -> the sandbox's `apiCalls/get` details."""
    return {str(d["id"]): d for d in provider_details(sandbox.url, call_ids)}


CALL = {
    "dutyPhone": 1,
    "lang": "en-US",
    "needRecording": 1,
    "record": {"text": "Your parcel arrives tomorrow. Press 7 to confirm.", "gender": 1},
    "ivrs": [{"digit": 7, "smsText": "Confirmed, thank you."}],
}


def test_due_redials_are_held_while_paused_then_dialled_with_the_same_call_parameters(
    settings: Settings,
    store: StateStore,
    controls: Controls,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    sandbox.configure(outcomes={"no_answer": 1.0})
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    retry = {"no_answer": {"max_attempts": 2, "interval_s": 0.5}}
    cid = submit(settings, store, 10, batch_size=5, retry=retry, call=CALL).campaign_id
    assert cid is not None
    assert wait_for(lambda: len(sandbox.stats()["creates_per_phone"]) == 10, 30)
    first_batches = {n for n, _ in store.batches(cid)}
    controls.pause(cid)

    # Every first dial goes unanswered; the redials fall due, are formed into batches, and held.
    def redial_batches() -> set[int]:
        return {n for n, _ in store.batches(cid)} - first_batches

    def redials_held() -> bool:
        formed = redial_batches()
        return (
            bool(formed)
            and formed <= held_batches(worker_pool.logs(), cid)
            and all(r.fields.get("b") in formed for r in store.iter_contacts(cid))
        )

    assert wait_while_progressing(redials_held, lambda: (store.counts(cid), redial_batches())), (
        store.counts(cid),
        redial_batches(),
    )
    assert set(sandbox.stats()["creates_per_phone"].values()) == {1}, "a redial went out paused"

    # Answered redials show the campaign's IVR step and recording: the same call parameters.
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0)
    controls.resume(cid)
    assert wait_until_finished(store, cid), store.counts(cid)
    assert assert_consistent(store, cid, 10) == {"completed": 10}
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(10), 2)
    records = list(store.iter_contacts(cid))
    for record in records:
        assert record.fields["a"] == 2
        assert record.fields["d"] == 7, record.fields  # the IVR step of the spec was dialled
        assert record.fields.get("rec"), record.fields  # needRecording=1 was sent again
    first = [str(h["c"]) for r in records for h in r.fields["hist"]]
    redials = [str(r.fields["c"]) for r in records]
    details = call_details(sandbox, sorted(set(first + redials), key=int))
    for call_id in set(first + redials):
        assert details[call_id]["needRecording"] == 1
        assert details[call_id]["webhookUrl"] is None


def test_a_redial_falling_due_after_the_window_closes_waits_for_it_to_open_again(
    settings: Settings, store: StateStore, controls: Controls, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(outcomes={"busy": 1.0})
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    # A one-minute window around now (windows are whole minutes), closing at the next minute.
    now = datetime.now(UTC)
    if now.second >= 50:  # too little of this minute left for the first dial: use the next one
        time.sleep(60.5 - now.second)
        now = datetime.now(UTC)
    opens = now.replace(second=0, microsecond=0)
    closes = opens + timedelta(minutes=1)
    window = {"hours": [f"{opens:%H:%M}-{closes:%H:%M}"], "default_timezone": "UTC"}
    # The redial falls due a second after the window closed.
    interval_s = (closes - now).total_seconds() + 1
    retry = {"busy": {"max_attempts": 2, "interval_s": interval_s}}
    rows = [{"phone": p, "timezone": "UTC"} for p in phones(4)]
    cid = submit(settings, store, 4, contacts=rows, batch_size=4, window=window, retry=retry)
    assert cid.campaign_id is not None
    campaign_id = cid.campaign_id

    def redial_waiting() -> bool:
        # The redial's batch was formed and now waits in dramatiq's delay queue for tomorrow.
        records = list(store.iter_contacts(campaign_id))
        return all(
            r.fields.get("b") not in (None, 0) and r.fields.get("hist") for r in records
        ) and (batch_messages(store.client, settings) == (0, 1))

    assert wait_while_progressing(
        redial_waiting,
        lambda: (store.counts(campaign_id), batch_messages(store.client, settings)),
        stall_s=interval_s + 30,
    ), (store.counts(campaign_id), batch_messages(store.client, settings))
    assert datetime.now(UTC) >= closes
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(4), 1)
    assert store.counts(campaign_id) == {"pending": 4}
    controls.cancel(campaign_id)
    assert assert_consistent(store, campaign_id, 4) == {"cancelled": 4}


def test_a_create_that_never_reaches_the_provider_is_tried_the_maximum_times_then_fails(
    settings: Settings, store: StateStore, worker_pool: WorkerPool
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # connection refused: provably not applied
    env = worker_env(settings, nobody, retry_safe_max_attempts=3)
    worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 6, batch_size=3).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    assert assert_consistent(store, cid, 6) == {"failed": 6}
    for record in store.iter_contacts(cid):
        assert "gave up after 3 tries" in record.fields["r"], record.fields
    tries: defaultdict[int, int] = defaultdict(int)
    for event in log_events(worker_pool.logs(), "effebot.request"):
        if event.get("endpoint") == "apiCalls/create" and event.get("campaign_id") == cid:
            tries[int(event["batch_no"])] += 1
    assert dict(tries) == {1: 3, 2: 3}


def test_a_429_is_retried_no_sooner_than_its_retry_after(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(rate_limit_per_s=1)  # Retry-After: whole seconds until a slot frees up
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=2)
    cid = submit(settings, store, 6, batch_size=2).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 6)
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(6), 1)
    by_batch: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for event in log_events(worker_pool.logs(), "effebot.request"):
        if event.get("endpoint") == "apiCalls/create" and event.get("campaign_id") == cid:
            by_batch[int(event["batch_no"])].append(event)
    gaps = []
    for attempts in by_batch.values():
        attempts.sort(key=request_started_at_s)
        for refused, following in itertools.pairwise(attempts):
            assert refused.get("status_code") == 429, refused
            gaps.append(request_started_at_s(following) - logged_at_s(refused))
    assert gaps, "no create was refused: the test proves nothing"
    # The sandbox's Retry-After is whole seconds, at least 1: no retry came sooner. (Its answer is
    # always 1 s, the same as the first step of the backoff, so a later retry cannot tell the two
    # apart: this checks that the worker never comes back before it was told to.)
    assert min(gaps) >= 1.0 - 0.01, sorted(gaps)[:5]
