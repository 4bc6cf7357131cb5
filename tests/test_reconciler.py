"""The reconciler drives every campaign from its state in Redis, whatever messages were lost.

Each rule of docs/reconciler.md is exercised by one sweep (`workers.reconciler.sweep`) over state
built the way the workers build it, against the real Redis and, where the provider is involved,
the sandbox over HTTP. Messages are read back from dramatiq's own keys in Redis.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis

from dispatcher.batch_messages import send_batches
from dispatcher.contacts import read_iterable
from dispatcher.controls import Controls
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.requests import CreateCallRequest
from dispatcher.effebot.transport import make_http_client
from dispatcher.errors import StateError
from dispatcher.lifecycle import CampaignStatus
from dispatcher.pacing import GlobalPacer
from dispatcher.producer import submit_campaign
from dispatcher.queue import BrokerEnqueue, make_broker, make_enqueue, send
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.spec import parse_spec
from dispatcher.store import CallView, StateStore, now_ms
from dispatcher.store.keys import ACTOR_CONTROL, ACTOR_SEND_BATCH, Keys
from workers.batches import send_batch
from workers.context import WorkerContext
from workers.control import _replan, control_campaign
from workers.reconciler import sweep

SPEC: dict[str, Any] = {
    "name": "reconciler",
    "call": {"dutyPhone": 1, "record": {"text": "Hello", "gender": 0}},
    "batch_size": 2,
}


def phones(n: int, first: int = 0) -> list[str]:
    return [f"+1202555{i:04d}" for i in range(first, first + n)]


def with_changes(settings: Settings, **changes: Any) -> Settings:
    return Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


@pytest.fixture
def ctx(
    settings: Settings, store: StateStore, redis_client: redis.Redis, sandbox: Any
) -> Iterator[WorkerContext]:
    """A worker's context in this process: the sandbox as provider, nothing consuming messages."""
    worker_settings = with_changes(
        settings,
        effebot_base_url=sandbox.url,
        effebot_api_key=SANDBOX_API_KEY,
        batch_stale_after_s=1.0,
        provider_rate_per_s=100.0,
    )
    http = make_http_client(worker_settings)
    yield WorkerContext(
        settings=worker_settings,
        store=store,
        client=EffebotClient.from_settings(worker_settings, http),
        pacer=GlobalPacer(redis_client, settings.key_prefix),
        broker=make_broker(worker_settings, redis_client),
    )
    http.close()


def queued(client: redis.Redis, settings: Settings, actor: str) -> list[list[Any]]:
    """The args of every message for `actor` that dramatiq holds (queued or delayed)."""
    namespace = Keys(settings.key_prefix).dramatiq_namespace
    out = []
    for queue in (settings.queue_name, f"{settings.queue_name}-poll"):
        for suffix in (".msgs", ".DQ.msgs"):
            for payload in client.hvals(f"{namespace}:{queue}{suffix}"):
                message = json.loads(payload)
                if message["actor_name"] == actor:
                    out.append(message["args"])
    return out


def drop_queues(client: redis.Redis, settings: Settings) -> None:
    """Lose every message: what a Redis restarted from an old snapshot does to the queues."""
    namespace = Keys(settings.key_prefix).dramatiq_namespace
    for key in client.scan_iter(match=f"{namespace}:*"):
        client.delete(key)


def submitted(ctx: WorkerContext, n: int, **spec: Any) -> str:
    report = submit_campaign(
        ctx.store,
        make_enqueue(ctx.settings, ctx.store.client),
        parse_spec({**SPEC, **spec}),
        read_iterable(phones(n), "US"),
    )
    assert report.campaign_id is not None
    return report.campaign_id


def age_index(store: StateStore, campaign_id: str, key: str, by_ms: int = 60_000) -> None:
    """Make every entry of an index look `by_ms` older (instead of sleeping past the grace)."""
    name = getattr(store.campaign_keys(campaign_id), key)
    for member, score in store.client.zrange(name, 0, -1, withscores=True):
        store.client.zadd(name, {member: int(score) - by_ms})


def test_a_pending_batch_whose_message_was_lost_is_sent_again(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 4)
    assert len(queued(redis_client, settings, ACTOR_SEND_BATCH)) == 2
    drop_queues(redis_client, settings)
    age_index(ctx.store, cid, "batch_due")
    report = sweep(ctx)
    assert report.resent == 2
    messages = queued(redis_client, settings, ACTOR_SEND_BATCH)
    assert sorted(m[1] for m in messages) == [1, 2]
    # Each new message carries the token its batch now records.
    for message in messages:
        assert ctx.store.batch_status(cid, message[1])["msg"] == message[3]
    # Sent again at most once: the next sweep finds the batches picked up in time.
    assert sweep(ctx).resent == 0


def test_a_batch_still_queued_behind_a_backlog_is_given_longer_not_sent_twice(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 4)
    age_index(ctx.store, cid, "batch_due")
    report = sweep(ctx)
    assert (report.resent, report.given_longer) == (0, 2)
    assert len(queued(redis_client, settings, ACTOR_SEND_BATCH)) == 2
    # It is looked at again later, not at every sweep.
    assert sweep(ctx).given_longer == 0


def test_a_dead_lettered_batch_message_does_not_strand_its_batch(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 2)
    namespace = Keys(settings.key_prefix).dramatiq_namespace
    queue = f"{namespace}:{settings.queue_name}"
    # What dramatiq does after the last retry: the message moves to the dead-letter queue.
    for message_id, payload in redis_client.hgetall(f"{queue}.msgs").items():
        redis_client.hset(f"{queue}.XQ.msgs", message_id, payload)
        redis_client.zadd(f"{queue}.XQ", {message_id: now_ms()})
        redis_client.hdel(f"{queue}.msgs", message_id)
        redis_client.lrem(queue, 0, message_id)
    age_index(ctx.store, cid, "batch_due")
    assert sweep(ctx).resent == 1
    (message,) = queued(redis_client, settings, ACTOR_SEND_BATCH)
    assert message[:2] == [cid, 1]


def test_a_superseded_message_does_nothing(ctx: WorkerContext, sandbox: Any) -> None:
    cid = submitted(ctx, 2)
    old_token = ctx.store.batch_status(cid, 1)["msg"]
    send_batches(ctx.store, ctx.enqueue, cid, [1])  # the reconciler's replacement
    send_batch(ctx, cid, 1, 0, old_token)
    assert ctx.store.batch_status(cid, 1)["status"] == "pending"
    assert sandbox.stats()["creates_per_phone"] == {}
    send_batch(ctx, cid, 1, 0, ctx.store.batch_status(cid, 1)["msg"])
    assert ctx.store.batch_status(cid, 1)["status"] == "sent"
    assert sum(sandbox.stats()["creates_per_phone"].values()) == 2


def test_a_lease_that_ran_out_ends_its_batch_unknown_even_while_paused(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 2)
    claim = ctx.store.claim_batch(cid, 1, 1, "dead-worker")
    assert claim.outcome == "claimed"
    Controls(ctx.store, make_enqueue(settings, redis_client)).pause(cid)
    time.sleep(0.01)
    report = sweep(ctx)
    assert report.leases_expired == 1
    assert ctx.store.counts(cid) == {"unknown": 2}
    assert ctx.store.batch_status(cid, 1)["status"] == "unknown"
    # The paused campaign, all of whose contacts are now terminal, is finished.
    assert ctx.store.status(cid) is CampaignStatus.FINISHED


def test_a_live_lease_is_left_alone(ctx: WorkerContext) -> None:
    cid = submitted(ctx, 2)
    ctx.store.claim_batch(cid, 1, 60_000, "busy-worker")
    assert sweep(ctx).leases_expired == 0
    assert ctx.store.counts(cid) == {"sending": 2}


def test_a_late_success_is_recorded_and_its_outcome_replaces_unknown(ctx: WorkerContext) -> None:
    cid = submitted(ctx, 2)
    claim = ctx.store.claim_batch(cid, 1, 1, "slow-worker")
    time.sleep(0.01)
    sweep(ctx)
    assert ctx.store.counts(cid) == {"unknown": 2}
    assert ctx.store.status(cid) is CampaignStatus.FINISHED
    # The slow worker's create did succeed after all.
    sent = ctx.store.mark_sent(cid, 1, "slow-worker", "4242", claim.phones, now_ms())
    assert sent.late
    assert ctx.store.counts(cid) == {"unknown": 2}  # still terminal: the campaign stays finished
    record = ctx.store.contact(cid, claim.phones[0])
    assert record is not None
    assert record.fields["c"] == "4242"
    assert cid in ctx.store.active_campaigns()  # the call is polled
    updates = [(claim.phones[0], "completed", {"h": 16}), (claim.phones[1], "", {})]
    ctx.store.reconcile(cid, "4242", updates, now_ms() + 1000)
    assert ctx.store.counts(cid) == {"completed": 1, "unknown": 1}
    record = ctx.store.contact(cid, claim.phones[0])
    assert record is not None
    assert "r" not in record.fields
    # A late contact is never sent back to wait for a retry: the campaign may be over.
    ctx.store.reconcile(
        cid, "4242", [(claim.phones[1], "no_answer", {})], None, '{"no_answer":[3,1]}'
    )
    assert ctx.store.counts(cid) == {"completed": 1, "no_answer": 1}
    assert ctx.store.status(cid) is CampaignStatus.FINISHED


def test_a_cancelled_campaigns_pending_batches_end_cancelled(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 4)
    claim = ctx.store.claim_batch(cid, 1, 60_000, "w")
    Controls(ctx.store, make_enqueue(settings, redis_client)).cancel(cid)
    assert ctx.store.counts(cid) == {"sending": 2, "cancelled": 2}
    # A 429 after the cancel gives the claimed batch back: its contacts end cancelled at once.
    released = ctx.store.release_batch(cid, 1, "w", claim.phones, deadline_ms=now_ms())
    assert released == "cancelled"
    assert ctx.store.counts(cid) == {"cancelled": 4}
    assert ctx.store.status(cid) is CampaignStatus.CANCELLED


def test_a_pending_batch_of_a_cancelled_campaign_is_closed_by_the_sweep(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 2)
    # Cancelled by hand-written state (as if the cancel's own pass was cut short).
    ctx.store.set_status(cid, CampaignStatus.CANCELLED, [CampaignStatus.RUNNING])
    age_index(ctx.store, cid, "batch_due")
    assert sweep(ctx).cancelled_batches == 1
    assert ctx.store.counts(cid) == {"cancelled": 2}


def test_an_owed_provider_action_is_asked_for_again_until_settled(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 2)
    Controls(ctx.store, make_enqueue(settings, redis_client)).pause(cid)
    drop_queues(redis_client, settings)  # the park message is lost
    owed = ctx.store.owed(cid, "park")
    assert owed is not None
    report = sweep(ctx)
    assert report.owed_sent == 1
    assert [cid, "park"] in queued(redis_client, settings, ACTOR_CONTROL)
    # Not sent again while that message is on its way.
    assert sweep(ctx).owed_sent == 0
    # A resume replaces the park: nothing is owed but the unpark.
    Controls(ctx.store, make_enqueue(settings, redis_client)).resume(cid)
    assert ctx.store.owed(cid, "park") is None
    assert ctx.store.owed(cid, "unpark") is not None


def test_the_control_actor_settles_only_what_it_did(ctx: WorkerContext, sandbox: Any) -> None:
    cid = submitted(ctx, 2)
    Controls(ctx.store, ctx.enqueue).cancel(cid)
    sandbox.configure(error_rate=1.0)
    ctx.store.client.zadd(ctx.store.campaign_keys(cid).poll, {"999": now_ms()})
    ctx.store.client.hset(ctx.store.campaign_keys(cid).calls, "999", 1)
    control_campaign(ctx, cid, "cancel")
    owed = ctx.store.owed(cid, "cancel")
    assert owed is not None, "a remove the provider failed is still owed"
    assert owed.tries == 1
    assert owed.due_ms > now_ms()
    sandbox.configure(error_rate=0.0)
    control_campaign(ctx, cid, "cancel")
    assert ctx.store.owed(cid, "cancel") is None


def test_a_final_answer_that_leaves_a_contact_out_ends_it_unknown(ctx: WorkerContext) -> None:
    cid = submitted(ctx, 2)
    claim = ctx.store.claim_batch(cid, 1, 60_000, "w")
    ctx.store.mark_sent(cid, 1, "w", "77", claim.phones, now_ms())
    listed, left_out = claim.phones
    # A webhook's final answer is not the whole story: the call stays polled.
    result = ctx.store.reconcile_many(
        cid,
        [_view("77", [(listed, "completed", {})], final=True)],
        authoritative=False,
    )[0]
    assert result.left_out == 1
    assert ctx.store.counts(cid) == {"completed": 1, "sent": 1}
    assert ctx.store.next_poll_due_ms(cid) is not None
    # A `get` that says the same is: the left-out contact ends unknown, with a reason.
    result = ctx.store.reconcile_many(cid, [_view("77", [(listed, "completed", {})], final=True)])[
        0
    ]
    assert (result.left_out, result.finished) == (1, True)
    record = ctx.store.contact(cid, left_out)
    assert record is not None
    assert record.state == "unknown"
    assert "final without this number" in record.fields["r"]
    assert ctx.store.next_poll_due_ms(cid) is None


def _view(call_id: str, updates: list[tuple[str, str, dict[str, Any]]], final: bool) -> CallView:
    return CallView(call_id, updates, now_ms() + 1000, final)


def test_only_consecutive_misses_count(ctx: WorkerContext) -> None:
    cid = submitted(ctx, 2)
    claim = ctx.store.claim_batch(cid, 1, 60_000, "w")
    ctx.store.mark_sent(cid, 1, "w", "88", claim.phones, now_ms())
    assert [ctx.store.note_missing(cid, "88") for _ in range(3)] == [1, 2, 3]
    ctx.store.reconcile(cid, "88", [(p, "", {}) for p in claim.phones], now_ms() + 1000)
    assert ctx.store.note_missing(cid, "88") == 1


def test_a_lost_poll_is_armed_again(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 2)
    claim = ctx.store.claim_batch(cid, 1, 60_000, "w")
    ctx.store.mark_sent(cid, 1, "w", "55", claim.phones, now_ms())
    assert sweep(ctx).polls_armed == 1
    assert cid in [args[0] for args in queued(redis_client, settings, "poll_campaign")]
    assert sweep(ctx).polls_armed == 0  # its marker says one is scheduled


def test_replanning_trusts_only_the_ids_the_provider_lists(
    ctx: WorkerContext, sandbox: Any
) -> None:
    # A call planned for now starts at once: the provider will not move it.
    created = ctx.client.create(
        CreateCallRequest.model_validate(
            {"phones": ["12025550001"], "dutyPhone": 1, "record": {"text": "x", "gender": 0}}
        )
    )
    moved = _replan(ctx, [(1, str(created.id), datetime.now(UTC) + timedelta(days=30))])
    assert moved == set()


def test_a_shared_enqueue_loses_no_message_under_concurrent_submissions(
    settings: Settings, store: StateStore, redis_client: redis.Redis
) -> None:
    enqueue = BrokerEnqueue(settings, redis_client)
    ids: list[str] = []
    errors: list[BaseException] = []

    def submit(first: int) -> None:
        try:
            report = submit_campaign(
                store, enqueue, parse_spec(SPEC), read_iterable(phones(40, first), "US")
            )
            assert report.campaign_id is not None
            ids.append(report.campaign_id)
            for _ in range(20):  # single enqueues interleaved with the pipelined ones
                enqueue(ACTOR_CONTROL, (report.campaign_id, "park"), None)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i * 100,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    batches = {(m[0], m[1]) for m in queued(redis_client, settings, ACTOR_SEND_BATCH)}
    assert batches == {(cid, bn) for cid in ids for bn in range(1, 21)}
    assert len(queued(redis_client, settings, ACTOR_CONTROL)) == 8 * 20


def test_an_enqueue_that_meets_a_redis_error_raises_state_error(settings: Settings) -> None:
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    broker = make_broker(settings, gone)
    with pytest.raises(StateError):
        send(broker, settings.queue_name, ACTOR_SEND_BATCH, ("c", 1))
    with pytest.raises(StateError):
        BrokerEnqueue(settings, gone).many(ACTOR_SEND_BATCH, [("c", 1)], None)


def test_a_create_that_lands_after_a_cancel_records_the_remove_it_owes(
    ctx: WorkerContext, settings: Settings, redis_client: redis.Redis
) -> None:
    cid = submitted(ctx, 4)
    claim = ctx.store.claim_batch(cid, 1, 60_000, "w")
    controls = Controls(ctx.store, make_enqueue(settings, redis_client))
    controls.cancel(cid)
    owed = ctx.store.owed(cid, "cancel")
    assert owed is not None
    ctx.store.settle(cid, owed)  # the cancel's own removes are done...
    sent = ctx.store.mark_sent(cid, 1, "w", "31", claim.phones, now_ms())  # ...then this lands
    assert sent.campaign_status == "cancelled"
    assert ctx.store.owed(cid, "cancel") is not None, "the new call must be removed too"
