"""What operators watch beside the campaigns: dramatiq's queues, dead letters and worker heartbeats,
Redis memory, the cached account balance, and the status line of many campaigns at once.

Read at scrape time by the web app's metrics collectors (one pipelined round trip), so that worker
liveness, queue depth and dead letters come from Redis itself and need no metrics from the worker
processes. Key layout of dramatiq's Redis broker (2.x, `dispatch.lua`), under its namespace:

* `<ns>:<queue>`: a list of ready message ids; `<ns>:<queue>.DQ`: delayed messages (workers
  prefetch these into memory, so the list is mostly short); `<ns>:<queue>.XQ`: a sorted set of
  dead-lettered message ids;
* `<ns>:__heartbeats__`: a sorted set of broker ids scored by their last command (ms). Every
  broker that runs a command lands there, a producer's too; worker processes name their broker
  `WORKER_ID_PREFIX` + uuid (`workers.setup`), so only they are counted as workers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from dispatcher.store.base import now_ms, text, translate
from dispatcher.store.keys import WORKER_ID_PREFIX, Keys

__all__ = ["CampaignLine", "FleetReader", "FleetSnapshot", "QueueDepth"]


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Messages of one dramatiq queue: ready to run, delayed, dead-lettered."""

    queue: str
    ready: int
    delayed: int
    dead: int


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """Everything `FleetReader.snapshot` reads in one round trip."""

    queues: tuple[QueueDepth, ...]
    workers_alive: int
    redis_used_bytes: int
    redis_max_bytes: int
    balance: float | None
    balance_checked_at_ms: int | None


@dataclass(frozen=True, slots=True)
class CampaignLine:
    """A campaign's status, pause reason and own pace (dials per minute, if it has one)."""

    campaign_id: str
    status: str
    pause_reason: str | None
    dials_per_minute: float | None


class FleetReader:
    """Read-only views of the deployment's Redis for metrics and operators."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    @translate
    def snapshot(self, queue_names: Sequence[str], heartbeat_fresh_ms: int) -> FleetSnapshot:
        """Queue depths, live workers, Redis memory and the balance cache, in one round trip.

        A worker is alive when its broker ran a command within `heartbeat_fresh_ms` (an idle
        consumer polls Redis at least once a second, a busy one acks).
        """
        namespace = self.keys.dramatiq_namespace
        pipe = self.client.pipeline(transaction=False)
        for queue in queue_names:
            pipe.llen(f"{namespace}:{queue}")
            pipe.llen(f"{namespace}:{queue}.DQ")
            pipe.zcard(f"{namespace}:{queue}.XQ")
        pipe.zrangebyscore(f"{namespace}:__heartbeats__", now_ms() - heartbeat_fresh_ms, "+inf")
        pipe.info("memory")
        pipe.hgetall(f"{self.keys.prefix}:balance")
        replies: list[Any] = pipe.execute()
        queues = tuple(
            QueueDepth(queue, int(replies[3 * i]), int(replies[3 * i + 1]), int(replies[3 * i + 2]))
            for i, queue in enumerate(queue_names)
        )
        heartbeats, memory, balance = replies[3 * len(queue_names) :]
        workers = sum(1 for member in heartbeats if text(member).startswith(WORKER_ID_PREFIX))
        cached = {text(k): text(v) for k, v in balance.items()}
        return FleetSnapshot(
            queues=queues,
            workers_alive=workers,
            redis_used_bytes=int(memory.get("used_memory", 0)),
            redis_max_bytes=int(memory.get("maxmemory", 0)),
            balance=float(cached["balance"]) if "balance" in cached else None,
            balance_checked_at_ms=int(cached["checked_at"]) if "checked_at" in cached else None,
        )

    @translate
    def campaign_lines(self, campaign_ids: Sequence[str]) -> list[CampaignLine]:
        """Status, pause reason and pace of each campaign that exists, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for campaign_id in campaign_ids:
            pipe.hmget(self.keys.campaign(campaign_id).meta, ["status", "pause_reason", "spec"])
        lines = []
        for campaign_id, (status, reason, spec) in zip(campaign_ids, pipe.execute(), strict=True):
            if status is None:
                continue
            lines.append(
                CampaignLine(
                    campaign_id=campaign_id,
                    status=text(status),
                    pause_reason=text(reason) if reason else None,
                    dials_per_minute=_pace(spec),
                )
            )
        return lines


def _pace(spec: bytes | str | None) -> float | None:
    """The spec's `dials_per_minute`, if it sets one (pure; the spec is stored as JSON)."""
    if not spec:
        return None
    try:
        value = json.loads(spec).get("dials_per_minute")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None
