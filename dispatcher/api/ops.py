"""Operational routes: liveness and readiness (open), and Prometheus metrics (optionally guarded).

`/metrics` answers from a copy at most `metrics_cache_s` old, so scrapers (several Prometheus
replicas, a dashboard refreshing) cost one set of Redis reads per window rather than per scrape;
with `metrics_token` set it needs that bearer token; with `metrics_port` set it is served there
instead of on the API's port (`metrics_app`), so it can be kept off the public listener.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from dispatcher.api.errors import ApiError, install_error_handlers
from dispatcher.api.models import ErrorBody, Health
from dispatcher.api.services import Services, services
from dispatcher.errors import StateError

__all__ = ["METRICS_SCHEME", "metrics_app", "metrics_router", "router"]

#: The metrics token's security scheme in the OpenAPI document.
METRICS_SCHEME = "MetricsToken"

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    """The process is up and serving (it checks nothing else)."""
    return Health(status="ok")


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorBody,
        "description": (
            "Redis is not reachable, lost its data (the epoch marker), or would lose promises "
            "(no persistence, an evicting memory policy); the message says which."
        ),
    }
}


@router.get("/readyz", response_model=Health, responses=_NOT_READY, summary="Readiness")
def readyz(request: Request) -> Health:
    """Redis answers, still holds the data this process started with, and keeps its writes."""
    svc = services(request)
    try:
        svc.store.ping()
    except StateError:
        raise ApiError(503, "redis is not reachable", code="not_ready") from None
    problem = None if svc.trust is None else svc.trust.ready_problem()
    if problem is not None:
        raise ApiError(503, problem, code="redis_untrusted")
    return Health(status="ready")


_metrics_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=METRICS_SCHEME,
    description="DISPATCHER_METRICS_TOKEN; needed only when that is set.",
)


def _metrics_allowed(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    expected = services(request).settings.metrics_token
    if expected is None:
        return
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, expected.get_secret_value().encode()):
        raise ApiError(401, "the metrics token is required", headers={"WWW-Authenticate": "Bearer"})


metrics_router = APIRouter(tags=["operations"])


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format.", "content": {"text/plain": {}}},
        401: {"model": ErrorBody, "description": "DISPATCHER_METRICS_TOKEN is set: send it."},
    },
    summary="Prometheus metrics",
    dependencies=[Depends(_metrics_allowed)],
    # The token is optional: without DISPATCHER_METRICS_TOKEN no credentials are needed.
    openapi_extra={"security": [{}]},
)
def metrics(request: Request) -> Response:
    """This process's metrics and contacts by state of active and recent campaigns."""
    return Response(services(request).metrics.get(), media_type=CONTENT_TYPE_LATEST)


def metrics_app(svc: Services) -> FastAPI:
    """`/metrics` alone, on the services of the API's app (for `metrics_port`)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = svc
    install_error_handlers(app)
    app.include_router(metrics_router)
    return app
