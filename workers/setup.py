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

from dispatcher.metrics import worker_middleware
from dispatcher.queue import make_broker
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.keys import WORKER_ID_PREFIX
from dispatcher.store.trust import RedisTrust
from workers.actors import Actors, declare_actors
from workers.callbacks import CallbackDeliveries
from workers.context import ProcessResources
from workers.reconciler import Reconciler

__all__ = ["WorkerApp", "build_worker_app"]


@dataclass(frozen=True)
class WorkerApp:
    broker: RedisBroker
    actors: Actors
    resources: ProcessResources
    store: StateStore


def build_worker_app(settings: Settings, redis_url: str) -> WorkerApp:
    """A broker with the dispatcher's middleware and actors declared on it.

    Refuses (`RedisUntrusted`) a Redis that would lose promises or lost its data (`store.trust`).
    """
    store = StateStore.connect(
        redis_url, settings.key_prefix, events_maxlen=settings.event_stream_maxlen
    )
    trust = RedisTrust(
        store,
        role="worker",
        allow_unsafe=settings.allow_unsafe_redis,
        claim_durability=settings.claim_durability,
    )
    try:
        trust.check_at_start_or_later()
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
