"""The committed OpenAPI document matches the app, and fuzzing the app against it finds no 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from dispatcher.api.openapi import COMMITTED, render
from tests.api.conftest import TOKEN, ApiServer


def test_the_committed_openapi_document_is_up_to_date() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        "regenerate it: .venv/bin/python -m dispatcher.api.openapi > dispatcher/api/openapi.json"
    )


def test_the_app_serves_its_openapi_document(client: httpx.Client) -> None:
    served = client.get("/openapi.json").json()
    assert served["paths"].keys() == {
        "/campaigns",
        "/campaigns/{campaign_id}",
        "/campaigns/{campaign_id}/pause",
        "/campaigns/{campaign_id}/resume",
        "/campaigns/{campaign_id}/cancel",
        "/campaigns/{campaign_id}/reschedule",
        "/campaigns/{campaign_id}/results",
        "/intake/{external_id}",
        "/campaigns/{campaign_id}/activity",
        "/campaigns/{campaign_id}/events",
        "/me",
        "/dnc",
        "/dnc/search",
        "/webhooks/effebot/{token}",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    assert served["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


#: The committed document (the test above keeps it equal to the app's).
fuzzed = schemathesis.openapi.from_path(str(COMMITTED))


@fuzzed.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_makes_the_api_fail(
    case: Any, app: Any, api_server: ApiServer
) -> None:
    case.call_and_validate(
        base_url=api_server.url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[not_a_server_error],
    )
