"""Archiving: an ended campaign's contacts move into compressed buckets, atomically, and every
reader finds them as before."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.archive import archive_campaigns, archive_due_campaigns
from dispatcher.cli import cli
from dispatcher.contacts import read_iterable
from dispatcher.errors import StateError
from dispatcher.export import export_rows, write_csv, write_jsonl
from dispatcher.lifecycle import CampaignStatus
from dispatcher.producer import submit_campaign
from dispatcher.retention import purge_ended
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import ContactRecord, StateStore, now_ms
from dispatcher.store.archive_format import (
    ArchivedContact,
    bucket_count,
    bucket_of,
    decode_bucket,
    encode_bucket,
    find_in_bucket,
)
from tests.fixtures.campaigns import SPEC, phones, submit, wait_until_finished
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from workers.context import WorkerContext
from workers.reconciler import archive_tick

HOUR_MS = 3_600_000


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


def new_campaign(store: StateStore, n: int = 6, with_data: bool = True, **spec: Any) -> str:
    """A campaign of `n` contacts; every other one has data (names with a tab, a newline and
    non-ASCII letters, which the JSON must carry through the archive)."""
    rows: list[Any] = [
        {"phone": p, "name": f"Zoë\t{i}\nline", "ref": f"r{i}"} if with_data and i % 2 else p
        for i, p in enumerate(phones(n))
    ]
    report = submit_campaign(
        store,
        lambda *message: None,
        parse_spec({**SPEC, "batch_size": 2, **spec}),
        read_iterable(rows, "US"),
    )
    assert report.campaign_id is not None
    return report.campaign_id


def end(store: StateStore, campaign_id: str, ended_ago_ms: int = 2 * HOUR_MS) -> None:
    """Every contact ends (alternately completed and busy, with an IVR answer on some), the
    campaign finishes, leaves the active set, and is dated `ended_ago_ms` back."""
    for batch_no, _ in store.batches(campaign_id):
        state = "completed" if batch_no % 2 else "busy"
        store.finish_batch(campaign_id, batch_no, state, "test", state, only_if="pending")
    for phone in phones(6)[:2]:
        store.record_ivr_answer(campaign_id, phone, "yes, «2»\tplease")
    store.deactivate(campaign_id)
    assert store.status(campaign_id) is CampaignStatus.FINISHED
    ended = now_ms() - ended_ago_ms
    store.set_meta(campaign_id, {"finished_at": ended, "status_at": ended})
    store.client.zadd(store.keys.campaigns, {campaign_id: ended - 1000}, xx=True)  # created before


def snapshot(store: StateStore, campaign_id: str) -> dict[str, ContactRecord]:
    return {r.phone: r for r in store.iter_contacts(campaign_id)}


def exported(store: StateStore, campaign_id: str) -> tuple[list[str], list[str]]:
    out_csv, out_jsonl = io.StringIO(), io.StringIO()
    write_csv(export_rows(store, campaign_id), out_csv)
    write_jsonl(export_rows(store, campaign_id), out_jsonl)
    return sorted(out_csv.getvalue().splitlines()), sorted(out_jsonl.getvalue().splitlines())


def campaign_keys(client: redis.Redis, campaign_id: str) -> set[str]:
    return {k.decode().split("}:", 1)[1] for k in client.scan_iter(match=f"*{{c:{campaign_id}}}*")}


# --- the format (pure) ------------------------------------------------------------------------


def test_buckets_hold_about_a_thousand_contacts_and_a_phone_always_lands_in_the_same_one() -> None:
    assert bucket_count(0) == 1
    assert bucket_count(1000) == 1
    assert bucket_count(1001) == 2
    assert bucket_count(100_000) == 100
    assert bucket_of("12015550000", 100) == bucket_of("12015550000", 100)
    assert 0 <= bucket_of("12015550000", 7) < 7
    with pytest.raises(ValueError, match="at least 1"):
        bucket_of("1", 0)


def test_a_field_with_a_tab_or_a_newline_is_refused_not_garbled() -> None:
    with pytest.raises(ValueError, match="tab or a line break"):
        encode_bucket([ArchivedContact("1", '{"s":"a\tb"}', "")])
    with pytest.raises(ValueError, match="tab or a line break"):
        encode_bucket([ArchivedContact("1", "{}", '{"n":"a\nb"}')])


_json_text = st.dictionaries(
    st.text(max_size=5), st.text(max_size=20) | st.integers() | st.none(), max_size=4
).map(lambda d: json.dumps(d, ensure_ascii=False))


@given(
    st.dictionaries(
        st.text(alphabet="+0123456789", min_size=1, max_size=15),
        st.tuples(_json_text, _json_text | st.just("")),
        max_size=40,
    )
)
def test_a_bucket_decodes_to_exactly_what_was_encoded(
    contacts: dict[str, tuple[str, str]],
) -> None:
    items = [ArchivedContact(p, record, data) for p, (record, data) in contacts.items()]
    blob = encode_bucket(items)
    assert decode_bucket(blob) == sorted(items, key=lambda c: c.phone)
    for item in items:
        assert find_in_bucket(blob, item.phone) == item
    assert find_in_bucket(blob, "no-such-phone") is None
    if items:  # a phone that is a prefix of another is not mistaken for it
        assert find_in_bucket(blob, items[0].phone + "0") in (None, *items)


# --- archiving over Redis ----------------------------------------------------------------------


def test_every_reader_finds_an_archived_campaign_s_contacts_as_before(store: StateStore) -> None:
    cid = new_campaign(store, 2500)  # 3 buckets
    end(store, cid)
    before = snapshot(store, cid)
    one = store.contact(cid, phones(6)[1])
    csv_before, jsonl_before = exported(store, cid)
    counts, meta_before = store.counts(cid), store.meta(cid)

    report = archive_campaigns(store, 3600, [cid])

    [outcome] = report.campaigns
    assert (outcome.outcome, outcome.contacts, outcome.buckets) == ("archived", 2500, 3)
    assert 0 < outcome.archive_bytes < 2500 * 60
    assert snapshot(store, cid) == before
    assert len(list(store.iter_contacts(cid))) == 2500  # each contact once
    assert store.contact(cid, phones(6)[1]) == one
    assert one is not None
    assert one.data["name"] == "Zoë\t1\nline"
    assert all(store.contact(cid, p) == r for p, r in before.items())
    assert store.contact(cid, "19999999999") is None
    assert exported(store, cid) == (csv_before, jsonl_before)
    assert store.counts(cid) == counts
    meta = store.meta(cid)
    assert {k: v for k, v in meta.items() if not k.startswith("archive")} == meta_before
    assert meta["archive_buckets"] == "3"
    assert meta["archived_contacts"] == "2500"
    keys = campaign_keys(store.client, cid)
    assert "archive" in keys
    assert not keys & {"contacts", "data"}
    assert not any(k.startswith("bp:") for k in keys)
    # Archiving again changes nothing.
    assert archive_campaigns(store, 0, [cid]).campaigns[0].outcome == "archived_before"
    assert snapshot(store, cid) == before


def test_a_campaign_not_ended_too_recent_or_with_anything_open_is_left_live(
    store: StateStore,
) -> None:
    running = new_campaign(store)
    recent = new_campaign(store)
    end(store, recent, ended_ago_ms=60_000)
    active = new_campaign(store)
    end(store, active)
    store.client.sadd(store.keys.active, active)
    polled = new_campaign(store)
    end(store, polled)
    store.client.zadd(store.campaign_keys(polled).poll, {"123": now_ms()})
    before = {cid: snapshot(store, cid) for cid in (running, recent, active, polled)}

    report = archive_campaigns(store, 3600, list(before))

    outcomes = {c.campaign_id: (c.outcome, c.reason) for c in report.campaigns}
    assert outcomes[running] == ("not_ended", "")
    assert outcomes[recent] == ("too_recent", "")
    assert outcomes[active] == ("busy", "still in the active set")
    assert outcomes[polled] == ("busy", "calls still to poll")
    for cid, records in before.items():
        assert "archived_at" not in store.meta(cid)
        assert snapshot(store, cid) == records
    assert archive_campaigns(store, 3600, ["no-such-campaign"]).campaigns[0].outcome == "gone"


def test_a_write_while_the_contacts_are_read_aborts_the_archive_and_leaves_them_live(
    store: StateStore, redis_client: redis.Redis
) -> None:
    cid = new_campaign(store, 40)
    end(store, cid)
    other = redis.Redis(connection_pool=redis_client.connection_pool)
    original_hscan = redis.client.Pipeline.hscan
    wrote: list[str] = []

    def hscan_then_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        found = original_hscan(self, *args, **kwargs)
        if not wrote:  # another client records a late IVR answer mid-read
            wrote.append(store.record_ivr_answer(cid, phones(40)[3], "9"))
        return found

    redis.client.Pipeline.hscan = hscan_then_write  # type: ignore[method-assign]
    try:
        outcome = store.archive_campaign(cid, now_ms())
    finally:
        redis.client.Pipeline.hscan = original_hscan  # type: ignore[method-assign]
    other.close()
    assert wrote == ["recorded"]
    assert outcome.outcome == "changed"
    assert "archived_at" not in store.meta(cid)
    assert "archive" not in campaign_keys(store.client, cid)
    record = store.contact(cid, phones(40)[3])
    assert record is not None
    assert record.fields["iv"][-1] == "9"
    assert len(snapshot(store, cid)) == 40
    # The next try archives it, with the late answer.
    assert store.archive_campaign(cid, now_ms()).outcome == "archived"
    record = store.contact(cid, phones(40)[3])
    assert record is not None
    assert record.fields["iv"][-1] == "9"


def test_a_reader_streaming_the_live_contacts_holds_the_archive_off(store: StateStore) -> None:
    cid = new_campaign(store, 30)
    end(store, cid)
    stream = store.iter_contacts(cid, page=5)
    first = next(stream)
    assert store.archive_campaign(cid, now_ms()).outcome == "busy"
    rest = list(stream)
    assert len({first.phone, *(r.phone for r in rest)}) == 30
    # The finished stream let its lease go: the archive goes ahead.
    assert store.archive_campaign(cid, now_ms()).outcome == "archived"
    # A stream that stalled past its lease and finds the campaign archived stops loudly.
    live = new_campaign(store, 30)
    end(store, live)
    stalled = store.iter_contacts(live, page=5)
    next(stalled)
    reading = store.campaign_keys(live).reading
    store.client.zadd(reading, dict.fromkeys(store.client.zrange(reading, 0, -1), 1))  # lapsed
    assert store.archive_campaign(live, now_ms()).outcome == "archived"
    with pytest.raises(StateError, match="archived while its contacts were read"):
        list(stalled)


def test_the_reconciler_archives_after_the_grace_and_not_before(
    store: StateStore, settings: Settings
) -> None:
    cid = new_campaign(store)
    end(store, cid, ended_ago_ms=0)
    before = snapshot(store, cid)
    ctx = cast(WorkerContext, SimpleNamespace(settings=settings, store=store))
    assert settings.archive_after_s == 3600
    assert archive_tick(ctx) == 0  # left the active set just now: within the grace
    assert store.archive_due(now_ms(), 10) == [cid]
    off = settings.model_copy(update={"archive_enabled": False, "archive_after_s": 0})
    assert archive_tick(cast(WorkerContext, SimpleNamespace(settings=off, store=store))) == 0
    at_once = settings.model_copy(update={"archive_after_s": 0})
    assert archive_tick(cast(WorkerContext, SimpleNamespace(settings=at_once, store=store))) == 1
    assert "archived_at" in store.meta(cid)
    assert snapshot(store, cid) == before
    assert store.archive_due(now_ms(), 10) == []


def test_an_index_entry_not_archivable_yet_goes_to_the_back(store: StateStore) -> None:
    busy = new_campaign(store)
    end(store, busy)
    store.client.zadd(store.campaign_keys(busy).retry, {phones(1)[0]: now_ms()})
    store.client.zadd(store.keys.archive_due, {busy: 1})
    ready = new_campaign(store)
    end(store, ready)
    report = archive_due_campaigns(store, 0, limit=1, max_contacts=10)
    assert [(c.campaign_id, c.outcome) for c in report.campaigns] == [(busy, "busy")]
    report = archive_due_campaigns(store, 0, limit=1, max_contacts=10)
    assert [(c.campaign_id, c.outcome) for c in report.campaigns] == [(ready, "archived")]


def test_purge_removes_an_archived_campaign_whole(store: StateStore) -> None:
    cid = new_campaign(store)
    end(store, cid, ended_ago_ms=40 * 24 * HOUR_MS)
    store.client.zadd(store.keys.campaigns, {cid: now_ms() - 40 * 24 * HOUR_MS})
    assert archive_campaigns(store, 0, [cid]).campaigns[0].outcome == "archived"
    assert "archive" in campaign_keys(store.client, cid)
    assert [c.campaign_id for c in purge_ended(store, 30).campaigns] == [cid]
    assert campaign_keys(store.client, cid) == set()
    assert store.client.zscore(store.keys.archive_due, cid) is None


def test_an_ivr_answer_for_an_archived_campaign_is_not_recorded_and_says_so(
    store: StateStore,
) -> None:
    cid = new_campaign(store)
    end(store, cid)
    archive_campaigns(store, 0, [cid])
    before = snapshot(store, cid)
    assert store.record_ivr_answer(cid, phones(6)[0], "1") == "archived"
    assert snapshot(store, cid) == before
    assert "contacts" not in campaign_keys(store.client, cid)


def test_the_cli_archives_with_a_dry_run_first(store: StateStore, settings: Settings) -> None:
    ended = new_campaign(store)
    end(store, ended)
    running = new_campaign(store)
    before = snapshot(store, ended)
    env = {"DISPATCHER_REDIS_URL": settings.redis_url, "DISPATCHER_KEY_PREFIX": settings.key_prefix}
    runner = CliRunner()

    dry = runner.invoke(cli, ["archive", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    body = json.loads(dry.stdout)
    assert [(c["id"], c["outcome"]) for c in body["campaigns"]] == [(ended, "would_archive")]
    assert body["archived"] == 0
    assert "archived_at" not in store.meta(ended)

    one = runner.invoke(cli, ["archive", running, "--after", "0"], env=env)
    assert one.exit_code == 0, one.output
    assert "not_ended" in one.stdout

    real = runner.invoke(cli, ["archive", "--json"], env=env)
    assert real.exit_code == 0, real.output
    body = json.loads(real.stdout)
    assert [(c["id"], c["outcome"]) for c in body["campaigns"]] == [(ended, "archived")]
    assert body["archived"] == 1
    assert body["contacts"] == 6
    assert snapshot(store, ended) == before

    gone = runner.invoke(cli, ["archive", "nope"], env=env)
    assert gone.exit_code == 1
    assert "no campaign 'nope'" in gone.output


def test_real_workers_archive_a_finished_campaign_once_it_leaves_the_active_set(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, archive_after_s=0), count=1, threads=4)
    cid = submit(settings, store, 30, batch_size=5).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    assert wait_for(lambda: "archived_at" in store.meta(cid), 60)
    records = list(store.iter_contacts(cid))
    assert len(records) == 30
    assert {r.state for r in records} <= {"completed", "no_answer", "busy", "failed", "invalid"}
    assert sum(store.counts(cid).values()) == 30
    assert not campaign_keys(store.client, cid) & {"contacts", "data"}
