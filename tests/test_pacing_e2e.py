"""Pacing end to end: a campaign's dials per minute hold across worker processes at runtime, and
a wait longer than `DISPATCHER_MAX_PACING_WAIT_S` gives the thread back instead of holding it.

Starts are read from the workers' own `effebot.request` log lines (written after the answer, so
the start is the line's time less its latency): a loaded machine can only make them later, and
two of them closer by at most the lateness allowed for.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import (
    START_LATENESS_S,
    assert_consistent,
    log_events,
    phones,
    request_started_at_s,
    submit,
    wait_until_finished,
)
from tests.fixtures.workers import WorkerPool, worker_env

pytestmark = pytest.mark.slow

#: How much later than its slot a worker may start on a loaded machine (see `assert_paced`).
JITTER_S = START_LATENESS_S


def create_starts(logs: str, campaign_id: str) -> list[tuple[float, int]]:
    """(start, phones) of every create request the campaign made, in order."""
    starts = [
        (request_started_at_s(event), int(event["phone_count"]))
        for event in log_events(logs, "effebot.request")
        if event.get("endpoint") == "apiCalls/create" and event.get("campaign_id") == campaign_id
    ]
    return sorted(starts)


def test_a_campaigns_dials_per_minute_hold_across_worker_processes(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url), count=2, threads=4)
    # 120 a minute: each batch of 3 phones pays 1.5 s before the campaign's next batch starts.
    cid = submit(settings, store, 15, batch_size=3, dials_per_minute=120).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 15)
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(15), 1)
    starts = create_starts(worker_pool.logs(), cid)
    assert len(starts) == 5
    rate_per_s = 120 / 60
    for (first, paid), (second, _) in itertools.pairwise(starts):
        assert second - first >= paid / rate_per_s - JITTER_S, starts
    # And over the whole run: 12 phones paid for before the last batch took 6 s at least.
    assert starts[-1][0] - starts[0][0] >= 12 / rate_per_s - JITTER_S, starts


def test_a_pacing_wait_longer_than_the_maximum_requeues_the_batch_and_frees_the_thread(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # Campaign A may dial one number a second: after its first batch of two, each next one would
    # wait 2 s, longer than the 0.5 s a worker may hold a thread for. Campaign B has no pace.
    slow = submit(settings, store, 6, batch_size=2, name="slow", dials_per_minute=60).campaign_id
    fast = submit(settings, store, 2, batch_size=2, name="fast").campaign_id
    assert slow is not None
    assert fast is not None
    # One worker thread, started after both were queued (A's three batches, then B's one): if the
    # thread slept through A's waits, B would be created last; handed back, B goes second.
    env = worker_env(settings, sandbox.url, max_pacing_wait_s=0.5)
    worker_pool.start(env, count=1, threads=1)
    assert wait_until_finished(store, slow), store.counts(slow)
    assert wait_until_finished(store, fast), store.counts(fast)

    def call_ids(campaign_id: str) -> list[int]:
        return sorted(int(info["api_call_id"]) for _, info in store.batches(campaign_id))

    slow_ids, [fast_id] = call_ids(slow), call_ids(fast)
    assert len(slow_ids) == 3
    assert slow_ids[0] < fast_id < slow_ids[1], (slow_ids, fast_id)
    # And A's pace held: its batches started at least 2 s apart.
    starts = create_starts(worker_pool.logs(), slow)
    assert [b - a >= 2 - JITTER_S for (a, _), (b, _) in itertools.pairwise(starts)] == [True] * 2
