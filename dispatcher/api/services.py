"""What the routes share, built once by `create_app` and kept on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from prometheus_client import CollectorRegistry

from dispatcher.api.sources import Networks
from dispatcher.queue import Enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore

__all__ = ["Services", "services"]


@dataclass(frozen=True)
class Services:
    """Settings, the state store, the enqueue function and the metrics registry of one app."""

    settings: Settings
    store: StateStore
    enqueue: Enqueue
    registry: CollectorRegistry
    webhook_sources: Networks = ()
    trusted_proxies: Networks = ()


def services(request: Request) -> Services:
    """The app's services, for a route or a dependency."""
    found = request.app.state.services
    assert isinstance(found, Services)  # set by create_app before any request
    return found
