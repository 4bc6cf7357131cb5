"""The sandbox as an ASGI app: the provider's endpoints behind fault injection, plus /_sandbox.

API endpoints are small raw-ASGI callables (one per path) so that the hot path stays lean and the
`drop` fault can start a response and cut it. The inspection routes under `/_sandbox` are plain
Starlette endpoints; faults and the rate limit never apply to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dispatcher.sandbox.arrivals import arrival_s
from dispatcher.sandbox.clock import SimClock
from dispatcher.sandbox.config import RUNTIME_FIELDS, SandboxConfig
from dispatcher.sandbox.errors import (
    ConnectionDropped,
    InsufficientBalance,
    InvalidApiKey,
    InvalidRequest,
    MalformedBody,
    MethodNotAllowed,
    RequestRefused,
    UriTooLong,
)
from dispatcher.sandbox.faults import (
    DROP,
    ERROR,
    HANG,
    HTML_ERROR_BODY,
    RATE_LIMITED,
    FaultEntry,
    Faults,
)
from dispatcher.sandbox.handlers import Handler, Outcome, Request, build_routes
from dispatcher.sandbox.state import SandboxState
from dispatcher.sandbox.stats import Stats
from dispatcher.sandbox.webhooks import WebhookScheduler

__all__ = ["Sandbox", "create_app"]

_JSON = b"application/json"
_HTML = b"text/html; charset=utf-8"
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
#: The one endpoint the reference documents as a GET-request (its sample POSTs).
LANGUAGES_PATH = "/apiCalls/getAvailableLanguages"
GET_PATH = "/apiCalls/get"


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = _JSON,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if extra:
        headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _phones_of(body: dict[str, Any]) -> list[str]:
    phones = body.get("phones")
    if isinstance(phones, list):
        return [str(p) for p in phones]
    phone = body.get("phone")
    return [str(phone)] if phone is not None else []


class Sandbox:
    """One emulated provider: config, clock, state, stats, faults and the webhook scheduler."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = SimClock(config.speedup)
        self.state = SandboxState(config, self.clock)
        self.stats = Stats()
        self.faults = Faults(config)
        self.webhooks = WebhookScheduler(self.state, self.stats, self.clock)
        self.routes = build_routes(config.template_list_path, config.template_create_path)
        self.create_paths = frozenset({"/apiCalls/create", config.template_create_path})

    def reset(self) -> None:
        """Forget calls, created records, stats and faults; keep the config; realign the clock."""
        # A sped-up clock runs ahead of the wall clock; a reset account starts from "now" again,
        # so that a plannedAt computed from the wall clock means what it says.
        self.clock.realign()
        self.state.reset()
        self.stats.reset()
        self.faults.reset()
        self.webhooks.clear()

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply a partial runtime update; raises ValueError naming what is not allowed."""
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ValueError(f"not runtime-configurable: {sorted(unknown)}")
        merged = SandboxConfig.model_validate({**self.config.model_dump(), **changes})
        for name in changes:
            setattr(self.config, name, getattr(merged, name))
        if "speedup" in changes:
            self.clock.set_speedup(self.config.speedup)
        if "balance" in changes:
            self.state.set_balance(self.config.balance)
        self.webhooks.wake()

    def inspect(self) -> dict[str, Any]:
        """The `/_sandbox/stats` body."""
        return {
            **self.stats.snapshot(),
            "calls_by_status": self.state.calls_by_status(),
            "faults": self.faults.snapshot(),
            "balance": round(self.state.settle(), 4),
            "sim_now": self.clock.now(),
        }


class ApiEndpoint:
    """The raw-ASGI endpoint of one provider path: rate limit, faults, parse, key, handler."""

    def __init__(self, sandbox: Sandbox, path: str, handler: Handler) -> None:
        self.sandbox = sandbox
        self.path = path
        self.handler = handler
        self.is_create = path in sandbox.create_paths

    def _refused_before_reading(self, scope: Scope) -> RequestRefused | None:
        """What a front server would refuse before the app sees it: the URL length, the method."""
        config = self.sandbox.config
        if config.max_url_bytes is not None:
            target = scope.get("raw_path") or self.path.encode()
            query = scope.get("query_string") or b""
            if len(target) + (len(query) + 1 if query else 0) > config.max_url_bytes:
                return UriTooLong()
        methods = config.languages_methods if self.path == LANGUAGES_PATH else ["POST"]
        if scope.get("method", "POST") not in methods:
            return MethodNotAllowed()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox, path = self.sandbox, self.path
        config, faults, stats = sandbox.config, sandbox.faults, sandbox.stats
        arrived = arrival_s(scope)  # stamped by the kernel: a late loop does not bunch them
        stats.arrived(path, arrived)
        http = HttpRequest(scope, receive)
        early = self._refused_before_reading(scope)
        if early is not None:
            stats.answered(path, early.status_code)
            await _answer(send, early.status_code, _dumps(early.body()))
            return
        retry_after_s = faults.retry_after_s(arrived)
        if retry_after_s is not None:
            faults.record(
                FaultEntry(RATE_LIMITED, path, False, 429, phones=await self._phones(http))
            )
            stats.answered(path, 429)
            body = _dumps({"status": "error", "message": "too many requests"})
            await _answer(send, 429, body, extra=[(b"retry-after", str(retry_after_s).encode())])
            return
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        fault = faults.draw()
        if fault == ERROR:
            status, html = faults.error_answer()
            faults.record(FaultEntry(ERROR, path, False, status, phones=await self._phones(http)))
            stats.answered(path, status)
            if html:
                await _answer(send, status, HTML_ERROR_BODY.format(status=status).encode(), _HTML)
            else:
                await _answer(send, status, _dumps({"status": "error", "message": "server error"}))
            return
        outcome: Outcome | None = None
        try:
            request = await self._parse(http, scope)
            # A GET has no body: its key comes in the query string (the reference's GET form).
            key = (
                _query_value(request.query, "apiKey")
                if request.method == "GET"
                else request.body.get("apiKey")
            )
            if key not in config.api_keys:
                raise InvalidApiKey
            outcome = self.handler(sandbox.state, request)
            status, payload = 200, outcome.payload
        except RequestRefused as exc:
            status, payload = exc.status_code, exc.body()
            if config.refusal_status is not None and isinstance(
                exc, InvalidRequest | InsufficientBalance
            ):
                # A provider that answers its refusals with another status (e.g. 200 + error).
                status = config.refusal_status
        body = _dumps(payload)
        api_call_id, phones = None, []
        if outcome is not None and outcome.api_call_id is not None:
            api_call_id, phones = outcome.api_call_id, outcome.phones
            stats.create_applied(phones)
        if outcome is not None and status == 200 and path == GET_PATH:
            stats.get_ids += sum(1 for k, _ in request.query if k.startswith("apiCallIdList"))
        stats.answered(path, status)
        if fault == HANG:
            faults.record(FaultEntry(HANG, path, outcome is not None, status, api_call_id, phones))
            await asyncio.sleep(config.hang_s)
        elif fault == DROP:
            faults.record(FaultEntry(DROP, path, outcome is not None, status, api_call_id, phones))
            headers = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            raise ConnectionDropped(path)
        await _answer(send, status, body)

    async def _phones(self, http: HttpRequest) -> list[str]:
        """The phones a create asked for, best effort (for the fault log of unapplied requests)."""
        if not self.is_create:
            return []
        try:
            body = json.loads(await http.body() or b"{}")
        except ValueError:
            return []
        return _phones_of(body) if isinstance(body, dict) else []

    @staticmethod
    async def _parse(http: HttpRequest, scope: Scope) -> Request:
        client = scope.get("client")
        label = client[0] if client else "unknown"
        query = [(k, v) for k, v in http.query_params.multi_items()]
        if http.method == "GET":
            return Request({}, query, label, method="GET")
        content_type = http.headers.get("content-type", "")
        if content_type.startswith(_FORM_TYPES):
            try:
                async with http.form() as form:
                    fields: dict[str, Any] = {}
                    upload_name = None
                    for key, value in form.multi_items():
                        if isinstance(value, UploadFile):
                            upload_name = value.filename or key
                        else:
                            fields[key] = value
            except Exception as exc:  # the multipart parser raises its own error types
                raise MalformedBody("the form body could not be parsed") from exc
            return Request(fields, query, label, upload_name)
        raw = await http.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise MalformedBody("malformed JSON") from exc
        if not isinstance(body, dict):
            raise MalformedBody("the body must be a JSON object")
        return Request(body, query, label)


def _query_value(query: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in query if key == name), None)


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox's ASGI app; its `Sandbox` is at `app.state.sandbox`."""
    sandbox = Sandbox(config or SandboxConfig())

    async def stats(request: HttpRequest) -> JSONResponse:
        return JSONResponse(sandbox.inspect())

    async def reset(request: HttpRequest) -> JSONResponse:
        sandbox.reset()
        return JSONResponse({"status": "success"})

    async def configure(request: HttpRequest) -> JSONResponse:
        if request.method == "POST":
            try:
                changes = await request.json()
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object")
                sandbox.configure(changes)
            except (ValueError, ValidationError) as exc:
                return JSONResponse({"status": "error", "message": str(exc)}, status_code=422)
        return JSONResponse(sandbox.config.public_dump())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = sandbox.config
        await sandbox.webhooks.start(config.webhook_timeout_s, config.webhook_concurrency)
        try:
            yield
        finally:
            await sandbox.webhooks.stop()

    routes = [
        Route(path, ApiEndpoint(sandbox, path, handler), methods=["POST", "GET"])
        for path, handler in sandbox.routes.items()
    ]
    routes += [
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/config", configure, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
