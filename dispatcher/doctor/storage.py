"""Redis's side of `dispatcher doctor`: the server, persistence, memory policy and the queues."""

from __future__ import annotations

import time

from dispatcher.doctor.findings import Finding
from dispatcher.store.epoch import Epoch
from dispatcher.store.fleet import FleetSnapshot
from dispatcher.store.health import (
    RedisHealth,
    eviction_problem,
    persistence_problems,
    persistence_summary,
    replication_problem,
)

__all__ = ["epoch_finding", "queue_findings", "redis_findings"]


def redis_findings(health: RedisHealth) -> list[Finding]:
    """The server, persistence, memory policy and replication rows (pure)."""
    replica = replication_problem(health)
    server = Finding(
        "redis",
        "fail" if replica else "ok",
        replica or f"{health.version} ({health.role})",
    )
    fatal, weak = persistence_problems(health)
    summary = persistence_summary(health)
    if fatal or weak:
        persistence = Finding(
            "persistence", "fail" if fatal else "warn", f"{summary}: {'; '.join(fatal + weak)}"
        )
    else:
        persistence = Finding("persistence", "ok", summary)
    evicting = eviction_problem(health)
    policy = Finding(
        "memory policy", "fail" if evicting else "ok", evicting or health.maxmemory_policy
    )
    replicas = (
        f"{health.replicas_online}/{health.connected_replicas} replica(s) online"
        if health.connected_replicas
        else "no replica: the data lives on this server only"
    )
    return [server, persistence, policy, Finding("replication", "ok", replicas)]


def queue_findings(fleet: FleetSnapshot) -> list[Finding]:
    """One row per queue, the dead letters, and the live workers (pure)."""
    rows = [
        Finding(f"queue {d.queue}", "ok", f"{d.ready} ready, {d.delayed} delayed")
        for d in fleet.queues
    ]
    dead = {d.queue: d.dead for d in fleet.queues if d.dead}
    if dead:
        where = ", ".join(f"{count} in {queue}.XQ" for queue, count in dead.items())
        rows.append(
            Finding(
                "dead letters",
                "warn",
                f"{where}: messages that failed for good (the watchdog still drives their "
                "campaigns); read them, then delete the .XQ keys",
            )
        )
    else:
        rows.append(Finding("dead letters", "ok", "none"))
    workers = fleet.workers_alive
    rows.append(
        Finding("workers", "ok", f"{workers} alive")
        if workers
        else Finding("workers", "warn", "no worker has sent a heartbeat lately: nothing is dialled")
    )
    return rows


def epoch_finding(epoch: Epoch | None) -> Finding:
    """The epoch marker's row: whether Redis lost the data the processes started with (pure)."""
    if epoch is None:
        return Finding("epoch", "ok", "none yet: no dispatcher process has started on this Redis")
    if epoch.lost:
        return Finding(
            "epoch",
            "fail",
            f"data loss detected: {epoch.lost}; dialling is stopped until "
            "`dispatcher redis-reset --accept-data-loss`",
        )
    since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch.installed_at_ms / 1000))
    return Finding("epoch", "ok", f"{epoch.id} since {since}")
