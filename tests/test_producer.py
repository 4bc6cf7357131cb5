from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatcher.contacts import read_csv, read_iterable
from dispatcher.lifecycle import CampaignStatus
from dispatcher.producer import submit_campaign
from dispatcher.queue import make_broker, send
from dispatcher.settings import Settings
from dispatcher.spec import CampaignSpec, parse_spec
from dispatcher.store import StateStore
from dispatcher.store.keys import ACTOR_SEND_BATCH

SPEC = {
    "name": "t",
    "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
    "batch_size": 3,
}


class Outbox:
    """Collects what the producer enqueues (the enqueue callable it is given)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple[Any, ...], int | None]] = []

    def __call__(self, actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        self.messages.append((actor, args, delay_ms))


def _phones(n: int, start: int = 0) -> list[str]:
    return [f"+1 202 555 {1000 + i:04d}" for i in range(start, start + n)]


def test_accepted_contacts_become_one_message_per_batch(store: StateStore) -> None:
    outbox = Outbox()
    spec = parse_spec(SPEC)
    report = submit_campaign(store, outbox, spec, read_iterable(_phones(7), "US"))
    assert report.accepted == 7
    assert report.batches == 3
    assert report.status == "running"
    assert [m[1][:3] for m in outbox.messages] == [(report.campaign_id, n, 0) for n in (1, 2, 3)]
    assert all(m[0] == ACTOR_SEND_BATCH and m[2] is None for m in outbox.messages)
    assert report.campaign_id is not None
    assert store.counts(report.campaign_id) == {"pending": 7}
    # Each message carries the token its batch records: the one message meant to send it.
    for message in outbox.messages:
        batch_no, token = message[1][1], message[1][3]
        assert store.batch_status(report.campaign_id, batch_no)["msg"] == token
    # ... and every batch is indexed for the reconciler by when it should have been picked up.
    due = store.client.zrange(store.campaign_keys(report.campaign_id).batch_due, 0, -1)
    assert sorted(int(bn) for bn in due) == [1, 2, 3]


def test_messages_carry_ids_only(store: StateStore, settings: Settings) -> None:
    outbox = Outbox()
    submit_campaign(store, outbox, parse_spec(SPEC), read_iterable(_phones(2), "US"))
    for _, args, _ in outbox.messages:
        assert all(isinstance(a, str | int) for a in args)
        # no phone in any form (ids and tokens are random hex, which may well contain "202")
        assert not any("5551000" in str(a) or "5551001" in str(a) for a in args)


def test_report_counts_duplicates_rejections_and_blocked(store: StateStore) -> None:
    store.dnc_add(["12025551001"])
    rows = [*_phones(3), "202-555-1000", "not a phone", "", "+1 202 555 1002"]
    report = submit_campaign(store, Outbox(), parse_spec(SPEC), read_iterable(rows, "US"))
    assert (report.accepted, report.duplicates, report.blocked, report.rejected) == (2, 2, 1, 2)
    assert sorted(r["row"] for r in report.rejected_rows) == [5, 6]
    assert sum(report.rejected_by_reason.values()) == 2


def test_strict_refusal_leaves_nothing_behind(store: StateStore, redis_client: Any) -> None:
    outbox = Outbox()
    rows = [*_phones(5), "garbage"]
    report = submit_campaign(
        store, outbox, parse_spec(SPEC), read_iterable(rows, "US"), strict=True
    )
    assert report.campaign_id is None
    assert report.status == "refused"
    assert report.rejected_rows[0]["row"] == 6
    assert outbox.messages == []
    assert list(redis_client.scan_iter(match=f"{store.keys.prefix}:{{c:*")) == []
    assert store.list_campaigns() == []


def test_a_list_with_nothing_to_dial_is_refused(store: StateStore) -> None:
    outbox = Outbox()
    report = submit_campaign(store, outbox, parse_spec(SPEC), read_iterable(["x", "y"], "US"))
    assert report.campaign_id is None
    assert report.refused_because is not None
    assert outbox.messages == []


def test_a_reader_failing_midway_enqueues_nothing_and_cleans_up(store: StateStore) -> None:
    def rows() -> Iterator[str]:
        yield from _phones(2500)
        raise OSError("disk went away")

    outbox = Outbox()
    with pytest.raises(OSError, match="disk went away"):
        submit_campaign(store, outbox, parse_spec(SPEC), read_iterable(rows(), "US"))
    assert outbox.messages == []
    assert store.list_campaigns() == []


def test_a_future_start_is_scheduled_with_a_delay(store: StateStore) -> None:
    outbox = Outbox()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    spec = parse_spec({**SPEC, "start_at": (now + timedelta(hours=1)).isoformat()})
    report = submit_campaign(store, outbox, spec, read_iterable(_phones(1), "US"), now=now)
    assert report.status == CampaignStatus.SCHEDULED.value
    assert outbox.messages[0][2] == 3_600_000


def test_messages_reach_the_real_broker_queue(store: StateStore, settings: Settings) -> None:
    broker = make_broker(settings, store.client)

    def enqueue(actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        send(broker, settings.queue_name, actor, args, delay_ms)

    report = submit_campaign(store, enqueue, parse_spec(SPEC), read_iterable(_phones(6), "US"))
    queue_key = f"{broker.namespace}:{settings.queue_name}"
    assert store.client.llen(queue_key) == report.batches == 2


def test_submit_memory_stays_flat_with_the_list_length(store: StateStore, tmp_path: Any) -> None:
    def write(n: int) -> Any:
        path = tmp_path / f"c{n}.csv"
        with path.open("w") as fh:
            fh.write("phone,name\n")
            for i in range(n):
                fh.write(f"+1 202 {200 + i // 10000:03d} {i % 10000:04d},n{i}\n")
        return path

    peaks = []
    for n in (2_000, 16_000):
        path = write(n)
        spec = CampaignSpec.model_validate({**SPEC, "batch_size": 100})
        tracemalloc.start()
        report = submit_campaign(store, Outbox(), spec, read_csv(path, "US"))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert report.accepted + report.rejected == n
    # 8x the contacts may not cost anywhere near 8x the memory.
    assert peaks[1] < peaks[0] * 2


@pytest.mark.parametrize("delay_ms", [None, 60_000])
def test_enqueueing_many_writes_what_dramatiqs_own_enqueue_writes(
    settings: Settings, redis_client: Any, delay_ms: int | None
) -> None:
    """The pipelined `BrokerEnqueue.many` and dramatiq's `broker.enqueue` leave the same messages:
    the same fields, options and queue, each id on the queue with its payload stored."""
    import dramatiq

    from dispatcher.queue import make_enqueue, queue_for
    from dispatcher.store.keys import Keys

    namespace = Keys(settings.key_prefix).dramatiq_namespace
    queue = queue_for(settings.queue_name, ACTOR_SEND_BATCH) + (".DQ" if delay_ms else "")

    def written() -> list[dramatiq.Message[Any]]:
        ids = redis_client.lrange(f"{namespace}:{queue}", 0, -1)
        payloads = redis_client.hmget(f"{namespace}:{queue}.msgs", ids)
        assert None not in payloads
        redis_client.delete(f"{namespace}:{queue}", f"{namespace}:{queue}.msgs")
        messages = [dramatiq.Message.decode(p) for p in payloads]
        assert [m.options["redis_message_id"] for m in messages] == [i.decode() for i in ids]
        return messages

    args = [("camp", n, 0, f"tok{n}") for n in range(1, 2502)]
    make_enqueue(settings, redis_client).many(ACTOR_SEND_BATCH, args, delay_ms)
    ours = written()
    broker = make_broker(settings, redis_client)
    for one in args[:3]:
        send(broker, settings.queue_name, ACTOR_SEND_BATCH, one, delay_ms)
    theirs = written()

    def shape(m: dramatiq.Message[Any]) -> tuple[Any, ...]:
        return (m.queue_name, m.actor_name, m.args, m.kwargs, sorted(m.options))

    assert [shape(m) for m in ours[:3]] == [shape(m) for m in theirs]
    assert [m.args for m in ours] == args
    assert len({m.message_id for m in ours}) == len(args)
    if delay_ms:
        assert all(abs(m.options["eta"] - theirs[0].options["eta"]) < 30_000 for m in ours)
