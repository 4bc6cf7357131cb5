"""API tokens and what they may do: scopes, the token list's two spellings, constant-time lookup.

Three scopes, each including the ones below it, so a token is given the least that its caller
needs:

    admin     compliance and settings: remove numbers from the do-not-call list, purge data,
      │       settings-level actions
    operate   act on campaigns: submit, pause, resume, cancel, reschedule; add do-not-call numbers
      │
    read      look: campaigns, their progress and results, the do-not-call list

`DISPATCHER_API_TOKENS` is a JSON list. A plain string in it is a token with every scope (`admin`),
which is what every token meant before scopes existed; an object gives a token its scopes and
optionally a name that logs show instead of the token: `{"token": "...", "scopes": ["read"],
"name": "reporting"}`.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["ApiToken", "Scope", "check_unique", "match_token", "parse_token_list"]


class Scope(StrEnum):
    """What a token may do; each scope includes the ones listed after it."""

    ADMIN = "admin"
    OPERATE = "operate"
    READ = "read"

    @property
    def includes(self) -> frozenset[Scope]:
        """This scope and every scope below it."""
        order = list(Scope)
        return frozenset(order[order.index(self) :])

    @property
    def meaning(self) -> str:
        """One line on what the scope allows (the OpenAPI document and the README show it)."""
        return _MEANINGS[self]


_MEANINGS = {
    Scope.ADMIN: "remove do-not-call numbers, purge data, settings-level actions (and operate)",
    Scope.OPERATE: "submit and control campaigns, add do-not-call numbers (and read)",
    Scope.READ: "read campaigns, their results and the do-not-call list",
}


class ApiToken(BaseModel):
    """One accepted bearer token, its scopes and an optional name for the logs."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    token: SecretStr = Field(min_length=1)
    scopes: frozenset[Scope] = Field(min_length=1)
    name: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")

    def allows(self, scope: Scope) -> bool:
        """True when one of the token's scopes includes `scope`."""
        return any(scope in granted.includes for granted in self.scopes)


def parse_token_list(value: Any) -> Any:
    """Plain strings become tokens with every scope; objects are left for validation.

    A pydantic `before` validator of the settings field: it only rewrites, validation follows.
    """
    if not isinstance(value, list | tuple):
        return value
    out: list[Any] = []
    for entry in value:
        if isinstance(entry, str | SecretStr):
            out.append({"token": entry, "scopes": [Scope.ADMIN.value]})
        else:
            out.append(entry)
    return out


def check_unique(tokens: Sequence[ApiToken]) -> None:
    """`ValueError` when one token is listed twice (its scopes would be ambiguous)."""
    seen: set[str] = set()
    for index, token in enumerate(tokens):
        value = token.token.get_secret_value()
        if value in seen:
            raise ValueError(f"the token at position {index} is listed twice")
        seen.add(value)


def match_token(presented: str, accepted: Sequence[ApiToken]) -> ApiToken | None:
    """The accepted token equal to `presented`, or None; compares every token in constant time."""
    given = presented.encode()
    found: ApiToken | None = None
    for token in accepted:
        # No early exit: the time taken does not tell which token (or how many) matched.
        if hmac.compare_digest(given, token.token.get_secret_value().encode()):
            found = token
    return found
