"""A Redis that would lose promises is refused at start; one that lost its data is detected.

DESIGN.md invariant 7. Each test starts redis-servers of its own (the shared one may or may not
have persistence), and sets `allow_unsafe_redis` explicitly.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner

from dispatcher.api import create_app
from dispatcher.cli import cli
from dispatcher.errors import RedisUntrusted
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.health import trust_problems
from dispatcher.store.trust import RedisTrust
from tests.api.conftest import ApiServer
from tests.fixtures.campaigns import log_events, submit
from tests.fixtures.health import SAFE_REDIS
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

PREFIX = "trust"


# --- what is refused, what is warned about (pure) -----------------------------------------------


def test_a_redis_with_aof_and_noeviction_is_trusted() -> None:
    assert trust_problems(SAFE_REDIS, "none") == ([], [])


def test_no_persistence_at_all_is_refused() -> None:
    fatal, _ = trust_problems(dataclasses.replace(SAFE_REDIS, aof_enabled=False), "none")
    assert len(fatal) == 1
    assert "no persistence" in fatal[0]


def test_rdb_snapshots_alone_are_only_warned_about() -> None:
    health = dataclasses.replace(SAFE_REDIS, aof_enabled=False, rdb_save="3600 1")
    fatal, weak = trust_problems(health, "none")
    assert fatal == []
    assert any("RDB snapshots only" in w for w in weak)


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "allkeys-random"])
def test_a_memory_policy_that_evicts_keys_is_refused(policy: str) -> None:
    fatal, _ = trust_problems(dataclasses.replace(SAFE_REDIS, maxmemory_policy=policy), "none")
    assert len(fatal) == 1
    assert policy in fatal[0]


def test_replica_durability_without_a_replica_is_warned_about_not_refused() -> None:
    fatal, weak = trust_problems(SAFE_REDIS, "replica")
    assert fatal == []
    assert any("no replica is connected" in w for w in weak)
    with_one = dataclasses.replace(SAFE_REDIS, connected_replicas=1, replicas_online=1)
    assert trust_problems(with_one, "replica") == ([], [])


# --- refusing at start ----------------------------------------------------------------------------


@pytest.fixture
def api() -> Iterator[ApiServer]:
    """uvicorn serving whichever app the test installs (`api.switch.app`)."""
    server = ApiServer().start()
    yield server
    server.stop()


def readyz(api: ApiServer) -> httpx.Response:
    return httpx.get(f"{api.url}/readyz", timeout=10)


@pytest.fixture
def careless() -> Iterator[EmbeddedRedis]:
    """No AOF, no RDB snapshots: a restart empties it."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(appendonly=True, appendfsync="everysec", data_dir=str(tmp_path)) as server:
        yield server


def settings_for(url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": url,
        "key_prefix": PREFIX,
        "queue_name": PREFIX,
        "allow_unsafe_redis": False,
        "log_format": "json",
        **changes,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_the_api_refuses_a_redis_without_persistence_unless_told_it_is_a_throwaway(
    careless: EmbeddedRedis, api: ApiServer
) -> None:
    with pytest.raises(RedisUntrusted, match=r"no persistence.*DISPATCHER_ALLOW_UNSAFE_REDIS"):
        create_app(settings_for(careless.url))
    api.switch.app = create_app(settings_for(careless.url, allow_unsafe_redis=True))
    assert readyz(api).status_code == 200


def test_the_api_refuses_an_evicting_redis(durable: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(durable.url)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.close()
    with pytest.raises(RedisUntrusted, match="allkeys-lru"):
        create_app(settings_for(durable.url))


def cli_env(url: str, **extra: str) -> dict[str, str]:
    return {
        "DISPATCHER_REDIS_URL": url,
        "DISPATCHER_KEY_PREFIX": PREFIX,
        "DISPATCHER_QUEUE_NAME": PREFIX,
        "DISPATCHER_LOG_LEVEL": "ERROR",
        "DISPATCHER_ALLOW_UNSAFE_REDIS": "false",
        **extra,
    }


def test_submit_and_serve_refuse_in_one_line_and_a_dry_run_does_not(
    careless: EmbeddedRedis, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text('{"name": "x", "call": {"dutyPhone": 1, "record": {"text": "Hi"}}}')
    contacts = tmp_path / "c.csv"
    contacts.write_text("phone\n+1 202 555 0143\n")
    runner = CliRunner()
    env = cli_env(careless.url)
    refused = runner.invoke(cli, ["submit", str(spec), str(contacts)], env=env)
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    last = refused.output.strip().splitlines()[-1]  # after the `redis.refused` log line
    assert last.startswith("Error: refusing this Redis: no persistence")
    assert redis.Redis.from_url(careless.url).dbsize() == 0  # nothing was written
    served = runner.invoke(cli, ["serve", "--port", "0"], env=env)
    assert served.exit_code == 1
    assert "refusing this Redis" in served.output
    dry = runner.invoke(cli, ["submit", str(spec), str(contacts), "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    allowed = runner.invoke(
        cli,
        ["submit", str(spec), str(contacts), "--json"],
        env={**env, "DISPATCHER_ALLOW_UNSAFE_REDIS": "true"},
    )
    assert allowed.exit_code == 0, allowed.output


def test_a_worker_process_refuses_to_start_on_a_redis_without_persistence(
    careless: EmbeddedRedis, worker_pool: WorkerPool, sandbox: Any
) -> None:
    settings = settings_for(careless.url)
    (worker,) = worker_pool.start(worker_env(settings, sandbox.url))
    assert worker.process is not None
    assert worker.process.wait(timeout=60) != 0
    assert "dispatcher worker: refusing this Redis: no persistence" in worker.log()
    assert any(e["event"] == "redis.refused" for e in log_events(worker.log()))


# --- the epoch marker -----------------------------------------------------------------------------


def trust_on(store: StateStore, role: str = "test") -> RedisTrust:
    trust = RedisTrust(store, role=role)
    trust.check_at_start()
    return trust


def test_a_fresh_install_writes_the_epoch_once_and_later_processes_share_it(
    durable: EmbeddedRedis,
) -> None:
    store = StateStore(redis.Redis.from_url(durable.url), PREFIX)
    first = trust_on(store)
    second = trust_on(store)
    assert first.epoch_id
    assert first.epoch_id == second.epoch_id
    epoch = store.read_epoch()
    assert epoch is not None
    assert not epoch.adopted
    assert first.verify() is None
    assert second.verify() is None


def test_data_left_by_a_version_without_the_marker_is_adopted_not_taken_for_a_loss(
    durable: EmbeddedRedis,
) -> None:
    store = StateStore(redis.Redis.from_url(durable.url), PREFIX)
    store.dnc_add(["+12025550143"])
    trust = trust_on(store)
    epoch = store.read_epoch()
    assert epoch is not None
    assert epoch.adopted
    assert trust.verify() is None


def test_a_flushed_redis_is_a_loss_every_process_sees_until_an_operator_resets_it(
    durable: EmbeddedRedis, tmp_path: Path
) -> None:
    store = StateStore(redis.Redis.from_url(durable.url), PREFIX)
    worker, api = trust_on(store, "worker"), trust_on(store, "api")
    store.client.flushall()
    reason = worker.verify()
    assert reason is not None
    assert "epoch marker is gone" in reason
    # Recorded in Redis: the other process, and any process started now, sees it too.
    assert api.verify() is not None
    with pytest.raises(RedisUntrusted, match="redis-reset --accept-data-loss"):
        trust_on(store, "late")
    # A process that started afresh on the empty Redis does not hide the loss either.
    store.client.flushall()
    fresh = trust_on(store, "fresh")
    changed = worker.verify()
    assert changed is not None
    assert "changed" in changed
    assert fresh.verify() is not None
    runner = CliRunner()
    doctor = runner.invoke(cli, ["doctor", "--json"], env=cli_env(durable.url))
    rows = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert rows["epoch"]["status"] == "fail"
    assert "data loss detected" in rows["epoch"]["detail"]
    # A submission is refused too (one-shot commands only read the marker, never write one);
    # restoring the do-not-call list is not.
    spec = tmp_path / "spec.json"
    spec.write_text('{"name": "x", "call": {"dutyPhone": 1, "record": {"text": "Hi"}}}')
    contacts = tmp_path / "c.csv"
    contacts.write_text("phone\n+1 202 555 0143\n")
    env = cli_env(durable.url)
    blocked = runner.invoke(cli, ["submit", str(spec), str(contacts)], env=env)
    assert blocked.exit_code == 1
    assert "Redis data loss detected" in blocked.output.strip().splitlines()[-1]
    restored = runner.invoke(cli, ["dnc", "add", "+12025550143"], env=env)
    assert restored.exit_code == 0, restored.output
    refused = runner.invoke(cli, ["redis-reset"], env=cli_env(durable.url))
    assert refused.exit_code == 2
    reset = runner.invoke(
        cli, ["redis-reset", "--accept-data-loss", "--json"], env=cli_env(durable.url)
    )
    assert reset.exit_code == 0, reset.output
    # The running processes adopt the operator's new epoch without a restart.
    assert worker.verify() is None
    assert api.verify() is None
    assert fresh.verify() is None
    assert worker.epoch_id == api.epoch_id == fresh.epoch_id
    trust_on(store, "after-reset")


# --- a Redis restarted empty under running processes --------------------------------------------


def test_a_redis_restarted_empty_under_running_workers_stops_every_dial(
    tmp_path: Path, sandbox: Any, worker_pool: WorkerPool, api: ApiServer
) -> None:
    data = tmp_path / "redis"
    data.mkdir()
    server = EmbeddedRedis(appendonly=True, appendfsync="everysec", data_dir=str(data)).start()
    try:
        settings = settings_for(server.url, batch_stale_after_s=1.0)
        store = StateStore(redis.Redis.from_url(server.url), PREFIX)
        api.switch.app = create_app(
            settings, store=StateStore(redis.Redis.from_url(server.url), PREFIX)
        )
        assert readyz(api).status_code == 200
        env = worker_env(settings, sandbox.url, batch_stale_after_s=1.0)
        worker_pool.start(env, count=2, threads=2)
        before = submit(settings, store, 20, batch_size=5).campaign_id
        assert before is not None
        assert wait_for(lambda: store.status(before).value == "finished", 120)
        created = sum(sandbox.stats()["creates_per_phone"].values())
        assert created == 20

        # Redis comes back with nothing: its files are gone (a new volume, a wiped disk).
        server.stop()
        shutil.rmtree(data)
        data.mkdir()
        server.start()

        ready = readyz(api)
        assert ready.status_code == 503
        assert "epoch marker is gone" in ready.json()["message"]
        # A producer that checks nothing writes a campaign onto the empty Redis: the workers
        # that remember the old epoch hold every batch of it.
        after = submit(settings, store, 10, batch_size=5).campaign_id
        assert after is not None

        def held() -> int:
            return sum(
                1
                for e in log_events(worker_pool.logs(), "batch.held")
                if e.get("reason") == "redis data lost" and e.get("campaign_id") == after
            )

        assert wait_for(lambda: held() >= 2, 60), worker_pool.logs()[-3000:]
        assert sum(sandbox.stats()["creates_per_phone"].values()) == created
        assert store.counts(after) == {"pending": 10}
        lost = list(log_events(worker_pool.logs(), "redis.data_lost"))
        assert lost
        assert all(e["role"] == "worker" for e in lost)
        assert "redis-reset --accept-data-loss" in lost[0]["hint"]

        # The operator accepts the loss: the same workers dial again, without a restart.
        reset = CliRunner().invoke(
            cli, ["redis-reset", "--accept-data-loss"], env=cli_env(server.url)
        )
        assert reset.exit_code == 0, reset.output
        assert wait_for(lambda: store.status(after).value == "finished", 120), store.counts(after)
        assert sum(sandbox.stats()["creates_per_phone"].values()) == created + 10
        assert readyz(api).status_code == 200
    finally:
        worker_pool.kill_all()
        server.stop()
