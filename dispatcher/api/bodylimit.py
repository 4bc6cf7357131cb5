"""A ceiling on every request body, read or not, before any route parses it.

FastAPI reads a route's whole JSON body before its dependencies run, the token check included, so
without a ceiling anybody could make the process buffer and parse a body of any size on any route.
This pure ASGI middleware refuses a declared Content-Length over the limit at once (413) and stops
reading a body that crosses it. The two routes that take big bodies count their own, with their own
limits: the submission (`DISPATCHER_MAX_UPLOAD_BYTES`, streamed to disk) and the webhook receiver.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimitMiddleware"]

#: Largest body of any other route: a do-not-call change of 10,000 numbers is ~200 KB.
MAX_BODY_BYTES = 1024 * 1024


class _TooLarge(HTTPException):
    """Raised from `receive`: FastAPI passes an HTTPException on to the app's error handlers."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(413, _message(limit_bytes))


def _message(limit_bytes: int) -> str:
    return f"the request body is larger than {limit_bytes} bytes"


def _own_limit(scope: Scope) -> bool:
    """Routes that bound their bodies themselves (with larger limits)."""
    path = scope.get("path", "")
    if scope.get("method") == "POST" and path.rstrip("/") == "/campaigns":
        return True
    return scope.get("method") == "POST" and path.startswith("/webhooks/")


class BodyLimitMiddleware:
    """413 for a body over `limit_bytes` on any route that does not bound its own."""

    def __init__(self, app: ASGIApp, limit_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _own_limit(scope):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit_bytes:
                await self._refuse(send, scope)
                return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit_bytes:
                    raise _TooLarge(self.limit_bytes)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            # Raised where no error handler caught it (outside a route): answer here.
            if not started:
                await self._refuse(send, scope)

    async def _refuse(self, send: Send, scope: Scope) -> None:
        answer = {"error": "too_large", "message": _message(self.limit_bytes)}
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            answer["request_id"] = request_id
        body = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
