"""Webhooks end to end: the sandbox posts to the dispatcher's own receiver while workers poll.

The same call reaches the dispatcher twice, by webhook and by poll; in either order the second
changes nothing and the counters keep matching the contacts. IVR steps that name `@dispatcher`
report their answers to the campaign's receiver.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dispatcher.controls import Controls
from dispatcher.queue import make_enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.webhook_tokens import webhook_token
from tests.fixtures.campaigns import (
    assert_consistent,
    log_events,
    phones,
    submit,
    wait_until_finished,
    wait_while_progressing,
)
from tests.fixtures.receiver import HELD, KEPT, WEBHOOK_SECRET, Receiver
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver(settings: Settings, store: StateStore) -> Iterator[Receiver]:
    with Receiver(settings, store) as running:
        yield running


def snapshot(store: StateStore, campaign_id: str) -> tuple[dict[str, int], dict[str, Any]]:
    """The counters and every contact's state and fields."""
    contacts = {r.phone: (r.state, r.fields) for r in store.iter_contacts(campaign_id)}
    return store.counts(campaign_id), contacts


def test_a_webhook_arriving_after_the_poll_changes_nothing(
    settings: Settings,
    store: StateStore,
    sandbox: Any,
    receiver: Receiver,
    worker_pool: WorkerPool,
) -> None:
    receiver.gate.mode = KEPT  # the provider's webhooks are taken, and delivered only at the end
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30, **receiver.worker_settings())
    worker_pool.start(env, count=1, threads=4)
    # First dials unanswered, redials answered: a late webhook of a first dial must not undo
    # the answered redial (paused in between, so no redial goes out before the switch).
    sandbox.configure(outcomes={"no_answer": 1.0})
    retry = {"no_answer": {"max_attempts": 2, "interval_s": 0.5}}
    cid = submit(settings, store, 20, batch_size=5, retry=retry).campaign_id
    assert cid is not None
    controls = Controls(store, make_enqueue(settings, store.client))
    assert wait_for(lambda: len(sandbox.stats()["creates_per_phone"]) == 20, 30)
    controls.pause(cid)
    assert wait_for(lambda: all(r.fields.get("hist") for r in store.iter_contacts(cid)), 30)
    sandbox.configure(outcomes={"completed": 1.0})
    controls.resume(cid)
    assert wait_until_finished(store, cid), store.counts(cid)
    before = snapshot(store, cid)
    assert assert_consistent(store, cid, 20) == {"completed": 20}
    kept = [d for d in receiver.gate.deliveries if isinstance(d.body, dict) and "calls" in d.body]
    assert len({d.body["id"] for d in kept}) == 8, "every api call posted its changes"

    # Now the webhooks arrive, every one of them, late and newest first: each is accepted and
    # changes nothing (the first dials' "no_answer" comes last and must not undo the redials).
    receiver.gate.release()
    for delivery in reversed(kept):
        answer = receiver.deliver(delivery)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "applied"
    assert snapshot(store, cid) == before
    assert_consistent(store, cid, 20)
    assert store.next_retry_due_ms(cid) is None, "a late webhook scheduled a retry again"


def test_a_poll_answered_after_the_webhook_changes_nothing(
    settings: Settings,
    store: StateStore,
    sandbox: Any,
    receiver: Receiver,
    worker_pool: WorkerPool,
) -> None:
    sandbox.configure(instant=True)  # final at creation: one webhook with the final details
    receiver.gate.mode = HELD
    env = worker_env(
        settings,
        sandbox.url,
        provider_rate_per_s=30,
        log_level="DEBUG",
        **receiver.worker_settings(),
    )
    worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 5, batch_size=5).campaign_id
    assert cid is not None
    assert wait_for(lambda: store.counts(cid).get("sent") == 5, 30), store.counts(cid)
    # The poll's request now takes 3 s at the provider; the webhook is let through meanwhile.
    sandbox.configure(latency_ms=3000)
    assert wait_for(lambda: sandbox.stats()["peak_rps_by_endpoint"].get("/apiCalls/get"), 30)
    assert wait_for(lambda: receiver.gate.deliveries, 30)
    receiver.gate.release()
    assert wait_for(lambda: all(d.status for d in receiver.gate.deliveries), 30)
    assert {d.status for d in receiver.gate.deliveries} == {200}
    assert "/apiCalls/get" not in sandbox.stats()["requests"], "the poll was answered first"
    after_webhook = snapshot(store, cid)
    assert_consistent(store, cid, 5)

    # The poll's answer lands on contacts the webhook already ended: nothing changes.
    [api_call_id] = {str(info["api_call_id"]) for _, info in store.batches(cid)}

    def polled() -> list[dict[str, Any]]:
        return [
            event
            for event in log_events(worker_pool.logs(), "reconcile.applied")
            if event.get("source") == "poll" and str(event.get("api_call_id")) == api_call_id
        ]

    assert wait_while_progressing(polled, lambda: len(worker_pool.logs())), "no poll came"
    assert [(e["changed"], e["final"]) for e in polled()] == [(0, True)]
    assert snapshot(store, cid) == after_webhook
    assert_consistent(store, cid, 5)


IVR_SPEC = {
    "record": {"text": "Press 1 to confirm", "gender": 0},
    "dutyPhone": 1,
    "ivrs": [{"digit": 1, "webhookUrl": "@dispatcher", "webhookParameters": {"k": "v"}}],
}


def test_an_ivr_step_naming_the_dispatcher_reports_its_answer_to_the_campaigns_receiver(
    settings: Settings,
    store: StateStore,
    sandbox: Any,
    receiver: Receiver,
    worker_pool: WorkerPool,
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0)
    env = worker_env(settings, sandbox.url, provider_rate_per_s=30, **receiver.worker_settings())
    worker_pool.start(env, count=1, threads=4)
    cid = submit(settings, store, 6, batch_size=3, call=IVR_SPEC).campaign_id
    assert cid is not None

    def answers() -> list[Any]:
        return [r.fields.get("iv") for r in store.iter_contacts(cid)]

    assert wait_for(lambda: all(answers()), 30), answers()
    assert answers() == [["1"]] * 6
    ivr = [d for d in receiver.gate.deliveries if isinstance(d.body, dict) and "call" in d.body]
    path = f"/webhooks/effebot/{webhook_token(WEBHOOK_SECRET, cid)}"
    assert {d.path for d in ivr} == {path}
    assert {d.status for d in ivr} == {200}
    # The step's parameters come back beside the answer, as the reference describes.
    assert sorted(
        (d.body["call"]["phone"], d.body["call"]["answer"], d.body["k"]) for d in ivr
    ) == [(phone, 1, "v") for phone in phones(6)]
    assert wait_until_finished(store, cid), store.counts(cid)
    assert assert_consistent(store, cid, 6) == {"completed": 6}


def test_without_a_receiver_the_placeholder_is_dropped_and_the_dials_go_out(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0)
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    cid = submit(settings, store, 6, batch_size=3, call=IVR_SPEC).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    assert assert_consistent(store, cid, 6) == {"completed": 6}
    stats = sandbox.stats()
    # "@dispatcher" is no URL: sent as is, the provider would refuse the create (422).
    assert stats["requests"]["/apiCalls/create"] == {"200": 2}
    assert stats["webhooks"]["sent"] == 0
    assert [r.fields.get("d") for r in store.iter_contacts(cid)] == [1] * 6
