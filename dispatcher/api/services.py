"""What the routes share, built once by `create_app` and kept on `app.state`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from prometheus_client import CollectorRegistry

from dispatcher.api.jsonbody import JsonParser
from dispatcher.api.metrics_cache import MetricsCache
from dispatcher.api.sources import Networks
from dispatcher.errors import RedisUntrusted
from dispatcher.queue import Enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.trust import RedisTrust

__all__ = ["Services", "services"]


@dataclass(frozen=True)
class Services:
    """What one app's routes share: settings, store, enqueueing, metrics, parsing, preflight."""

    settings: Settings
    store: StateStore
    enqueue: Enqueue
    registry: CollectorRegistry
    metrics: MetricsCache
    webhook_sources: Networks = ()
    trusted_proxies: Networks = ()
    json_parser: JsonParser = field(default_factory=JsonParser)
    #: The account preflight (`AccountCheck.check`), or None without an API key.
    preflight: Callable[..., str] | None = None
    #: Whether Redis can still be trusted (`/readyz`, submissions); None: not checked.
    trust: RedisTrust | None = None

    def check_trusted(self) -> None:
        """`RedisUntrusted` (503) if Redis lost the data this process started with."""
        lost = None if self.trust is None else self.trust.verify()
        if lost is not None:
            raise RedisUntrusted(lost)


def services(request: Request) -> Services:
    """The app's services, for a route or a dependency."""
    found = request.app.state.services
    assert isinstance(found, Services)  # set by create_app before any request
    return found
