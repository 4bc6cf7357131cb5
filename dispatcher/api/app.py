"""`create_app(settings)`: the ASGI app of the HTTP API, its routes, errors and middleware.

FastAPI over Starlette: the pydantic models the dispatcher already validates specs with become the
OpenAPI schema (`/openapi.json`, `/docs`) without a second description that could drift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from dispatcher import __version__, console
from dispatcher.api import activity, campaigns, dnc, me, ops, series, webhooks
from dispatcher.api.bodylimit import BodyLimitMiddleware
from dispatcher.api.errors import install_error_handlers
from dispatcher.api.metrics_cache import MetricsCache
from dispatcher.api.models import SubmitJson
from dispatcher.api.requestlog import RequestLogMiddleware
from dispatcher.api.services import Services
from dispatcher.api.sources import networks
from dispatcher.errors import ConfigurationError
from dispatcher.logs import get_logger
from dispatcher.metrics import CampaignCollector, FleetCollector, render
from dispatcher.queue import make_enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from dispatcher.store.trust import RedisTrust

__all__ = ["create_app"]

log = get_logger(__name__)

DESCRIPTION = """Submit voice-call campaigns to the effebot dispatcher, control them, read their
results and manage the do-not-call list. Every route under `/campaigns`, `/intake` and `/dnc` needs
a bearer token (`DISPATCHER_API_TOKENS`) with the scope its operation lists (`read`, `operate` or
`admin`, each including the ones before it in that list); `/healthz` and `/readyz` need none,
`/metrics` needs `DISPATCHER_METRICS_TOKEN` when that is set, and the webhook receiver's path token
is its secret."""


def create_app(
    settings: Settings, *, store: StateStore | None = None, check_redis: bool = True
) -> FastAPI:
    """The API for `settings`; `store` defaults to a new client to the Redis the settings name.

    Refuses (`RedisUntrusted`) a Redis that would lose promises or lost its data (`store.trust`);
    `check_redis=False` builds it without asking Redis anything (the OpenAPI document).
    """
    if store is None:
        if not settings.has_redis():
            raise ConfigurationError(
                "DISPATCHER_REDIS_URL (or DISPATCHER_REDIS_SENTINELS) must be set for the HTTP API"
            )
        store = StateStore.from_settings(settings)
    trust = None
    if check_redis:
        trust = RedisTrust(
            store,
            role="api",
            allow_unsafe=settings.allow_unsafe_redis,
            claim_durability=settings.claim_durability,
        )
        trust.check_at_start_or_later()
    try:
        sources = networks(settings.webhook_allowed_sources)
        proxies = networks(settings.trusted_proxies)
    except ValueError as exc:
        raise ConfigurationError(f"webhook source settings: {exc}") from None
    enqueue = make_enqueue(settings, store.client)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CampaignCollector(store, settings.metrics_recent_campaigns))
    registry.register(FleetCollector(store, settings))
    if not settings.api_tokens:
        log.warning("api.no_tokens", hint="set DISPATCHER_API_TOKENS; every intake route is 401")
    if settings.webhook_secret is None:
        log.warning("api.no_webhook_secret", hint="webhooks are refused (404) without one")
    elif not sources:
        log.warning(
            "api.webhook_sources_open",
            hint="DISPATCHER_WEBHOOK_ALLOWED_SOURCES is empty: webhooks are taken from anywhere",
        )

    app = FastAPI(
        title="effebot dispatcher",
        version=__version__,
        description=DESCRIPTION,
    )
    svc = Services(
        settings=settings,
        store=store,
        enqueue=enqueue,
        registry=registry,
        metrics=MetricsCache(lambda: render(registry), settings.metrics_cache_s),
        webhook_sources=sources,
        trusted_proxies=proxies,
        preflight=_preflight(settings, store),
        trust=trust,
    )
    app.state.services = svc
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestLogMiddleware)  # outermost: sees every answer, the 413s included
    app.include_router(campaigns.router)
    app.include_router(series.router)
    app.include_router(activity.router)
    app.include_router(me.router)
    app.include_router(console.router)
    app.include_router(dnc.router)
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    if settings.metrics_port is None:
        app.include_router(ops.metrics_router)
        app.state.metrics_app = None
    else:
        # `dispatcher serve` serves this one on the metrics port.
        app.state.metrics_app = ops.metrics_app(svc)
    _finish_openapi(app)
    return app


def _preflight(settings: Settings, store: StateStore) -> Callable[..., str] | None:
    """The account preflight submissions go through, or None (off, or no API key)."""
    if not settings.preflight or settings.effebot_api_key is None:
        log.warning("api.no_preflight", hint="campaigns are not checked against the account")
        return None
    from dispatcher.account import AccountCheck
    from dispatcher.pacing import GlobalPacer
    from workers.limits import provider_limit

    pacer = GlobalPacer(store.client, settings.key_prefix)
    limit = provider_limit(settings)
    return AccountCheck(settings, store, pace=lambda: pacer.acquire([limit], max_wait_s=60.0)).check


def _finish_openapi(app: FastAPI) -> None:
    """Add `SubmitJson` (read by hand, so FastAPI cannot see it); document our 422 body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        ref = "#/components/schemas/{model}"
        submit = SubmitJson.model_json_schema(ref_template=ref)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in submit.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["SubmitJson"] = submit
        _errors_are_error_bodies(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _errors_are_error_bodies(schema: dict[str, Any]) -> None:
    """FastAPI documents its default 422 body; ours is `ErrorBody` like every other error."""
    default = "#/components/schemas/HTTPValidationError"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            body = answer.get("content", {}).get("application/json", {}).get("schema", {})
            if body.get("$ref") == default:
                body["$ref"] = "#/components/schemas/ErrorBody"
                answer["description"] = "The request is not valid (`errors` name the fields)."
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
