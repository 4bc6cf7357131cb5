"""Prometheus metrics: the dispatcher's own, observed where things happen, and scrape-time state.

Process-wide counters and histograms live in prometheus_client's default registry, so in a worker
started with `PROMETHEUS_MULTIPROC_DIR` set they are written to the same multiprocess files as
dramatiq's Prometheus middleware and served by its exposition server; in the web process they are
served by `GET /metrics`. Contacts by state are not counted as they change: `CampaignCollector`
reads the counters from Redis at scrape time, for active and recently created campaigns only, and
`FleetCollector` reads what the whole deployment shares (dramatiq's queue depths, dead letters and
worker heartbeats, Redis memory, the cached balance), so worker liveness needs no metrics from the
workers themselves. Every web replica reports the same Redis-derived values: aggregate them across
replicas with `max`, not `sum`.

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
from dispatcher.lifecycle import AUTO_PAUSE_PREFIX, CampaignStatus
from dispatcher.logs import get_logger
from dispatcher.queue import queue_for
from dispatcher.store.fleet import FleetReader
from dispatcher.store.keys import ACTOR_POLL

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from dispatcher.effebot.responses import CallDetails
    from dispatcher.settings import Settings
    from dispatcher.store import StateStore

__all__ = [
    "CampaignCollector",
    "FleetCollector",
    "observe_dials",
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
DIALS = Counter(
    "dispatcher_dials_total",
    "Phones in create requests the provider accepted (one dial each; the pace is in requests).",
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
UNCONFIRMED_WRITES = Counter(
    "dispatcher_unconfirmed_writes_total",
    "Writes that DISPATCHER_CLAIM_DURABILITY did not see confirmed in time, by step: `claim` (the"
    " batch was given back, not dialled) or `sent` (the record of a create, waited for again).",
    ["step"],
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


def observe_dials(phones: int) -> None:
    """A create the provider accepted, with this many phones."""
    DIALS.inc(phones)


def observe_pacing_wait(actor: str, wait_s: float) -> None:
    """A pacing wait a worker is about to sleep (0 when the budget had room)."""
    PACING_WAIT.labels(actor).observe(max(wait_s, 0.0))


def observe_unconfirmed(step: str) -> None:
    """A claim (`claim`) or a sent record (`sent`) whose durability was not confirmed in time."""
    UNCONFIRMED_WRITES.labels(step).inc()


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
    """Contacts by state, and campaigns by status, read from Redis at scrape time."""

    def __init__(self, store: StateStore, recent: int = 20) -> None:
        self._store = store
        self._fleet = FleetReader(store.client, store.keys)
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
        campaigns = GaugeMetricFamily(
            "dispatcher_campaigns",
            "Active and recent campaigns by status.",
            labels=["status"],
        )
        auto_paused = GaugeMetricFamily(
            "dispatcher_campaign_auto_paused",
            "1 for each campaign a guard paused (error burst, balance); its reason is in `status`.",
            labels=["campaign_id"],
        )
        pace = GaugeMetricFamily(
            "dispatcher_campaign_pace_dials_per_minute",
            "The own pace (dials_per_minute) of each running or scheduled campaign that sets one.",
            labels=["campaign_id"],
        )
        up = GaugeMetricFamily(
            "dispatcher_state_up", "1 when the scrape could read campaign state from Redis."
        )
        try:
            ids = self.campaign_ids()
            for campaign_id, counts in zip(ids, self._store.counts_many(ids), strict=True):
                for state, count in counts.items():
                    contacts.add_metric([campaign_id, state], count)
            by_status = dict.fromkeys((s.value for s in CampaignStatus), 0)
            for line in self._fleet.campaign_lines(ids):
                by_status[line.status] = by_status.get(line.status, 0) + 1
                paused = line.status == CampaignStatus.PAUSED
                if paused and (line.pause_reason or "").startswith(AUTO_PAUSE_PREFIX):
                    auto_paused.add_metric([line.campaign_id], 1)
                live = line.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED)
                if live and line.dials_per_minute is not None:
                    pace.add_metric([line.campaign_id], line.dials_per_minute)
            for status, count in by_status.items():
                campaigns.add_metric([status], count)
            up.add_metric([], 1)
        except StateError as exc:
            log.warning("metrics.state_unreadable", error=str(exc))
            up.add_metric([], 0)
        yield from (contacts, campaigns, auto_paused, pace, up)

    def describe(self) -> Iterator[Metric]:
        return iter(())


class FleetCollector(Collector):
    """The deployment's queues, dead letters, live workers, Redis memory and balance, from Redis."""

    def __init__(self, store: StateStore, settings: Settings) -> None:
        self._fleet = FleetReader(store.client, store.keys)
        self._settings = settings
        self._queues = (settings.queue_name, queue_for(settings.queue_name, ACTOR_POLL))

    def collect(self) -> Iterator[Metric]:
        s = self._settings
        limit = GaugeMetricFamily(
            "dispatcher_provider_rate_limit_per_second",
            "DISPATCHER_PROVIDER_RATE_PER_S: requests per second to the provider, all processes.",
        )
        limit.add_metric([], s.provider_rate_per_s)
        yield limit
        if s.min_balance is not None:
            minimum = GaugeMetricFamily(
                "dispatcher_provider_balance_minimum",
                "DISPATCHER_MIN_BALANCE: below it the workers pause every running campaign.",
            )
            minimum.add_metric([], s.min_balance)
            yield minimum
        try:
            snapshot = self._fleet.snapshot(self._queues, s.broker_heartbeat_timeout_ms)
        except StateError as exc:
            log.warning("metrics.fleet_unreadable", error=str(exc))
            return
        ready = GaugeMetricFamily(
            "dispatcher_queue_messages",
            "Messages in dramatiq's Redis lists by queue and state: `ready` to run, `delayed` "
            "(not yet due; workers hold most delayed messages in memory, not in this list).",
            labels=["queue", "state"],
        )
        dead = GaugeMetricFamily(
            "dispatcher_dead_letters",
            "Dead-lettered messages per queue (dramatiq's .XQ; kept 7 days).",
            labels=["queue"],
        )
        for depth in snapshot.queues:
            ready.add_metric([depth.queue, "ready"], depth.ready)
            ready.add_metric([depth.queue, "delayed"], depth.delayed)
            dead.add_metric([depth.queue], depth.dead)
        workers = GaugeMetricFamily(
            "dispatcher_workers_alive",
            "Worker processes whose dramatiq broker heartbeat is fresher than "
            "DISPATCHER_BROKER_HEARTBEAT_TIMEOUT_MS.",
        )
        workers.add_metric([], snapshot.workers_alive)
        used = GaugeMetricFamily("dispatcher_redis_memory_used_bytes", "Redis used_memory.")
        used.add_metric([], snapshot.redis_used_bytes)
        most = GaugeMetricFamily(
            "dispatcher_redis_memory_max_bytes", "Redis maxmemory (0: no limit is set)."
        )
        most.add_metric([], snapshot.redis_max_bytes)
        yield from (ready, dead, workers, used, most)
        if snapshot.balance is not None and snapshot.balance_checked_at_ms is not None:
            balance = GaugeMetricFamily(
                "dispatcher_provider_balance",
                "The account balance the workers last read with userInfo (only with "
                "DISPATCHER_MIN_BALANCE set).",
            )
            balance.add_metric([], snapshot.balance)
            checked = GaugeMetricFamily(
                "dispatcher_provider_balance_checked_timestamp_seconds",
                "When the balance was last read.",
            )
            checked.add_metric([], snapshot.balance_checked_at_ms / 1000)
            yield from (balance, checked)

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
