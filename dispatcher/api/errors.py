"""Error answers: the API's own `ApiError`, and how every error becomes one JSON shape.

    DispatcherError
    └── ApiError                    an answer other than 2xx, with a stable code (this module)

The dispatcher's errors map to statuses in one table: a missing campaign is 404, a refused
transition 409, bad input 422, Redis unreachable 503 (so callers and the provider retry). Anything
else is a bug: the request-log middleware logs it once and answers 500 without a traceback.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dispatcher.account.errors import AccountMismatch
from dispatcher.api.models import ErrorBody, FieldError
from dispatcher.errors import (
    CampaignNotFound,
    DispatcherError,
    IdempotencyKeyReused,
    InputError,
    RedisUntrusted,
    StateError,
    SubmissionInProgress,
    SubmissionPurged,
    TransitionRefused,
)
from dispatcher.logs import get_logger

__all__ = ["ApiError", "error_response", "field_errors", "install_error_handlers"]

log = get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(DispatcherError):
    """An error answer: HTTP status, stable code, message and optional field errors or report."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        errors: list[FieldError] | None = None,
        report: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.errors = errors
        self.report = report
        self.headers = headers


def field_errors(errors: list[Any], prefix: str = "") -> list[FieldError]:
    """pydantic's error list as `FieldError`s, each naming its field."""
    out = []
    for err in errors:
        loc = ".".join(str(part) for part in err.get("loc", ()))
        out.append(FieldError(field=f"{prefix}{loc}".rstrip(".") or "body", message=err["msg"]))
    return out


def error_response(request: Request | None, error: ApiError) -> JSONResponse:
    """The JSON answer for `error`."""
    request_id = None
    if request is not None:
        request_id = getattr(request.state, "request_id", None)
    body = ErrorBody(
        error=error.code,
        message=error.message,
        errors=error.errors,
        report=error.report,
        request_id=request_id,
    )
    content = {k: v for k, v in body.model_dump().items() if v is not None}
    return JSONResponse(content, status_code=error.status, headers=error.headers)


def _from_dispatcher_error(exc: DispatcherError) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, CampaignNotFound):
        return ApiError(404, str(exc), code="campaign_not_found")
    if isinstance(exc, TransitionRefused):
        return ApiError(409, str(exc), code="transition_refused")
    if isinstance(exc, IdempotencyKeyReused):
        return ApiError(409, str(exc), code="idempotency_key_reused")
    if isinstance(exc, SubmissionInProgress):
        return ApiError(409, str(exc), code="submission_in_progress", headers={"Retry-After": "1"})
    if isinstance(exc, SubmissionPurged):
        return ApiError(410, str(exc), code="campaign_purged")
    if isinstance(exc, RedisUntrusted):
        return ApiError(503, str(exc), code="redis_untrusted")
    if isinstance(exc, StateError):
        log.warning("api.state_unavailable", error=str(exc))
        return ApiError(503, "campaign state is unavailable, retry later", code="unavailable")
    if isinstance(exc, AccountMismatch):
        errors = [FieldError(field=p.field, message=p.message) for p in exc.problems]
        return ApiError(422, str(exc), code="account_mismatch", errors=errors)
    if isinstance(exc, InputError):
        return ApiError(422, str(exc), code="invalid_input")
    log.error("api.dispatcher_error", error=str(exc), kind=type(exc).__name__)
    return ApiError(500, "internal error", code="internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every expected error to one JSON shape."""

    async def dispatcher_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DispatcherError)  # registered for that class only
        return error_response(request, _from_dispatcher_error(exc))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)  # registered for that class only
        message = exc.detail if isinstance(exc.detail, str) else _CODES.get(exc.status_code, "")
        headers = dict(exc.headers) if exc.headers else None
        error = ApiError(exc.status_code, message, headers=headers)
        return error_response(request, error)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # registered for that class only
        errors = field_errors(list(exc.errors()))
        return error_response(request, ApiError(422, "the request is not valid", errors=errors))

    app.add_exception_handler(DispatcherError, dispatcher_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
