"""Bearer tokens with scopes on every route that needs one; none on health and the webhook receiver.

`ACCESS` is the table of every route the app serves and what it asks for; a test walks the app's
routes and fails for one that is not in it, so a new route (the console's included) has to say
what it needs, and others check that each route asks for exactly that, over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from dispatcher.access.tokens import ApiToken, Scope, match_token
from dispatcher.settings import Settings
from tests.api.conftest import OLD_TOKEN, SCOPED_TOKENS, TOKEN

OPEN = "open"
PATH_TOKEN = "path token"
METRICS_TOKEN = "metrics token"

#: Every route of the app (method, path template) and what it needs.
ACCESS: dict[tuple[str, str], Scope | str] = {
    ("POST", "/campaigns"): Scope.OPERATE,
    ("GET", "/campaigns"): Scope.READ,
    ("GET", "/campaigns/{campaign_id}"): Scope.READ,
    ("POST", "/campaigns/{campaign_id}/pause"): Scope.OPERATE,
    ("POST", "/campaigns/{campaign_id}/resume"): Scope.OPERATE,
    ("POST", "/campaigns/{campaign_id}/cancel"): Scope.OPERATE,
    ("POST", "/campaigns/{campaign_id}/reschedule"): Scope.OPERATE,
    ("GET", "/campaigns/{campaign_id}/results"): Scope.READ,
    ("GET", "/intake/{external_id}"): Scope.READ,
    ("GET", "/campaigns/{campaign_id}/activity"): Scope.READ,
    ("GET", "/campaigns/{campaign_id}/events"): Scope.READ,
    ("GET", "/me"): Scope.READ,
    ("GET", "/dnc"): Scope.READ,
    ("GET", "/dnc/search"): Scope.READ,
    ("POST", "/dnc"): Scope.OPERATE,
    ("DELETE", "/dnc"): Scope.ADMIN,
    ("POST", "/webhooks/effebot/{token}"): PATH_TOKEN,
    ("GET", "/healthz"): OPEN,
    ("GET", "/readyz"): OPEN,
    ("GET", "/metrics"): METRICS_TOKEN,
    ("GET", "/openapi.json"): OPEN,
    ("GET", "/docs"): OPEN,
    ("GET", "/docs/oauth2-redirect"): OPEN,
    ("GET", "/redoc"): OPEN,
    # The console's page and scripts: code, the same for everyone; its data comes from the API.
    ("GET", "/"): OPEN,
    ("GET", "/ui/"): OPEN,
    ("GET", "/ui/assets/{name}"): OPEN,
}
SCOPED = sorted((m, p, s) for (m, p), s in ACCESS.items() if isinstance(s, Scope))
_EXAMPLE = {
    "campaign_id": "0123456789abcdef",
    "token": "0123456789abcdef.nope",
    "external_id": "order-1",
}


def routes_of(app: Any) -> set[tuple[str, str]]:
    """Every (method, path template) the app serves (HEAD aside, which Starlette adds to GET)."""
    try:  # FastAPI >= 0.165 keeps included routers as such and flattens them on demand
        from fastapi.routing import iter_route_contexts

        routes: Iterable[Any] = iter_route_contexts(app.routes)
    except ImportError:
        routes = app.routes
    found = set()
    for route in routes:
        assert route.path is not None, f"not an HTTP route: {route!r}"
        assert route.methods, f"not an HTTP route: {route!r}"
        for method in route.methods:
            if method != "HEAD":
                found.add((method, route.path))
    return found


def example_path(template: str) -> str:
    return template.format(**_EXAMPLE)


def test_every_route_of_the_app_is_in_the_access_table(app: Any) -> None:
    served = routes_of(app)
    assert served - ACCESS.keys() == set(), "add the new route to ACCESS, with what it needs"
    assert ACCESS.keys() - served == set()


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED)
def test_a_scoped_route_is_401_without_a_token(
    anonymous: httpx.Client, method: str, path: str, scope: Scope
) -> None:
    response = anonymous.request(method, example_path(path))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED)
def test_a_scoped_route_refuses_tokens_below_its_scope_and_takes_its_own(
    anonymous: httpx.Client, method: str, path: str, scope: Scope
) -> None:
    for name, token in SCOPED_TOKENS.items():
        response = anonymous.request(
            method, example_path(path), headers={"Authorization": f"Bearer {token}"}
        )
        if Scope(name).includes >= {scope}:
            # Admitted: whatever the answer is (404, 415, 422 for the empty request), not 401/403.
            assert response.status_code not in (401, 403), (name, response.text)
        else:
            assert response.status_code == 403, (name, response.text)
            assert response.json()["error"] == "insufficient_scope"
            assert f'scope="{scope.value}"' in response.headers["www-authenticate"]


def test_the_openapi_document_shows_each_operation_s_scope(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for (method, path), needs in ACCESS.items():
        if path not in paths:
            continue  # FastAPI's own pages
        security = paths[path][method.lower()].get("security")
        if isinstance(needs, Scope):
            assert security == [{"HTTPBearer": [needs.value]}], (method, path)
        elif needs == METRICS_TOKEN:
            assert security == [{"MetricsToken": []}, {}]
        else:
            assert security is None, (method, path)


def test_a_wrong_token_or_scheme_is_401(anonymous: httpx.Client) -> None:
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer x"):
        response = anonymous.get("/campaigns", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_both_the_current_and_the_previous_token_are_accepted(anonymous: httpx.Client) -> None:
    for token in (TOKEN, OLD_TOKEN):
        response = anonymous.get("/campaigns", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


def test_a_plain_token_has_every_scope_as_before(anonymous: httpx.Client) -> None:
    response = anonymous.request(
        "DELETE",
        "/dnc",
        json={"phones": ["+12025550143"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200
    assert response.json() == {"removed": 0}


def test_health_and_readiness_need_no_token(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200  # DISPATCHER_METRICS_TOKEN is not set here
    assert "dispatcher_state_up 1.0" in metrics.text


def test_tokens_are_configured_as_plain_strings_or_with_scopes(monkeypatch: Any) -> None:
    tokens = ["legacy-token", {"token": "ci-token", "scopes": ["read"], "name": "ci"}]
    monkeypatch.setenv("DISPATCHER_API_TOKENS", json.dumps(tokens))
    parsed = Settings(_env_file=None).api_tokens  # type: ignore[call-arg]
    assert [(t.token.get_secret_value(), set(t.scopes), t.name) for t in parsed] == [
        ("legacy-token", {Scope.ADMIN}, None),
        ("ci-token", {Scope.READ}, "ci"),
    ]


@pytest.mark.parametrize(
    "tokens",
    [
        [{"token": "t-secret-1", "scopes": ["root"]}],
        [{"token": "t-secret-1", "scopes": []}],
        [{"token": "t-secret-1", "scopes": ["read"], "colour": "red"}],
        ["t-secret-1", {"token": "t-secret-1", "scopes": ["read"]}],
    ],
)
def test_a_bad_token_list_is_refused_without_echoing_the_token(tokens: list[Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(api_tokens=tokens, _env_file=None)  # type: ignore[call-arg]
    assert "api_tokens" in str(caught.value)
    assert "t-secret-1" not in str(caught.value)


def test_each_scope_includes_the_ones_below_it() -> None:
    assert Scope.ADMIN.includes == {Scope.ADMIN, Scope.OPERATE, Scope.READ}
    assert Scope.OPERATE.includes == {Scope.OPERATE, Scope.READ}
    assert Scope.READ.includes == {Scope.READ}


def test_with_no_tokens_configured_nothing_matches() -> None:
    assert match_token("anything", []) is None


@given(st.text(min_size=1), st.lists(st.text(min_size=1), max_size=4, unique=True))
def test_a_token_matches_exactly_when_it_is_one_of_the_accepted(
    presented: str, accepted: list[str]
) -> None:
    tokens = [ApiToken(token=SecretStr(t), scopes=frozenset({Scope.READ})) for t in accepted]
    found = match_token(presented, tokens)
    assert (found is not None) == (presented in accepted)
    assert found is None or found.token.get_secret_value() == presented
