"""The HTTP API: campaign intake and control, results, the DNC list, webhooks, health, metrics.

`create_app` is imported on first use, so `dispatcher.api.models` (the request and response
bodies the typed client shares) can be imported without the server's dependencies or Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dispatcher.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from dispatcher.api.app import create_app

        return create_app
    raise AttributeError(name)
