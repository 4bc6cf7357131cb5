"""`GET /me`: the presented token's name and what it may do, so a client (the console) can show
only the actions the token allows. The API enforces the scopes on every route anyway."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dispatcher.access.tokens import ApiToken, Scope
from dispatcher.api.auth import require_scope
from dispatcher.api.models import ErrorBody

__all__ = ["Caller", "router"]

router = APIRouter(tags=["access"])


class Caller(BaseModel):
    """Who the token says the caller is."""

    name: str | None = Field(description="The token's name in DISPATCHER_API_TOKENS, if any.")
    scopes: list[Scope] = Field(
        description="Every scope the token allows (its own and those they include), widest first."
    )


@router.get(
    "/me",
    response_model=Caller,
    responses={401: {"model": ErrorBody, "description": "No valid bearer token."}},
    summary="The token's name and scopes",
)
def me(token: Annotated[ApiToken, require_scope(Scope.READ)]) -> dict[str, Any]:
    """The calling token's name and every scope it allows (any accepted token may ask)."""
    return {"name": token.name, "scopes": [scope for scope in Scope if token.allows(scope)]}
