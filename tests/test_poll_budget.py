"""A poll spends the provider's budget only on calls that are due, and fills each `get`.

Against the real Redis and the sandbox over HTTP, with the poll actor's body run in this process:
the pacer's key for the provider account (its theoretical arrival time moves with every
reservation) and the sandbox's own request counts say what a poll cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dispatcher.contacts import read_iterable
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.transport import make_http_client
from dispatcher.pacing import GlobalPacer
from dispatcher.producer import submit_campaign
from dispatcher.queue import make_broker, make_enqueue
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore, now_ms
from workers.batches import send_batch
from workers.context import WorkerContext
from workers.limits import provider_limit
from workers.polling import ensure_poll, poll_campaign

SPEC: dict[str, Any] = {
    "name": "poll-budget",
    "call": {"dutyPhone": 1, "record": {"text": "Hello", "gender": 0}},
    "batch_size": 1,
}


@pytest.fixture
def ctx(settings: Settings, redis_client: redis.Redis, sandbox: Any) -> Iterator[WorkerContext]:
    """A worker's context in this process: the sandbox as provider, nothing consuming messages."""
    worker_settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{
            **settings.model_dump(),
            "effebot_base_url": sandbox.url,
            "effebot_api_key": SANDBOX_API_KEY,
            "provider_rate_per_s": 100.0,
        },
    )
    http = make_http_client(worker_settings)
    yield WorkerContext(
        settings=worker_settings,
        store=StateStore(redis_client, settings.key_prefix),
        client=EffebotClient.from_settings(worker_settings, http),
        pacer=GlobalPacer(redis_client, settings.key_prefix),
        broker=make_broker(worker_settings, redis_client),
    )
    http.close()


def submitted(ctx: WorkerContext, count: int, **spec: Any) -> str:
    phones = [f"+1202555{i:04d}" for i in range(count)]
    report = submit_campaign(
        ctx.store,
        make_enqueue(ctx.settings, ctx.store.client),
        parse_spec({**SPEC, **spec}),
        read_iterable(phones, "US"),
    )
    assert report.campaign_id is not None
    return report.campaign_id


def pace_mark(ctx: WorkerContext) -> bytes | None:
    """The provider account's pacing state: it changes with every reservation."""
    value = ctx.store.client.get(ctx.pacer.key(provider_limit(ctx.settings).key))
    return value if value is None else bytes(value)


def gets(sandbox: Any) -> int:
    return sum(sandbox.stats()["requests"].get("/apiCalls/get", {}).values())


def sent_calls(ctx: WorkerContext, cid: str, count: int) -> list[str]:
    for batch_no in range(1, count + 1):
        send_batch(ctx, cid, batch_no)
    return [call_id for call_id, _ in ctx.store.poll_entries(cid)]


def test_a_campaign_with_nothing_due_reserves_no_request(ctx: WorkerContext, sandbox: Any) -> None:
    cid = submitted(ctx, 3)
    calls = sent_calls(ctx, cid, 3)
    assert len(calls) == 3
    later = now_ms() + 3_600_000
    for call_id in calls:
        ctx.store.reschedule_call(cid, call_id, later)  # in progress, next due in an hour
    ctx.store.client.zadd(ctx.store.campaign_keys(cid).retry, {"+12025550000": later})
    sandbox.reset()
    before = pace_mark(ctx)
    for _ in range(5):
        poll_campaign(ctx, cid)
    assert pace_mark(ctx) == before
    assert gets(sandbox) == 0
    assert {c for c, _ in ctx.store.poll_entries(cid)} == set(calls)  # nothing claimed


def test_one_get_carries_the_due_calls_and_those_due_soon(ctx: WorkerContext, sandbox: Any) -> None:
    cid = submitted(ctx, 6)
    calls = sent_calls(ctx, cid, 6)
    now = now_ms()
    fill_ms = int(ctx.settings.poll_coalesce_s * 1000)
    due_now, due_soon, due_later = calls[:2], calls[2:4], calls[4:]
    for call_id in due_now:
        ctx.store.reschedule_call(cid, call_id, now - 1)
    for call_id in due_soon:
        ctx.store.reschedule_call(cid, call_id, now + fill_ms // 2)
    for call_id in due_later:
        ctx.store.reschedule_call(cid, call_id, now + fill_ms * 10 + 60_000)
    sandbox.reset()
    poll_campaign(ctx, cid)
    stats = sandbox.stats()
    assert gets(sandbox) == 1
    assert stats["get_ids"] == 4
    after = dict(ctx.store.poll_entries(cid))
    for call_id in due_later:
        assert after[call_id] == now + fill_ms * 10 + 60_000  # untouched


def test_a_sooner_poll_supersedes_the_scheduled_one(ctx: WorkerContext) -> None:
    cid = submitted(ctx, 1)
    tick = ctx.store.campaign_keys(cid).tick
    now = now_ms()
    assert ensure_poll(ctx, cid, now + 30_000)
    assert not ensure_poll(ctx, cid, now + 40_000)  # one as soon is scheduled
    assert ensure_poll(ctx, cid, now + 1_000)  # sooner: a new message
    marked = int(ctx.store.client.get(tick) or 0)
    assert now + 900 <= marked <= now + 2_000
    # The superseded message finds the marker changed and does nothing (the marker stays).
    assert not ctx.store.take_tick(cid, now + 30_000)
    assert ctx.store.client.exists(tick)
    # The scheduled one acts and clears it; a message from before due times always acts.
    assert ctx.store.take_tick(cid, marked)
    assert not ctx.store.client.exists(tick)
    assert ctx.store.take_tick(cid, 0)


def test_a_poll_message_caps_its_delay(ctx: WorkerContext) -> None:
    cid = submitted(ctx, 1)
    now = now_ms()
    assert ensure_poll(ctx, cid, now + 10 * 3_600_000)
    marked = int(ctx.store.client.get(ctx.store.campaign_keys(cid).tick) or 0)
    assert marked <= now_ms() + int(ctx.settings.poll_tick_max_s * 1000)
