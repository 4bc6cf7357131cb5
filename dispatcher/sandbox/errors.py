"""Why the sandbox refuses a request; each error knows its HTTP status and JSON body.

DispatcherError
└── SandboxError
    ├── ConnectionDropped         the drop fault: cuts the connection mid-response
    └── RequestRefused            answered to the client, nothing applied
        ├── MalformedBody         400  body is not a JSON object / not a form
        ├── InvalidApiKey         401  apiKey missing or unknown
        ├── InsufficientBalance   402  the request would cost more than the balance
        ├── MethodNotAllowed      405  a method the endpoint does not take (GET, mostly)
        ├── UriTooLong            414  a request line longer than `max_url_bytes`
        └── InvalidRequest        422  field-level errors, keyed by dotted field path
"""

from __future__ import annotations

from typing import Any

from dispatcher.errors import DispatcherError

__all__ = [
    "ConnectionDropped",
    "InsufficientBalance",
    "InvalidApiKey",
    "InvalidRequest",
    "MalformedBody",
    "MethodNotAllowed",
    "RequestRefused",
    "SandboxError",
    "UriTooLong",
]


class SandboxError(DispatcherError):
    """Root of the sandbox emulator's own errors."""


class RequestRefused(SandboxError):
    """A request the emulated provider refuses as a whole; nothing of it is applied."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON body the provider answers with."""
        return {"status": "error", "message": self.message}


class MalformedBody(RequestRefused):
    """The body is not valid JSON, not a JSON object, or not a readable form."""

    status_code = 400


class InvalidApiKey(RequestRefused):
    """No apiKey, or one the sandbox was not started with."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__("invalid api key")


class InsufficientBalance(RequestRefused):
    """The account's balance does not cover the request."""

    status_code = 402

    def __init__(self) -> None:
        super().__init__("insufficient balance")


class MethodNotAllowed(RequestRefused):
    """The endpoint does not take this HTTP method."""

    status_code = 405

    def __init__(self) -> None:
        super().__init__("method not allowed")


class UriTooLong(RequestRefused):
    """The request line is longer than the sandbox is configured to read."""

    status_code = 414

    def __init__(self) -> None:
        super().__init__("request-URI too long")


class InvalidRequest(RequestRefused):
    """Field-level validation errors, keyed by dotted path (`ivrs.0.smsText`)."""

    status_code = 422

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("The given data was invalid.")
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {"status": "error", "message": self.message, "errors": self.errors}


class ConnectionDropped(SandboxError):
    """Raised inside the server to cut a connection mid-response (the `drop` fault)."""
