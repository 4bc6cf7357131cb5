"""The HTTP API: campaign intake and control, results, the DNC list, webhooks, health, metrics."""

from __future__ import annotations

from dispatcher.api.app import create_app

__all__ = ["create_app"]
