"""Redis's side of `dispatcher doctor`: the server, persistence, memory policy and the queues."""

from __future__ import annotations

from dispatcher.doctor.findings import Finding
from dispatcher.store.fleet import FleetSnapshot
from dispatcher.store.health import (
    RedisHealth,
    eviction_problem,
    persistence_problems,
    persistence_summary,
    replication_problem,
)

__all__ = ["queue_findings", "redis_findings"]


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
