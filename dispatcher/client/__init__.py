"""A typed Python client of the dispatcher's HTTP API, importable without Redis or dramatiq."""

from __future__ import annotations

from dispatcher.client.errors import ApiResponseError, ApiUnreachable, ClientError, WaitTimeout
from dispatcher.client.http import DispatcherClient

__all__ = ["ApiResponseError", "ApiUnreachable", "ClientError", "DispatcherClient", "WaitTimeout"]
