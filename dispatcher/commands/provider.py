"""What commands that talk to the provider share: the account preflight, paced like the workers."""

from __future__ import annotations

from typing import Any

from dispatcher.settings import Settings

__all__ = ["account_check_for", "provider_pace"]


def provider_pace(settings: Settings, store: Any) -> Any:
    """A callable that waits for the global provider pacing budget (one request's worth)."""
    from dispatcher.pacing import GlobalPacer
    from workers.limits import provider_limit

    pacer = GlobalPacer(store.client, settings.key_prefix)
    limit = provider_limit(settings)

    def pace() -> None:
        pacer.acquire([limit], max_wait_s=60.0)

    return pace


def account_check_for(settings: Settings, store: Any) -> Any:
    """The account preflight for these settings, or None (turned off, or no API key)."""
    if not settings.preflight or settings.effebot_api_key is None:
        return None
    from dispatcher.account import AccountCheck

    return AccountCheck(settings, store, pace=provider_pace(settings, store))
