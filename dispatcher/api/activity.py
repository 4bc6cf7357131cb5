"""`/campaigns/{id}/activity` and `/campaigns/{id}/events`: a campaign over time, for the console.

Dials and outcomes per minute come from the bounded per-minute series the workers keep in Redis
(`dispatcher.store.activity`), with the pace the campaign is held to; the events are its recent
notable events (pauses and their reasons, faults, controls). Neither reads a contact.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from dispatcher.access.tokens import Scope
from dispatcher.api.auth import require_scope
from dispatcher.api.campaigns import CampaignId
from dispatcher.api.models import ErrorBody
from dispatcher.api.services import services
from dispatcher.lifecycle import ended_at_ms
from dispatcher.spec import parse_stored_spec
from dispatcher.store import now_ms
from dispatcher.store.activity import KEEP_MINUTES, KINDS

__all__ = ["ActivityBody", "CampaignEvent", "router"]

#: Events one request may ask for (the list keeps the last 100).
MAX_EVENTS = 100

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid bearer token."},
    403: {"model": ErrorBody, "description": "The token lacks the scope."},
    404: {"model": ErrorBody, "description": "No such campaign."},
    503: {"model": ErrorBody, "description": "Redis is unreachable; retry later."},
}


class MinuteBody(BaseModel):
    """One minute with activity: dials started, and dials that ended, by outcome."""

    minute_ms: int = Field(description="The minute's start (UNIX ms).")
    dials: int
    outcomes: dict[str, int]


class Pace(BaseModel):
    """What the campaign's dialling is held to."""

    dials_per_minute_limit: float | None = Field(
        description="The campaign's own `dials_per_minute`, if it sets one."
    )
    provider_rate_per_s: float = Field(
        description="Create requests per second to the provider, all campaigns together."
    )
    batch_size: int = Field(description="Phones per create request.")


class ActivityBody(BaseModel):
    """Dials and outcomes per minute over a window ending now (or when the campaign ended)."""

    campaign_id: str
    from_ms: int
    until_ms: int
    kinds: list[str] = Field(description="`dials` and every outcome a minute can count.")
    minutes: list[MinuteBody] = Field(description="Oldest first; minutes without any are left out.")
    pace: Pace
    start_at: str | None = Field(description="When dialling may begin (ISO 8601), if set.")


class CampaignEvent(BaseModel):
    """One notable event: `kind` (paused, resumed, cancelled, rescheduled, rejected, ambiguous,
    lease_expired, recording_refused, ...) and its details (`reason`, `error`, `batch_no`)."""

    model_config = ConfigDict(extra="allow")

    at_ms: int
    kind: str


@router.get(
    "/{campaign_id}/activity",
    response_model=ActivityBody,
    responses=_ERRORS,
    summary="A campaign's dials and outcomes per minute",
    dependencies=[require_scope(Scope.READ)],
)
def activity(
    request: Request,
    campaign_id: str = CampaignId,
    minutes: int = Query(
        60,
        ge=1,
        le=KEEP_MINUTES,
        description=f"The window's length in minutes (the last {KEEP_MINUTES} are kept).",
    ),
) -> dict[str, Any]:
    """Per-minute dials and outcomes, and the pace the campaign is held to."""
    svc = services(request)
    meta = svc.store.meta(campaign_id)
    # A campaign that ended is shown up to its end, not up to an empty now.
    until = ended_at_ms(meta) or now_ms()
    series = svc.store.activity(campaign_id, until, minutes)
    spec = parse_stored_spec(meta["spec"])
    return {
        "campaign_id": campaign_id,
        "from_ms": (until // 60_000 - minutes + 1) * 60_000,
        "until_ms": until,
        "kinds": list(KINDS),
        "minutes": [minute.as_dict() for minute in series],
        "pace": {
            "dials_per_minute_limit": spec.dials_per_minute,
            "provider_rate_per_s": svc.settings.provider_rate_per_s,
            "batch_size": spec.batch_size,
        },
        "start_at": None if spec.start_at is None else spec.start_at.isoformat(),
    }


@router.get(
    "/{campaign_id}/events",
    response_model=list[CampaignEvent],
    responses=_ERRORS,
    summary="A campaign's recent events",
    dependencies=[require_scope(Scope.READ)],
)
def events(
    request: Request,
    campaign_id: str = CampaignId,
    limit: int = Query(20, ge=1, le=MAX_EVENTS, description="Newest first."),
) -> list[dict[str, Any]]:
    """Pauses and their reasons, faults (rejected or ambiguous creates, lost leases), controls."""
    store = services(request).store
    store.status(campaign_id)  # 404 for a campaign that does not exist
    return store.recent_events(campaign_id, limit)
