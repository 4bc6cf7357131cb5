"""Retention: old finished and cancelled campaigns are removed whole; nothing active ever is."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.contacts import read_iterable
from dispatcher.errors import SubmissionPurged
from dispatcher.lifecycle import CampaignStatus
from dispatcher.producer import submit_campaign
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.retention import DAY_MS, cutoff_ms, purge_ended
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore, now_ms
from tests.fixtures.campaigns import SPEC, phones, submit, wait_until_finished
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from workers.context import WorkerContext
from workers.reconciler import retention_tick

OLD_MS = 40 * DAY_MS


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


def keys_of(client: redis.Redis, campaign_id: str) -> list[str]:
    """Every key whose name holds the campaign's id (a SCAN of the whole server)."""
    return sorted(k.decode() for k in client.scan_iter(match=f"*{campaign_id}*", count=1000))


def new_campaign(store: StateStore, n: int = 4, **spec: Any) -> str:
    report = submit_campaign(
        store,
        lambda *message: None,
        parse_spec({**SPEC, "batch_size": 2, **spec}),
        read_iterable(phones(n), "US"),
    )
    assert report.campaign_id is not None
    return report.campaign_id


def age(store: StateStore, campaign_id: str, created_ago_ms: int, ended_ago_ms: int) -> None:
    """Move a campaign's creation (its index score) and end back in time."""
    now = now_ms()
    store.client.zadd(store.keys.campaigns, {campaign_id: now - created_ago_ms})
    ended = now - ended_ago_ms
    store.set_meta(
        campaign_id, {"created_at": now - created_ago_ms, "finished_at": ended, "status_at": ended}
    )


def end(store: StateStore, campaign_id: str, state: str) -> None:
    """Every contact ends in `state` (finishing the campaign), and it leaves the active set."""
    if state == "cancelled":
        store.set_status(campaign_id, CampaignStatus.CANCELLED, [CampaignStatus.RUNNING])
    for batch_no, _ in store.batches(campaign_id):
        store.finish_batch(campaign_id, batch_no, state, "test", state, only_if="pending")
    store.deactivate(campaign_id)
    assert store.status(campaign_id).value in ("finished", "cancelled")


def test_the_cutoff_is_the_days_before_now() -> None:
    assert cutoff_ms(30, 100 * DAY_MS) == 70 * DAY_MS
    assert cutoff_ms(0.5, DAY_MS) == DAY_MS // 2
    with pytest.raises(ValueError, match="negative"):
        cutoff_ms(-1, 0)


def test_only_old_finished_and_cancelled_campaigns_go_and_a_dry_run_only_lists_them(
    store: StateStore, settings: Settings
) -> None:
    store.dnc_add(["+12025550143", "+12025550144"])
    old_finished = new_campaign(store)
    end(store, old_finished, "completed")
    age(store, old_finished, OLD_MS, OLD_MS)
    old_cancelled = new_campaign(store)
    end(store, old_cancelled, "cancelled")
    age(store, old_cancelled, OLD_MS, OLD_MS)
    recent = new_campaign(store)  # created long ago, ended yesterday
    end(store, recent, "completed")
    age(store, recent, OLD_MS, DAY_MS)
    still_active = new_campaign(store)  # finished, but calls still to poll: in the active set
    end(store, still_active, "completed")
    store.client.sadd(store.keys.active, still_active)
    age(store, still_active, OLD_MS, OLD_MS)
    running = new_campaign(store)
    age(store, running, OLD_MS, OLD_MS)
    paused = new_campaign(store)
    store.set_status(paused, CampaignStatus.PAUSED, [CampaignStatus.RUNNING])
    age(store, paused, OLD_MS, OLD_MS)
    scheduled = new_campaign(store, start_at="2099-01-01T00:00:00Z")
    assert store.status(scheduled) is CampaignStatus.SCHEDULED
    age(store, scheduled, OLD_MS, OLD_MS)
    draft = "draftcampaign0001"
    store.create_campaign(draft, "draft", "{}")
    age(store, draft, OLD_MS, OLD_MS)
    keep = [recent, still_active, running, paused, scheduled, draft]
    before = {cid: keys_of(store.client, cid) for cid in [old_finished, old_cancelled, *keep]}

    dry = purge_ended(store, 30, dry_run=True)
    assert sorted(c.campaign_id for c in dry.campaigns) == sorted([old_finished, old_cancelled])
    assert {c.status for c in dry.campaigns} == {"finished", "cancelled"}
    assert all(c.contacts == 4 for c in dry.campaigns)
    assert dry.keys_removed == 0
    assert {cid: keys_of(store.client, cid) for cid in before} == before

    report = purge_ended(store, 30)
    assert sorted(c.campaign_id for c in report.campaigns) == sorted([old_finished, old_cancelled])
    assert report.keys_removed == len(before[old_finished]) + len(before[old_cancelled])
    assert keys_of(store.client, old_finished) == []
    assert keys_of(store.client, old_cancelled) == []
    for cid in keep:
        assert keys_of(store.client, cid) == before[cid], cid
    assert set(store.list_campaigns()) == set(keep)
    assert sorted(store.dnc_iter()) == ["+12025550143", "+12025550144"]
    # Whatever their age, active campaigns survive even a purge of everything that ended.
    purge_ended(store, 0)
    assert set(store.list_campaigns()) == {still_active, running, paused, scheduled, draft}


def test_a_retried_submission_of_a_purged_campaign_is_refused_not_created_again(
    store: StateStore,
) -> None:
    spec = parse_spec({**SPEC, "batch_size": 2})

    def send() -> Any:
        return submit_campaign(
            store, lambda *m: None, spec, read_iterable(phones(4), "US"), idempotency_key="k-1"
        )

    first = send().campaign_id
    assert first is not None
    assert send().replayed
    end(store, first, "completed")
    assert len(purge_ended(store, 0).campaigns) == 1
    with pytest.raises(SubmissionPurged, match=f"campaign {first} ended and was removed"):
        send()
    assert store.list_campaigns() == []
    tombstone = next(store.client.scan_iter(match=f"{store.keys.prefix}:idem:*"))
    assert 0 < store.client.pttl(tombstone) <= 30 * DAY_MS


def test_the_reconciler_sweeps_at_most_once_per_interval_across_processes(
    store: StateStore, settings: Settings
) -> None:
    old = [new_campaign(store) for _ in range(3)]
    for cid in old:
        end(store, cid, "completed")
        age(store, cid, OLD_MS, OLD_MS)
    ctx = cast(WorkerContext, SimpleNamespace(settings=settings, store=store))
    assert retention_tick(ctx, "process-a") == 3
    again = new_campaign(store)
    end(store, again, "completed")
    age(store, again, OLD_MS, OLD_MS)
    assert retention_tick(ctx, "process-b") == 0  # the turn was taken: next one in an hour
    store.client.delete(store.keys.retention_lease)
    assert retention_tick(ctx, "process-b") == 1
    off = cast(
        WorkerContext,
        SimpleNamespace(settings=settings.model_copy(update={"retention_days": 0}), store=store),
    )
    store.client.delete(store.keys.retention_lease)
    assert retention_tick(off, "process-c") == 0


def test_removing_a_campaign_costs_the_same_commands_at_4_and_at_400_contacts() -> None:
    with EmbeddedRedis(appendonly=True, appendfsync="everysec") as server:
        store = StateStore(redis.Redis.from_url(server.url), "cost")
        costs = []
        for size in (4, 4, 400):  # the first loads the scripts
            cid = new_campaign(store, size)
            end(store, cid, "completed")
            age(store, cid, OLD_MS, OLD_MS)
            before = int(store.client.info("stats")["total_commands_processed"])
            report = purge_ended(store, 30)
            costs.append(int(store.client.info("stats")["total_commands_processed"]) - before)
            assert [c.campaign_id for c in report.campaigns] == [cid]
            assert keys_of(store.client, cid) == []
        store.client.close()
    # Read, mark, one UNLINK per 1000 keys, then the meta and index entries in one transaction
    # (MULTI/EXEC counted), and the INFO that measures: per campaign, not per contact.
    assert costs[1] == costs[2], costs
    assert costs[1] <= 25, costs


def test_a_campaign_run_by_real_workers_leaves_no_key_after_purge(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url), count=1, threads=4)
    store.dnc_add(["+19895559999"])
    cid = submit(settings, store, 30, batch_size=5).campaign_id
    assert cid is not None
    assert wait_until_finished(store, cid), store.counts(cid)
    # Finished; the reconciler lets it go once nothing is left to poll or ask the provider.
    assert wait_for(lambda: cid not in store.active_campaigns(), 60)
    assert len(keys_of(store.client, cid)) > 10
    dnc = sorted(store.dnc_iter())  # and any number that pressed 2 (needBlock) in the campaign
    assert "+19895559999" in dnc
    env = {
        "DISPATCHER_REDIS_URL": str(settings.redis_url),
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    dry = runner.invoke(cli, ["purge", "--older-than", "0", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    listed = json.loads(dry.output)
    assert [c["id"] for c in listed["campaigns"]] == [cid]
    assert listed["removed"] == 0
    assert len(keys_of(store.client, cid)) > 10
    done = runner.invoke(cli, ["purge", "--older-than", "0", "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["removed"] == 1
    assert keys_of(store.client, cid) == []
    assert sorted(store.dnc_iter()) == dnc
    assert store.list_campaigns() == []
