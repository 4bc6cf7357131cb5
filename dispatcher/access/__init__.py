"""Who may do what: API tokens and their scopes (the HTTP API's dependency is `api.auth`)."""

from __future__ import annotations

from dispatcher.access.tokens import ApiToken, Scope, check_unique, match_token, parse_token_list

__all__ = ["ApiToken", "Scope", "check_unique", "match_token", "parse_token_list"]
