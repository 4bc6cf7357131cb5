"""What every command needs: the settings the group built, and the state store."""

from __future__ import annotations

from typing import Any

import click

from dispatcher.errors import ConfigurationError
from dispatcher.settings import Settings

__all__ = ["open_checked_store", "open_store", "settings_of"]


def settings_of(ctx: click.Context) -> Settings:
    """The settings the `dispatcher` group built for this invocation."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)  # set by the group before any command runs
    return settings


def open_store(settings: Settings) -> Any:
    """The state store on DISPATCHER_REDIS_URL (or the Sentinels' master), checked to answer."""
    from dispatcher.store import StateStore

    if not settings.has_redis():
        raise ConfigurationError(
            "DISPATCHER_REDIS_URL is not set (only `dispatcher demo` starts a Redis of its own)"
        )
    store = StateStore.from_settings(settings)
    store.ping()
    return store


def open_checked_store(settings: Settings) -> Any:
    """`open_store`, for a command that writes: refuses (`RedisUntrusted`) a Redis that would
    lose what it writes, or that lost its data (`dispatcher.store.trust`)."""
    from dispatcher.store.trust import RedisTrust

    store = open_store(settings)
    trust = RedisTrust(
        store,
        role="cli",
        allow_unsafe=settings.allow_unsafe_redis,
        claim_durability=settings.claim_durability,
        establish=False,  # the epoch is the long-running processes' to write
    )
    trust.check_at_start()
    return store
