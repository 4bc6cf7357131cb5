"""The web console: a static page over the JSON API, served by `dispatcher serve` at `/ui/`."""

from __future__ import annotations

from dispatcher.console.pages import ASSETS, SECURITY_HEADERS, router

__all__ = ["ASSETS", "SECURITY_HEADERS", "router"]
