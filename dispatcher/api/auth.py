"""Bearer-token authentication for the intake routes: several tokens, compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from dispatcher.api.errors import ApiError
from dispatcher.api.services import services

__all__ = ["require_token", "token_matches"]

_bearer = HTTPBearer(
    auto_error=False,
    description="One of DISPATCHER_API_TOKENS (several are accepted, so keys can rotate).",
)


def token_matches(presented: str, accepted: Sequence[SecretStr]) -> bool:
    """True when `presented` equals one of `accepted`; every token is compared, in constant time."""
    given = presented.encode()
    found = False
    for token in accepted:
        # No early exit: the time taken does not tell which token (or how many) matched.
        found |= hmac.compare_digest(given, token.get_secret_value().encode())
    return found


def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """A FastAPI dependency: 401 unless the request carries an accepted bearer token."""
    accepted = services(request).settings.api_tokens
    if credentials is None or not token_matches(credentials.credentials, accepted):
        raise ApiError(
            401,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
