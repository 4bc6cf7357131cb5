"""Unauthenticated operational routes: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from dispatcher.api.errors import ApiError
from dispatcher.api.models import ErrorBody, Health
from dispatcher.api.services import services
from dispatcher.errors import StateError
from dispatcher.metrics import render

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness")
def healthz() -> Health:
    """The process is up and serving (it checks nothing else)."""
    return Health(status="ok")


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "Redis is not reachable."}
}


@router.get("/readyz", response_model=Health, responses=_NOT_READY, summary="Readiness")
def readyz(request: Request) -> Health:
    """Redis answers a PING: the process can take traffic."""
    try:
        services(request).store.ping()
    except StateError:
        raise ApiError(503, "redis is not reachable", code="not_ready") from None
    return Health(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format.", "content": {"text/plain": {}}}},
    summary="Prometheus metrics",
)
def metrics(request: Request) -> Response:
    """This process's metrics and contacts by state of active and recent campaigns."""
    return Response(render(services(request).registry), media_type=CONTENT_TYPE_LATEST)
