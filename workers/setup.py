"""Building a worker process: settings → logging → state → broker with middleware → actors."""

from __future__ import annotations

from dataclasses import dataclass

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from dispatcher.errors import StateError
from dispatcher.logs import get_logger
from dispatcher.metrics import worker_middleware
from dispatcher.queue import make_broker
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.durability import require_support
from dispatcher.store.keys import WORKER_ID_PREFIX
from dispatcher.store.trust import RedisTrust
from workers.actors import Actors, declare_actors
from workers.callbacks import CallbackDeliveries
from workers.context import ProcessResources
from workers.reconciler import Reconciler

__all__ = ["WorkerApp", "build_worker_app"]

log = get_logger(__name__)


def _check_durability(store: StateStore) -> None:
    """Refuse to start with a claim durability this Redis cannot give (`aof` before 7.2).

    A Redis that does not answer yet is not a reason to refuse: the claims then say why they are
    not confirmed, and nothing is dialled unconfirmed.
    """
    try:
        require_support(store.client, store.durability)
    except StateError as exc:
        log.warning("redis.durability_unchecked", error=str(exc), where="worker start")


@dataclass(frozen=True)
class WorkerApp:
    broker: RedisBroker
    actors: Actors
    resources: ProcessResources
    store: StateStore


def build_worker_app(settings: Settings) -> WorkerApp:
    """A broker with the dispatcher's middleware and actors declared on it, on the Redis the
    settings name (a URL or Sentinels).

    Refuses (`RedisUntrusted`) a Redis that would lose promises or lost its data (`store.trust`).
    """
    store = StateStore.from_settings(settings)
    trust = RedisTrust(
        store,
        role="worker",
        allow_unsafe=settings.allow_unsafe_redis,
        claim_durability=settings.claim_durability,
    )
    try:
        trust.check_at_start_or_later()
        _check_durability(store)
    except BaseException:
        store.client.close()
        raise
    resources = ProcessResources(settings, store, trust)
    middleware = [
        AgeLimit(),
        # An actor run longer than this is stuck (a create is bounded by the client's timeouts).
        TimeLimit(time_limit=600_000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(),
        resources,
        Reconciler(resources.context, settings.watchdog_interval_s, trust),
        CallbackDeliveries(settings, store),
        *worker_middleware(settings),
    ]
    broker = make_broker(settings, store.client, middleware=middleware)
    # Heartbeats under this name count as a live worker (`dispatcher_workers_alive`).
    broker.broker_id = f"{WORKER_ID_PREFIX}{broker.broker_id}"
    actors = declare_actors(broker, settings.queue_name, resources.context)
    dramatiq.set_broker(broker)
    return WorkerApp(broker=broker, actors=actors, resources=resources, store=store)
