"""`POST /campaigns` checks the campaign against the provider account before writing anything."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from dispatcher.api import create_app
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.store import StateStore
from tests.api.conftest import TOKEN, ApiServer, make_settings, phones, queued

CALL = {"outgoingPhone": "99999999997", "record": {"text": "Hello", "gender": 0}}


@pytest.fixture
def checked(
    settings: Settings, sandbox: Any, redis_client: redis.Redis, api_server: ApiServer
) -> Iterator[tuple[httpx.Client, Settings, StateStore]]:
    """A client of an app that has an API key, so its submissions go through the preflight."""
    api_settings = make_settings(
        settings, effebot_base_url=sandbox.url, effebot_api_key=SANDBOX_API_KEY
    )
    store = StateStore(redis_client, api_settings.key_prefix)
    api_server.switch.app = create_app(api_settings, store=store)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=api_server.url, headers=headers, timeout=30) as http:
        yield http, api_settings, store
    api_server.switch.app = None


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_campaign_the_account_cannot_serve_is_422_naming_fields_and_allowed_values(
    checked: tuple[httpx.Client, Settings, StateStore],
    redis_client: redis.Redis,
    dry_run: bool,
) -> None:
    client, api_settings, store = checked
    spec = {"name": "api", "call": {**CALL, "outgoingPhone": "15550001111", "lang": "fr-FR"}}
    response = client.post(
        "/campaigns", json={"spec": spec, "contacts": phones(2)}, params={"dry_run": dry_run}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "account_mismatch"
    fields = {error["field"]: error["message"] for error in body["errors"]}
    assert set(fields) == {"call.outgoingPhone", "call.lang"}
    assert "99999999997, 99999999999" in fields["call.outgoingPhone"]
    assert "en-US, ru-RU, es-ES, de-DE" in fields["call.lang"]
    assert store.list_campaigns() == []
    assert queued(redis_client, api_settings) == 0


def test_a_campaign_that_fits_is_accepted_and_the_dry_run_says_it_was_checked(
    checked: tuple[httpx.Client, Settings, StateStore],
) -> None:
    client, _, _ = checked
    body = {"spec": {"name": "api", "call": {**CALL, "lang": "en-US"}}, "contacts": phones(2)}
    dry = client.post("/campaigns", json=body, params={"dry_run": True})
    assert dry.status_code == 200
    assert dry.json()["account_check"].startswith("checked against the account")
    assert client.post("/campaigns", json=body).status_code == 201
