"""Request ids, one log line and metrics per request, and the last line of defence against bugs.

A pure ASGI middleware (not `BaseHTTPMiddleware`, which buffers streamed answers and breaks
contextvars): it binds `request_id` (the caller's `X-Request-ID` when it is sane, else a new one)
for every log line of the request and returns it in the answer's headers. Paths are logged as their
route template (`/webhooks/effebot/{token}`), never raw: the webhook path holds a secret. An
exception that nothing handled is logged once, here, and answered with a bare 500.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatcher.logs import get_logger
from dispatcher.metrics import observe_http_request

__all__ = ["RequestLogMiddleware", "request_id_of"]

log = get_logger(__name__)

HEADER = "x-request-id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
#: Routes polled by probes and scrapers: logged at DEBUG so they do not drown the rest.
_QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's request id when it is sane, else a new one."""
    for name, value in headers:
        if name.lower() == HEADER.encode():
            text = value.decode("latin-1")
            if _SANE_ID.match(text):
                return text
    return uuid.uuid4().hex


def _route_of(scope: Scope, status: int) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # FastAPI's own pages (/openapi.json, /docs) carry no route object: a fixed, short set of
    # paths. Anything else without a route is a 404 whose path a caller chose: never a label.
    raw = scope.get("path", "")
    if status < 400 and isinstance(raw, str) and not raw.startswith("/webhooks/"):
        return raw
    return "unmatched"


class RequestLogMiddleware:
    """Binds a request id, logs `http.request`, counts it, and turns a crash into a bare 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception(
                    "http.unhandled_error", method=scope["method"], route=_route_of(scope, 500)
                )
                status = 500
                if not response_started:
                    await _send_500(send, request_id)
            route = _route_of(scope, status)
            latency_s = time.perf_counter() - started
            observe_http_request(scope["method"], route, status, latency_s)
            level = "debug" if route in _QUIET and status < 400 else "info"
            getattr(log, level)(
                "http.request",
                method=scope["method"],
                route=route,
                status=status,
                latency_ms=round(latency_s * 1000, 2),
            )


async def _send_500(send: Send, request_id: str) -> None:
    body: dict[str, Any] = {
        "error": "internal_error",
        "message": "internal error",
        "request_id": request_id,
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (HEADER.encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
