"""`dispatcher doctor` against a healthy and a broken set-up: a real Redis and the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from dispatcher.cli import cli
from dispatcher.doctor import Finding, healthy
from dispatcher.doctor.storage import queue_findings, redis_findings
from dispatcher.redis_server import EmbeddedRedis, free_port
from dispatcher.settings import SANDBOX_API_KEY
from dispatcher.store.fleet import FleetSnapshot, QueueDepth
from dispatcher.store.health import (
    eviction_problem,
    persistence_problems,
    read_redis_health,
)
from tests.fixtures.health import SAFE_REDIS

# --- pure findings ---------------------------------------------------------------------------


def test_a_redis_with_aof_and_noeviction_has_no_problem() -> None:
    assert persistence_problems(SAFE_REDIS) == ([], [])
    assert eviction_problem(SAFE_REDIS) is None
    assert healthy(redis_findings(SAFE_REDIS))


def test_a_redis_without_persistence_loses_promises() -> None:
    fatal, _ = persistence_problems(replace(SAFE_REDIS, aof_enabled=False, rdb_save=""))
    assert "no persistence" in fatal[0]
    assert not healthy(redis_findings(replace(SAFE_REDIS, aof_enabled=False, rdb_save="")))


def test_rdb_only_is_a_warning_not_a_failure() -> None:
    health = replace(SAFE_REDIS, aof_enabled=False, rdb_save="3600 1 300 100")
    fatal, weak = persistence_problems(health)
    assert fatal == []
    assert "RDB snapshots only" in weak[0]
    [persistence] = [f for f in redis_findings(health) if f.check == "persistence"]
    assert persistence.status == "warn"


@pytest.mark.parametrize(
    "policy", ["allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"]
)
def test_an_evicting_memory_policy_is_a_failure(policy: str) -> None:
    health = replace(SAFE_REDIS, maxmemory_policy=policy, maxmemory_bytes=1 << 30)
    problem = eviction_problem(health)
    assert problem is not None
    assert policy in problem
    assert "noeviction" in problem
    assert not healthy(redis_findings(health))


def test_a_replica_cannot_hold_the_dispatchers_writes() -> None:
    [server, *_] = redis_findings(replace(SAFE_REDIS, role="slave"))
    assert server.status == "fail"
    assert "replica" in server.detail


def test_dead_letters_and_no_worker_are_warnings() -> None:
    queues = (QueueDepth("q", 1, 2, 4), QueueDepth("q-poll", 0, 0, 0))
    rows = queue_findings(FleetSnapshot(queues, 0, 0, 0, None, None))
    by_check = {row.check: row for row in rows}
    assert by_check["queue q"].detail == "1 ready, 2 delayed"
    assert by_check["dead letters"].status == "warn"
    assert "4 in q.XQ" in by_check["dead letters"].detail
    assert by_check["workers"].status == "warn"
    assert healthy(rows)


def test_a_failure_makes_a_set_up_unhealthy_and_a_warning_does_not() -> None:
    assert healthy([Finding("a", "ok", ""), Finding("b", "warn", ""), Finding("c", "skip", "")])
    assert not healthy([Finding("a", "ok", ""), Finding("b", "fail", "")])


# --- reading a real Redis ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def durable_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own with AOF on (the shared one has no persistence)."""
    with EmbeddedRedis(appendonly=True) as server:
        yield server


def test_the_health_of_a_real_redis_is_read(durable_redis: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(durable_redis.url)
    health = read_redis_health(client)
    assert health.aof_enabled
    assert health.rdb_save == ""
    assert health.appendfsync == "always"
    assert health.maxmemory_policy == "noeviction"
    assert health.role == "master"
    assert health.version.count(".") == 2
    client.close()


def test_the_doctor_reads_the_deployments_queues(
    durable_redis: EmbeddedRedis, key_prefix: str, sandbox: Any
) -> None:
    client = redis.Redis.from_url(durable_redis.url)
    ns = f"{key_prefix}-dramatiq"
    client.rpush(f"{ns}:{key_prefix}", "m1", "m2")
    client.rpush(f"{ns}:{key_prefix}-poll.DQ", "m3")
    client.close()
    found = rows(doctor(durable_redis.url, key_prefix, "--json", **provider_env(sandbox)))
    assert found[f"queue {key_prefix}"]["detail"] == "2 ready, 0 delayed"
    assert found[f"queue {key_prefix}-poll"]["detail"] == "0 ready, 1 delayed"


# --- the command -------------------------------------------------------------------------------


def doctor(redis_url: str, prefix: str, *args: str, **env: str) -> Result:
    values = {
        "DISPATCHER_REDIS_URL": redis_url,
        "DISPATCHER_KEY_PREFIX": prefix,
        "DISPATCHER_QUEUE_NAME": prefix,
        "DISPATCHER_LOG_LEVEL": "ERROR",
        **env,
    }
    return CliRunner().invoke(cli, ["doctor", *args], env=values, catch_exceptions=False)


def rows(result: Result) -> dict[str, Any]:
    body = json.loads(result.stdout)
    return {check["check"]: check for check in body["checks"]}


def provider_env(sandbox: Any, **extra: str) -> dict[str, str]:
    return {
        "DISPATCHER_EFFEBOT_BASE_URL": sandbox.url,
        "DISPATCHER_EFFEBOT_API_KEY": SANDBOX_API_KEY,
        **extra,
    }


def test_a_healthy_set_up_passes_every_check(
    durable_redis: EmbeddedRedis, sandbox: Any, key_prefix: str
) -> None:
    result = doctor(durable_redis.url, key_prefix, **provider_env(sandbox))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("healthy")
    as_json = doctor(durable_redis.url, key_prefix, "--json", **provider_env(sandbox))
    assert as_json.exit_code == 0
    found = rows(as_json)
    assert json.loads(as_json.stdout)["healthy"] is True
    for check in (
        "redis", "persistence", "memory policy", "replication", f"queue {key_prefix}",
        f"queue {key_prefix}-poll", "dead letters", "API key", "balance", "caller numbers",
        "languages", "template list", "template create",
    ):  # fmt: skip
        assert found[check]["status"] == "ok", found[check]
    assert found["workers"]["status"] == "warn"  # none runs in this test
    assert "99999999997" in found["caller numbers"]["detail"]
    assert "18005550100" in found["caller numbers"]["detail"]
    assert "en-US" in found["languages"]["detail"]
    assert found["balance"]["detail"] == "1000"
    assert sandbox.stats()["creates_per_phone"] == {}, "doctor never creates anything"


def test_a_wrong_api_key_fails_and_skips_the_other_provider_checks(
    durable_redis: EmbeddedRedis, sandbox: Any, key_prefix: str
) -> None:
    env = provider_env(sandbox, DISPATCHER_EFFEBOT_API_KEY="not-the-key")
    result = doctor(durable_redis.url, key_prefix, "--json", **env)
    assert result.exit_code == 1
    found = rows(result)
    assert found["API key"]["status"] == "fail"
    assert "refused the key" in found["API key"]["detail"]
    assert "not-the-key" not in result.output
    assert found["caller numbers"]["status"] == "skip"
    assert found["persistence"]["status"] == "ok"
    table = doctor(durable_redis.url, key_prefix, **env)
    assert "API key" in table.output
    assert "FAIL" in table.output
    assert table.output.strip().endswith("NOT healthy: fix the FAIL lines above")


@pytest.mark.parametrize(
    ("setting", "check"),
    [
        ("DISPATCHER_TEMPLATE_CREATE_PATH", "template create"),
        ("DISPATCHER_TEMPLATE_LIST_PATH", "template list"),
    ],
)
def test_a_missing_template_endpoint_fails_naming_its_setting(
    durable_redis: EmbeddedRedis, sandbox: Any, key_prefix: str, setting: str, check: str
) -> None:
    env = provider_env(sandbox, **{setting: "apiCalls/noSuchEndpoint"})
    result = doctor(durable_redis.url, key_prefix, "--json", **env)
    assert result.exit_code == 1
    found = rows(result)
    assert found[check]["status"] == "fail"
    assert setting in found[check]["detail"]
    assert found["API key"]["status"] == "ok"


def test_a_low_balance_and_a_post_only_language_endpoint(
    durable_redis: EmbeddedRedis, sandbox: Any, key_prefix: str
) -> None:
    sandbox.configure(languages_methods=["POST"], balance=5.0)
    env = provider_env(sandbox, DISPATCHER_MIN_BALANCE="10")
    found = rows(doctor(durable_redis.url, key_prefix, "--json", **env))
    assert found["balance"]["status"] == "fail"
    assert "DISPATCHER_MIN_BALANCE" in found["balance"]["detail"]
    assert found["languages"]["status"] == "ok"
    assert "(over POST)" in found["languages"]["detail"]


def test_a_redis_without_persistence_and_with_dead_letters_is_reported(
    key_prefix: str, sandbox: Any
) -> None:
    with EmbeddedRedis() as careless:  # no AOF, no RDB snapshots
        client = redis.Redis.from_url(careless.url)
        client.zadd(f"{key_prefix}-dramatiq:{key_prefix}.XQ", {"dead-1": 1, "dead-2": 2})
        client.close()
        result = doctor(careless.url, key_prefix, "--json", **provider_env(sandbox))
    assert result.exit_code == 1
    found = rows(result)
    assert found["persistence"]["status"] == "fail"
    assert "turn appendonly on" in found["persistence"]["detail"]
    assert found["dead letters"]["status"] == "warn"
    assert f"2 in {key_prefix}.XQ" in found["dead letters"]["detail"]


def test_an_unreachable_redis_fails_without_a_traceback(sandbox: Any, key_prefix: str) -> None:
    result = doctor(f"redis://127.0.0.1:{free_port()}/0", key_prefix, **provider_env(sandbox))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "redis" in result.output
    assert "cannot read" in result.output
