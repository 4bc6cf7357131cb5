"""`diagnose`: every check of `dispatcher doctor`, Redis first (the pacing budget lives there)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import redis

from dispatcher.doctor.findings import Finding
from dispatcher.doctor.provider import PROVIDER_CHECKS, provider_findings
from dispatcher.doctor.storage import epoch_finding, queue_findings, redis_findings
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.transport import make_http_client
from dispatcher.errors import StateError
from dispatcher.pacing import GlobalPacer, Limit
from dispatcher.queue import queue_for
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.connection import connect_redis, redis_target
from dispatcher.store.fleet import FleetReader
from dispatcher.store.health import read_redis_health
from dispatcher.store.keys import ACTOR_POLL, Keys

__all__ = ["diagnose"]


def diagnose(settings: Settings, provider_limit: Limit | None = None) -> list[Finding]:
    """Every finding, in the order printed; `provider_limit` paces the provider requests."""
    findings: list[Finding] = []
    client: redis.Redis | None = None
    if not settings.has_redis():
        findings.append(Finding("redis", "fail", "DISPATCHER_REDIS_URL is not set"))
    else:
        client = connect_redis(redis_target(settings))
        findings += _redis(settings, client)
    try:
        findings += _provider(settings, client, provider_limit)
    finally:
        if client is not None:
            client.close()
    return findings


def _redis(settings: Settings, client: redis.Redis) -> list[Finding]:
    queues = (settings.queue_name, queue_for(settings.queue_name, ACTOR_POLL))
    fleet = FleetReader(client, Keys(settings.key_prefix))
    try:
        health = read_redis_health(client)
        epoch = StateStore(client, settings.key_prefix).read_epoch()
        snapshot = fleet.snapshot(queues, settings.broker_heartbeat_timeout_ms)
    except StateError as exc:
        return [Finding("redis", "fail", f"cannot read {_where(settings)}: {exc}")]
    return [*redis_findings(health), epoch_finding(epoch), *queue_findings(snapshot)]


def _where(settings: Settings) -> str:
    return settings.redis_where()  # never a password


def _provider(
    settings: Settings, store: redis.Redis | None, provider_limit: Limit | None
) -> list[Finding]:
    if settings.effebot_api_key is None:
        first = Finding("API key", "fail", "DISPATCHER_EFFEBOT_API_KEY is not set")
        return [first] + [
            Finding(check, "skip", "not checked: no API key") for check in PROVIDER_CHECKS[1:]
        ]
    pace = _pace(settings, store, provider_limit)
    with make_http_client(settings) as http:
        return provider_findings(settings, EffebotClient.from_settings(settings, http), pace)


def _pace(
    settings: Settings, store: redis.Redis | None, provider_limit: Limit | None
) -> Callable[[], object]:
    if store is None or provider_limit is None:
        return lambda: None
    pacer = GlobalPacer(store, settings.key_prefix)

    def pace() -> None:
        # Redis down (reported above): ask the provider unpaced, once per check.
        with contextlib.suppress(StateError):
            pacer.acquire([provider_limit], max_wait_s=30.0)

    return pace
