"""Prometheus metrics: the dispatcher's own, observed where things happen, and scrape-time state.

Process-wide counters and histograms live in prometheus_client's default registry, so in a worker
started with `PROMETHEUS_MULTIPROC_DIR` set they are written to the same multiprocess files as
dramatiq's Prometheus middleware and served by its exposition server; in the web process they are
served by `GET /metrics`. Contacts by state are not counted as they change: `CampaignCollector`
reads the counters from Redis at scrape time, for active and recently created campaigns only.

Labels are low-cardinality on purpose: endpoints, statuses, states, outcomes, and campaign ids of
a bounded set; never phone numbers nor api call ids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from dispatcher.errors import StateError
from dispatcher.logs import get_logger

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from dispatcher.effebot.responses import CallDetails
    from dispatcher.settings import Settings
    from dispatcher.store import StateStore

__all__ = [
    "CampaignCollector",
    "observe_http_request",
    "observe_pacing_wait",
    "observe_provider_request",
    "observe_reconciled",
    "observe_webhook",
    "poll_lag_s",
    "render",
    "worker_middleware",
]

log = get_logger(__name__)

_LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WAIT_BUCKETS_S = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_LAG_BUCKETS_S = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

PROVIDER_REQUESTS = Counter(
    "dispatcher_provider_requests_total",
    "Requests to the effebot API by endpoint and HTTP status (or error class without one).",
    ["endpoint", "status"],
)
PROVIDER_LATENCY = Histogram(
    "dispatcher_provider_request_duration_seconds",
    "Latency of requests to the effebot API.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS_S,
)
PACING_WAIT = Histogram(
    "dispatcher_pacing_wait_seconds",
    "Time a worker waited for the global pacing budget before a provider request.",
    ["actor"],
    buckets=_WAIT_BUCKETS_S,
)
POLL_LAG = Histogram(
    "dispatcher_poll_lag_seconds",
    "From the provider's finishedAt of an api call's last phone to our reconciling it as final.",
    ["source"],
    buckets=_LAG_BUCKETS_S,
)
WEBHOOK_RECEIPTS = Counter(
    "dispatcher_webhook_receipts_total",
    "Webhooks received, by payload kind and outcome.",
    ["kind", "outcome"],
)
HTTP_REQUESTS = Counter(
    "dispatcher_http_requests_total",
    "HTTP API requests by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "dispatcher_http_request_duration_seconds",
    "HTTP API request latency by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS_S,
)


def observe_provider_request(endpoint: str, status: str, latency_s: float) -> None:
    """One request to the provider (the effebot client's `on_request` hook)."""
    PROVIDER_REQUESTS.labels(endpoint, status).inc()
    PROVIDER_LATENCY.labels(endpoint).observe(latency_s)


def observe_pacing_wait(actor: str, wait_s: float) -> None:
    """A pacing wait a worker is about to sleep (0 when the budget had room)."""
    PACING_WAIT.labels(actor).observe(max(wait_s, 0.0))


def observe_webhook(kind: str, outcome: str) -> None:
    """One webhook receipt: kind `call`/`ivr`/`unknown`, outcome e.g. `applied`, `bad_token`."""
    WEBHOOK_RECEIPTS.labels(kind, outcome).inc()


def observe_http_request(method: str, route: str, status: int, latency_s: float) -> None:
    """One HTTP API request, labelled by its route template (never the raw path)."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(route).observe(latency_s)


def poll_lag_s(details: CallDetails, now_s: float) -> float | None:
    """Pure: seconds since the last phone of an api call finished, if every phone has finished."""
    finished = [call.finished_at for call in details.calls]
    if not finished or any(moment is None for moment in finished):
        return None
    last = max(moment.timestamp() for moment in finished if moment is not None)
    return max(now_s - last, 0.0)


def observe_reconciled(details: CallDetails, source: str) -> None:
    """Poll lag of an api call just reconciled by `source` (`poll` or `webhook`), when final."""
    lag = poll_lag_s(details, time.time())
    if lag is not None:
        POLL_LAG.labels(source).observe(lag)


class CampaignCollector(Collector):
    """Contacts by state per campaign, read from Redis at scrape time."""

    def __init__(self, store: StateStore, recent: int = 20) -> None:
        self._store = store
        self._recent = recent

    def campaign_ids(self) -> list[str]:
        """Active campaigns, plus the most recently created ones."""
        ids = dict.fromkeys(self._store.active_campaigns())
        if self._recent:
            ids.update(dict.fromkeys(self._store.list_campaigns(self._recent)))
        return list(ids)

    def collect(self) -> Iterator[Metric]:
        contacts = GaugeMetricFamily(
            "dispatcher_contacts",
            "Contacts per campaign and state (active and recent campaigns).",
            labels=["campaign_id", "state"],
        )
        up = GaugeMetricFamily(
            "dispatcher_state_up", "1 when the scrape could read campaign state from Redis."
        )
        try:
            for campaign_id in self.campaign_ids():
                for state, count in self._store.counts(campaign_id).items():
                    contacts.add_metric([campaign_id, state], count)
            up.add_metric([], 1)
        except StateError as exc:
            log.warning("metrics.state_unreadable", error=str(exc))
            up.add_metric([], 0)
        yield contacts
        yield up

    def describe(self) -> Iterator[Metric]:
        return iter(())


def worker_middleware(settings: Settings) -> list[Any]:
    """dramatiq's Prometheus middleware when `worker_prometheus` is set, else nothing.

    Its exposition server (port `dramatiq_prom_port`, default 9191) is forked once by the
    `dramatiq` master and serves what every worker process wrote to the multiprocess directory,
    ours included: start workers with `PROMETHEUS_MULTIPROC_DIR` and `dramatiq_prom_db` set to the
    same empty directory so prometheus_client writes there from the first import on.
    """
    if not settings.worker_prometheus:
        return []
    from dramatiq.middleware.prometheus import Prometheus

    return [Prometheus()]


def render(*registries: CollectorRegistry) -> bytes:
    """The text exposition of the default registry followed by `registries`."""
    return b"".join(generate_latest(r) for r in (REGISTRY, *registries))
