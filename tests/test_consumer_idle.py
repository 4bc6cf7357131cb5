"""DISPATCHER_CONSUMER_IDLE_MS reaches every queue consumer of a real dramatiq worker (issue 13)."""

from __future__ import annotations

from typing import Any

import dramatiq
from pydantic import SecretStr

from dispatcher.queue import make_broker
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from workers.context import ProcessResources


def test_every_consumer_waits_at_most_the_configured_idle_time(
    settings: Settings, redis_client: Any
) -> None:
    configured = settings.model_copy(
        update={"consumer_idle_ms": 50, "effebot_api_key": SecretStr("k")}
    )
    resources = ProcessResources(configured, StateStore(redis_client, configured.key_prefix))
    broker = make_broker(configured, redis_client, middleware=[resources])
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        assert worker.consumers  # the batch, poll and intake queues and their delay queues
        assert {c.worker_timeout for c in worker.consumers.values()} == {50}
        assert {t.timeout for t in worker.workers} == {0.05}  # seconds there
    finally:
        worker.stop()
        broker.close()


def test_the_default_is_dramatiqs_own() -> None:
    assert Settings.model_fields["consumer_idle_ms"].default == 1000
