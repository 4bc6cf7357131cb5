"""Is this Redis fit to hold promises? Its persistence, memory policy and replication.

DESIGN.md invariant 7: a Redis that would lose promises (no persistence, evicting keys) is refused
or reported, never trusted silently. `read_redis_health` is the one round of reads (INFO
persistence/memory/replication/server, CONFIG GET where allowed: managed services refuse CONFIG,
and INFO then answers for the memory policy); the `*_problem(s)` functions are pure and say what
is wrong in words an operator can act on, so `dispatcher doctor` reports them and a start-up check
can refuse on them. The queues, dead letters and workers are `fleet`'s to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from dispatcher.store.base import text, translate

__all__ = [
    "RedisHealth",
    "eviction_problem",
    "persistence_problems",
    "persistence_summary",
    "read_redis_health",
    "replication_problem",
    "trust_problems",
]


@dataclass(frozen=True, slots=True)
class RedisHealth:
    """What a Redis server says about itself (None: it would not say)."""

    version: str
    role: str
    aof_enabled: bool
    #: CONFIG GET save: "" when RDB snapshots are off; None when CONFIG is refused.
    rdb_save: str | None
    appendfsync: str | None
    aof_last_write_ok: bool
    rdb_last_bgsave_ok: bool
    loading: bool
    maxmemory_bytes: int
    maxmemory_policy: str
    connected_replicas: int
    replicas_online: int


def _config(client: redis.Redis, name: str) -> str | None:
    try:
        value = client.config_get(name).get(name)
    except redis.ResponseError:  # CONFIG is disabled or renamed (ElastiCache, Memorystore, ACLs)
        return None
    return None if value is None else text(value)


@translate
def read_redis_health(client: redis.Redis) -> RedisHealth:
    """One round of INFO and CONFIG reads; redis errors become `StateError`."""
    server: dict[str, Any] = client.info("server")
    persistence: dict[str, Any] = client.info("persistence")
    memory: dict[str, Any] = client.info("memory")
    replication: dict[str, Any] = client.info("replication")
    policy = _config(client, "maxmemory-policy") or str(memory.get("maxmemory_policy", "unknown"))
    replicas = [
        value
        for key, value in replication.items()
        if str(key).startswith("slave") and isinstance(value, dict)
    ]
    return RedisHealth(
        version=str(server.get("redis_version", "unknown")),
        role=str(replication.get("role", "unknown")),
        aof_enabled=bool(int(persistence.get("aof_enabled", 0))),
        rdb_save=_config(client, "save"),
        appendfsync=_config(client, "appendfsync"),
        aof_last_write_ok=str(persistence.get("aof_last_write_status", "ok")) == "ok",
        rdb_last_bgsave_ok=str(persistence.get("rdb_last_bgsave_status", "ok")) == "ok",
        loading=bool(int(persistence.get("loading", 0))),
        maxmemory_bytes=int(memory.get("maxmemory", 0)),
        maxmemory_policy=policy,
        connected_replicas=int(replication.get("connected_slaves", 0)),
        replicas_online=sum(1 for r in replicas if r.get("state") == "online"),
    )


def persistence_summary(health: RedisHealth) -> str:
    """How this Redis keeps data across a restart, in a few words."""
    parts = []
    if health.aof_enabled:
        parts.append(f"AOF (appendfsync {health.appendfsync or 'unknown'})")
    if health.rdb_save:
        parts.append(f"RDB snapshots (save {health.rdb_save})")
    elif health.rdb_save is None:
        parts.append("RDB unknown (CONFIG refused)")
    return ", ".join(parts) or "none"


def persistence_problems(health: RedisHealth) -> tuple[list[str], list[str]]:
    """(what loses promises, what weakens them): both empty for a Redis that keeps its writes."""
    fatal: list[str] = []
    weak: list[str] = []
    if not health.aof_enabled and health.rdb_save == "":
        fatal.append(
            'no persistence (appendonly no, save ""): a restart empties every campaign, claim '
            "and queue; turn appendonly on"
        )
    elif not health.aof_enabled:
        weak.append(
            "RDB snapshots only: a crash loses every write since the last snapshot, including "
            "claims of batches already sent; turn appendonly on"
        )
    if health.aof_enabled and not health.aof_last_write_ok:
        fatal.append("the last AOF write failed (aof_last_write_status): writes are not on disk")
    if health.rdb_save and not health.rdb_last_bgsave_ok:
        weak.append("the last RDB snapshot failed (rdb_last_bgsave_status)")
    if health.aof_enabled and health.appendfsync == "no":
        weak.append("appendfsync no: the OS decides when writes reach the disk")
    if health.loading:
        weak.append("Redis is still loading its data set")
    return fatal, weak


def eviction_problem(health: RedisHealth) -> str | None:
    """Why the memory policy could drop campaign state, or None for `noeviction`."""
    if health.maxmemory_policy == "noeviction":
        return None
    limit = (
        f"maxmemory {health.maxmemory_bytes} bytes"
        if health.maxmemory_bytes
        else "no maxmemory yet (the policy applies as soon as one is set)"
    )
    return (
        f"maxmemory-policy {health.maxmemory_policy} with {limit}: Redis may evict campaign "
        "state, claims and queued messages under memory pressure; use noeviction"
    )


def replication_problem(health: RedisHealth) -> str | None:
    """Why the replication role cannot hold the dispatcher's writes, or None."""
    if health.role in ("slave", "replica"):
        return "connected to a read-only replica: point DISPATCHER_REDIS_URL at the primary"
    return None


def trust_problems(health: RedisHealth, claim_durability: str) -> tuple[list[str], list[str]]:
    """(why a process must refuse this Redis, what it should only warn about), for the start-up
    checks and `/readyz`: no persistence, an evicting policy or a read-only replica refuse."""
    fatal, weak = persistence_problems(health)
    evicting = eviction_problem(health)
    if evicting:
        fatal.append(evicting)
    replica = replication_problem(health)
    if replica:
        fatal.append(replica)
    if claim_durability == "replica" and health.replicas_online == 0:
        weak.append(
            "DISPATCHER_CLAIM_DURABILITY=replica but no replica is connected and online: no "
            "claim can be confirmed on a replica until one is"
        )
    if claim_durability == "aof" and not health.aof_enabled:
        weak.append("DISPATCHER_CLAIM_DURABILITY=aof but appendonly is off")
    return fatal, weak
