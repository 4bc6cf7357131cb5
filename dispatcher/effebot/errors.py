"""Every way a provider request can fail, grouped by what the caller may safely do next.

    EffebotError                        (dispatcher.errors.DispatcherError)
    ├── RejectedError                   answered and refused: no effect; resending is pointless
    │   ├── AuthenticationRejected      401 / 403, or a refusal that names the API key
    │   ├── ValidationRejected          400, 404, 409, 422, other 4xx (not 408/414/429), 3xx, a
    │   │                               2xx saying "status": "error" with per-field `errors`
    │   └── OperatorActionRequired      refused until someone acts; then the same request works
    │       ├── InsufficientBalance     402, or any refusal whose message talks about the balance
    │       ├── ModerationRequired      a refusal that talks about moderation (a record or the
    │       │                           generated voice is not approved yet)
    │       └── EndpointMissing         404 / 405 on a path that comes from a setting (the
    │                                   template endpoints, which the reference does not give)
    ├── RetrySafeError                  provably did not take effect: retrying cannot dial twice
    │   ├── ProviderUnreachable         connect error/timeout, DNS, pool timeout: nothing was sent
    │   ├── RateLimited                 429 (`retry_after_s` from Retry-After)
    │   └── UriTooLong                  414: the request line was refused before it was handled
    └── AmbiguousError                  may have taken effect: never retry a create blindly
        ├── ResponseTimeout             read timeout after sending; write timeout (part was sent)
        ├── ConnectionDropped           reset / protocol error / incomplete body after sending
        ├── ProviderServerError         5xx, 408
        ├── MalformedResponse           2xx whose body is not the expected JSON (HTML, truncated,
        │                               wrong types, missing the id, bigger than the size limit)
        └── UnexplainedRefusal          a create answered 2xx with "status": "error" and nothing
                                        that says why (no field, no known reason)

Why each case sits where it does (DESIGN.md invariant 1, "never dial twice by accident"):

- A 4xx is the provider's considered answer about this request: it looked at it and said no, so
  nothing was created and sending the same bytes again gets the same no. 408 is the exception: the
  server gave up *while* reading, and whether it acted on what it had is unknown.
- Connect failures and pool timeouts happen before the first byte of the request leaves this
  process; 429 is documented (and emulated) as answered without applying. Both are safe to retry.
- Everything after the request may have reached the provider and before a well-formed answer was
  read is ambiguous: a read timeout, a reset, a 5xx (a proxy or the app may fail after the call was
  queued), and a 2xx we cannot read (it almost certainly took effect, but we do not know the id).
  A write timeout is here too because part of the body may already be on the wire.
- A 2xx that says `"status": "error"` is read like any other refusal: the reason decides (balance,
  moderation, the key, per-field errors). When nothing says why, a create is ambiguous rather than
  rejected: a 2xx is the provider's success code, and it may have applied part of what it got.
- `OperatorActionRequired` is rejected (nothing happened) but says nothing against the contacts:
  the worker keeps the batch and pauses the campaign with `pause_reason()` instead of failing it.

Every error carries `endpoint`, `status_code` (None when no response was read) and, for creates,
`phone_count`. Messages are built from the provider's answer with the API key scrubbed; they never
contain it.
"""

from __future__ import annotations

from typing import Any

from dispatcher.errors import DispatcherError

__all__ = [
    "AmbiguousError",
    "AuthenticationRejected",
    "ConnectionDropped",
    "EffebotError",
    "EndpointMissing",
    "InsufficientBalance",
    "MalformedResponse",
    "ModerationRequired",
    "OperatorActionRequired",
    "ProviderServerError",
    "ProviderUnreachable",
    "RateLimited",
    "RejectedError",
    "ResponseTimeout",
    "RetrySafeError",
    "UnexplainedRefusal",
    "UriTooLong",
    "ValidationRejected",
]


def _rebuild(cls: type[EffebotError], message: str, state: dict[str, Any]) -> EffebotError:
    """Unpickle an error (keyword-only constructors defeat the default `cls(*args)`)."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class EffebotError(DispatcherError):
    """Root of every provider failure; branch on the three subtrees, not on this."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = None,
        phone_count: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.status_code = status_code
        self.phone_count = phone_count

    def __str__(self) -> str:
        status = "no response" if self.status_code is None else f"HTTP {self.status_code}"
        return f"{self.endpoint}: {status}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # dramatiq and multiprocessing pickle exceptions; keep every attribute across the trip.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


# --- rejected: answered and refused -------------------------------------------------------------


class RejectedError(EffebotError):
    """The provider answered and refused: nothing happened, and the same request will fail again."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = None,
        phone_count: int | None = None,
        provider_message: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(
            message, endpoint=endpoint, status_code=status_code, phone_count=phone_count
        )
        self.provider_message = provider_message
        self.fields: dict[str, list[str]] = dict(fields or {})


class AuthenticationRejected(RejectedError):
    """The API key is missing, wrong or not allowed (401/403)."""


class ValidationRejected(RejectedError):
    """The provider found the request invalid; `fields` names what it objected to when it said."""


class OperatorActionRequired(RejectedError):
    """Refused until someone acts (pays, approves, fixes a setting); the call itself is fine."""

    def pause_reason(self) -> str:
        """Why a campaign whose create got this answer is paused (shown by `status`)."""
        return f"the provider refused: {self}"


class InsufficientBalance(OperatorActionRequired):
    """The account cannot pay for the request (402, or a refusal that says so)."""

    def pause_reason(self) -> str:
        """Why a campaign whose create got this answer is paused (shown by `status`)."""
        return f"the provider refused for lack of balance: {self}"


class ModerationRequired(OperatorActionRequired):
    """A recording or the generated voice has not passed the provider's moderation (yet)."""

    def pause_reason(self) -> str:
        """Why a campaign whose create got this answer is paused (shown by `status`)."""
        return (
            f"the provider refused content that has not passed moderation: {self}; "
            "resume once it is approved"
        )


class EndpointMissing(OperatorActionRequired):
    """404/405 on a path that comes from a setting: `setting` names the one to fix."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        setting: str,
        status_code: int | None = None,
        phone_count: int | None = None,
        provider_message: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(
            message,
            endpoint=endpoint,
            status_code=status_code,
            phone_count=phone_count,
            provider_message=provider_message,
            fields=fields,
        )
        self.setting = setting

    def pause_reason(self) -> str:
        """Why a campaign whose create got this answer is paused (shown by `status`)."""
        return (
            f"the provider has no endpoint {self.endpoint} (HTTP {self.status_code}): "
            f"set {self.setting} to the right path, then resume"
        )


# --- retry-safe: provably not applied -----------------------------------------------------------


class RetrySafeError(EffebotError):
    """The request provably did not take effect; the same request may be sent again."""


class ProviderUnreachable(RetrySafeError):
    """No connection could be made (or none was free in the pool): nothing was sent."""


class RateLimited(RetrySafeError):
    """429: the provider refused without applying; wait `retry_after_s` when it said how long."""

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        status_code: int | None = 429,
        phone_count: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            message, endpoint=endpoint, status_code=status_code, phone_count=phone_count
        )
        self.retry_after_s = retry_after_s


class UriTooLong(RetrySafeError):
    """414: the request line was too long and was refused unread; send fewer ids per request."""


# --- ambiguous: may have taken effect -----------------------------------------------------------


class AmbiguousError(EffebotError):
    """The request may have taken effect; a create must not be repeated without a decision."""


class ResponseTimeout(AmbiguousError):
    """The request was (at least partly) sent and no answer came in time."""


class ConnectionDropped(AmbiguousError):
    """The connection broke after the request was sent (reset, protocol error, short body)."""


class ProviderServerError(AmbiguousError):
    """5xx or 408: the provider failed at some point while handling the request."""


class MalformedResponse(AmbiguousError):
    """A 2xx answer whose body is not the JSON expected: it probably took effect, we cannot tell."""


class UnexplainedRefusal(AmbiguousError):
    """A create answered 2xx with "status": "error" and no reason: it may have been applied."""
