"""Every metric the README and the API README name, with the labels they document, end to end.

The web app's `/metrics` and a worker's exposition port (dramatiq's Prometheus middleware) are
scraped after a campaign whose calls were reconciled by polling and then told again by webhooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import assert_consistent, phones, submit, wait_until_finished
from tests.fixtures.receiver import KEPT, Receiver
from tests.fixtures.workers import WorkerPool, worker_env

pytestmark = pytest.mark.slow

#: sample name -> its documented label names (histograms: the `_count` sample; `le` aside).
WEB_METRICS = {
    "dispatcher_contacts": {"campaign_id", "state"},
    "dispatcher_state_up": set(),
    "dispatcher_http_requests_total": {"method", "route", "status"},
    "dispatcher_http_request_duration_seconds_count": {"route"},
    "dispatcher_webhook_receipts_total": {"kind", "outcome"},
    "dispatcher_poll_lag_seconds_count": {"source"},
}
WORKER_METRICS = {
    "dispatcher_provider_requests_total": {"endpoint", "status"},
    "dispatcher_provider_request_duration_seconds_count": {"endpoint"},
    "dispatcher_pacing_wait_seconds_count": {"actor"},
    "dispatcher_poll_lag_seconds_count": {"source"},
    "dramatiq_messages_total": {"queue_name", "actor_name"},
    "dramatiq_message_duration_milliseconds_count": {"queue_name", "actor_name"},
}


def samples(text: str) -> dict[str, list[dict[str, str]]]:
    """sample name -> the label sets it was exposed with."""
    found: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


def assert_documented(text: str, documented: dict[str, set[str]]) -> dict[str, list[Any]]:
    exposed = samples(text)
    for name, labels in documented.items():
        assert name in exposed, f"{name} is not exposed"
        assert {frozenset(s) for s in exposed[name]} == {frozenset(labels)}, (name, exposed[name])
    return exposed


def test_the_web_app_and_the_workers_expose_every_documented_metric_with_its_labels(
    settings: Settings,
    store: StateStore,
    sandbox: Any,
    worker_pool: WorkerPool,
    tmp_path: Path,
) -> None:
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    with Receiver(settings, store) as receiver:
        # Webhooks are kept aside until the polls have reconciled everything, then delivered:
        # both paths observe what they measure.
        receiver.gate.mode = KEPT
        env = worker_env(
            settings,
            sandbox.url,
            provider_rate_per_s=30,
            worker_prometheus="true",
            **receiver.worker_settings(),
        )
        env.update(
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
            dramatiq_prom_db=str(multiproc),
            dramatiq_prom_host="127.0.0.1",
            dramatiq_prom_port=str(port),
        )
        worker_pool.start(env, count=1, threads=4)
        cid = submit(settings, store, 40, batch_size=10).campaign_id
        assert cid is not None
        assert wait_until_finished(store, cid), store.counts(cid)
        assert_consistent(store, cid, 40)
        receiver.gate.release()
        for delivery in list(receiver.gate.deliveries):
            assert receiver.deliver(delivery).status_code == 200
        web = receiver.metrics()
    worker = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text

    exposed = assert_documented(web, WEB_METRICS)
    contacts = [s for s in exposed["dispatcher_contacts"] if s["campaign_id"] == cid]
    assert contacts, "the campaign's contacts by state"
    assert {"kind": "call", "outcome": "applied"} in exposed["dispatcher_webhook_receipts_total"]
    assert {"source": "webhook"} in exposed["dispatcher_poll_lag_seconds_count"]

    exposed = assert_documented(worker, WORKER_METRICS)
    endpoints = {s["endpoint"] for s in exposed["dispatcher_provider_requests_total"]}
    assert {"apiCalls/create", "apiCalls/get"} <= endpoints
    assert {"actor": "send_batch"} in exposed["dispatcher_pacing_wait_seconds_count"]
    assert {"source": "poll"} in exposed["dispatcher_poll_lag_seconds_count"]

    # No label holds a phone number or an api call id.
    for text in (web, worker):
        for phone in phones(40):
            assert phone not in text
        for labels in (s for found in samples(text).values() for s in found):
            assert not ({"phone", "api_call_id"} & set(labels)), labels
