"""`/intake/{external_id}`: what became of a series of intake messages (the dramatiq way in)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from dispatcher.access.tokens import Scope
from dispatcher.api.auth import require_scope
from dispatcher.api.errors import ApiError
from dispatcher.api.models import ErrorBody, IntakeRecordBody
from dispatcher.api.services import services
from dispatcher.intake.contract import EXTERNAL_ID_PATTERN
from dispatcher.intake.series import read_intake

__all__ = ["router"]

router = APIRouter(prefix="/intake", tags=["intake"])


@router.get(
    "/{external_id}",
    response_model=IntakeRecordBody,
    responses={
        401: {"model": ErrorBody, "description": "No valid bearer token."},
        403: {"model": ErrorBody, "description": "The token lacks the scope."},
        404: {"model": ErrorBody, "description": "No such series (or its refusal expired)."},
        503: {"model": ErrorBody, "description": "Redis is unreachable; retry later."},
    },
    summary="An intake series' outcome",
    dependencies=[require_scope(Scope.READ)],
)
def intake_record(
    request: Request,
    external_id: str = Path(pattern=EXTERNAL_ID_PATTERN, description="The sender's id."),
) -> dict[str, Any]:
    """Draft (parts still coming), submitted (campaign and report) or refused (why)."""
    found = read_intake(services(request).store, external_id)
    if found is None:
        raise ApiError(404, f"no intake series {external_id!r}", code="intake_not_found")
    return found.as_dict()
