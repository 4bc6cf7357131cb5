"""Bearer tokens on every intake route; none on health, metrics and the webhook receiver."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from dispatcher.api.auth import token_matches
from tests.api.conftest import OLD_TOKEN, TOKEN

INTAKE = [
    ("POST", "/campaigns"),
    ("GET", "/campaigns"),
    ("GET", "/campaigns/0123456789abcdef"),
    ("POST", "/campaigns/0123456789abcdef/pause"),
    ("POST", "/campaigns/0123456789abcdef/resume"),
    ("POST", "/campaigns/0123456789abcdef/cancel"),
    ("POST", "/campaigns/0123456789abcdef/reschedule"),
    ("GET", "/campaigns/0123456789abcdef/results"),
    ("GET", "/dnc"),
    ("POST", "/dnc"),
    ("DELETE", "/dnc"),
]


@pytest.mark.parametrize(("method", "path"), INTAKE)
def test_every_intake_route_is_401_without_a_token(
    anonymous: httpx.Client, method: str, path: str
) -> None:
    response = anonymous.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


def test_a_wrong_token_or_scheme_is_401(anonymous: httpx.Client) -> None:
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer x"):
        response = anonymous.get("/campaigns", headers={"Authorization": header})
        assert response.status_code == 401, header


def test_both_the_current_and_the_previous_token_are_accepted(anonymous: httpx.Client) -> None:
    for token in (TOKEN, OLD_TOKEN):
        response = anonymous.get("/campaigns", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


def test_health_readiness_and_metrics_need_no_token(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json() == {"status": "ready"}
    metrics = anonymous.get("/metrics")
    assert metrics.status_code == 200
    assert "dispatcher_state_up 1.0" in metrics.text


def test_with_no_tokens_configured_every_intake_request_is_refused() -> None:
    assert not token_matches("anything", [])


@given(st.text(min_size=1), st.lists(st.text(min_size=1), max_size=4))
def test_a_token_matches_exactly_when_it_is_one_of_the_accepted(
    presented: str, accepted: list[str]
) -> None:
    secrets = [SecretStr(token) for token in accepted]
    assert token_matches(presented, secrets) == (presented in accepted)
