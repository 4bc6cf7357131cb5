"""Bearer tokens and their scopes: the one dependency every authenticated route declares.

`require_scope(Scope.READ)` (and `OPERATE`, `ADMIN`) goes in a route's `dependencies`, or as a
parameter when the route wants the token itself. It answers 401 (`WWW-Authenticate: Bearer`)
without an accepted token and 403 `insufficient_scope` when the token lacks the scope, and it puts
the scope into the OpenAPI document (the operation's `security`). Anything served to people or
programs over the API's port, the console's pages included, uses it: a test walks every route of
the app and checks the scope each one asks for.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from dispatcher.access.tokens import ApiToken, Scope, match_token
from dispatcher.api.errors import ApiError
from dispatcher.api.services import services

__all__ = ["BEARER_SCHEME", "require_scope"]

#: The security scheme's name in the OpenAPI document.
BEARER_SCHEME = "HTTPBearer"

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=BEARER_SCHEME,
    description=(
        "One of DISPATCHER_API_TOKENS (several are accepted, so keys can rotate). Each token has "
        "scopes, each including the ones after it; an operation lists the one it needs. "
        + "; ".join(f"`{scope.value}`: {scope.meaning}" for scope in Scope)
        + "."
    ),
)


async def _check(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    # Async on purpose: no I/O here, and the caller's name bound below must land in the request's
    # own context (a sync dependency runs in a worker thread's copy of it).
    accepted = services(request).settings.api_tokens
    token = match_token(credentials.credentials, accepted) if credentials is not None else None
    if token is None:
        raise ApiError(
            401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if token.name:
        structlog.contextvars.bind_contextvars(caller=token.name)
    for needed in (Scope(name) for name in security_scopes.scopes):
        if not token.allows(needed):
            raise ApiError(
                403,
                f"this token does not have the `{needed.value}` scope",
                code="insufficient_scope",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed.value}"'
                },
            )
    return token


def require_scope(scope: Scope) -> Any:
    """A dependency admitting only requests whose bearer token grants `scope` (401 / 403)."""
    return Security(_check, scopes=[scope.value])
