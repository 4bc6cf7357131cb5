"""The typed client's errors.

DispatcherError
└── ClientError                 the HTTP API could not be used
    ├── ApiUnreachable          no answer (connection, timeout, 5xx) after the client's retries
    ├── ApiResponseError        an error answer: status, stable code, message, field errors
    └── WaitTimeout             `wait` gave up before the campaign ended
"""

from __future__ import annotations

from typing import Any

from dispatcher.errors import DispatcherError

__all__ = ["ApiResponseError", "ApiUnreachable", "ClientError", "WaitTimeout"]


class ClientError(DispatcherError):
    """Root of the client's errors."""


class ApiUnreachable(ClientError):
    """No usable answer after every retry (connection refused, timeouts, 5xx)."""


class ApiResponseError(ClientError):
    """An error answer from the API (`ErrorBody`)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("error", "error"))
        self.message = str(body.get("message", ""))
        self.errors: list[dict[str, str]] = list(body.get("errors") or [])
        self.report: dict[str, Any] | None = body.get("report")
        super().__init__(f"HTTP {status} {self.code}: {self.message}")


class WaitTimeout(ClientError):
    """The campaign had not ended when `wait` gave up."""
