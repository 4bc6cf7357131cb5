"""The webhook receiver: token, source allow-list, call details and IVR actions, failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dispatcher.api import create_app
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore, now_ms
from dispatcher.webhook_tokens import webhook_token
from tests.api.conftest import SPEC, WEBHOOK_SECRET, ApiServer, make_settings, phones

API_CALL_ID = 777


def sent_campaign(client: httpx.Client, store: StateStore, n: int = 2) -> tuple[str, list[str]]:
    """A campaign whose only batch was created at the provider as api call 777."""
    spec = {**SPEC, "batch_size": n}
    response = client.post("/campaigns", json={"spec": spec, "contacts": phones(n)})
    campaign_id: str = response.json()["campaign_id"]
    claim = store.claim_batch(campaign_id, 1, 60_000, "test-lease")
    assert claim.outcome == "claimed"
    store.mark_sent(campaign_id, 1, "test-lease", str(API_CALL_ID), claim.phones, now_ms() + 1000)
    return campaign_id, list(claim.phones)


def details(numbers: list[str], status: str, finished: bool = True) -> dict[str, Any]:
    now = int(time.time())
    calls = [
        {
            "phone": phone,
            "status": status,
            "startedAt": now - 30,
            "answeredAt": now - 25,
            "finishedAt": now - 5 if finished else None,
            "hangupCause": 16,
            "ivrDigit": 1,
        }
        for phone in numbers
    ]
    return {"id": API_CALL_ID, "webhookTry": 1, "calls": calls}


def url(campaign_id: str, secret: str = WEBHOOK_SECRET) -> str:
    return f"/webhooks/effebot/{webhook_token(secret, campaign_id)}"


def test_call_details_reconcile_the_contacts_and_answer_200(
    client: httpx.Client, anonymous: httpx.Client, store: StateStore
) -> None:
    cid, numbers = sent_campaign(client, store)
    response = anonymous.post(url(cid), json=details(numbers, "completed"))
    assert response.status_code == 200, response.text
    assert response.json() == {"outcome": "applied"}
    assert store.counts(cid) == {"completed": 2}
    assert store.status(cid).value == "finished"
    # the same webhook again (the provider retries) changes nothing
    assert anonymous.post(url(cid), json=details(numbers, "completed")).status_code == 200
    assert store.counts(cid) == {"completed": 2}


def test_a_progress_webhook_pushes_the_next_poll_back(
    client: httpx.Client, anonymous: httpx.Client, store: StateStore, api_settings: Settings
) -> None:
    cid, numbers = sent_campaign(client, store)
    before = store.next_poll_due_ms(cid)
    response = anonymous.post(url(cid), json=details(numbers, "in_progress", finished=False))
    assert response.status_code == 200
    due = store.next_poll_due_ms(cid)
    assert before is not None
    assert due is not None
    assert due >= now_ms() + api_settings.poll_max_interval_s * 1000 - 5000
    assert store.counts(cid) == {"sent": 2}


def test_an_ivr_action_is_recorded_on_the_contact(
    client: httpx.Client, anonymous: httpx.Client, store: StateStore
) -> None:
    cid, numbers = sent_campaign(client, store)
    body = {"call": {"phone": numbers[0], "answer": "yes"}, "survey": "q1"}
    response = anonymous.post(url(cid), json=body)
    assert response.json() == {"outcome": "recorded"}
    record = store.contact(cid, numbers[0])
    assert record is not None
    assert record.fields["iv"] == ["yes"]
    stranger = anonymous.post(url(cid), json={"call": {"phone": "12125550000", "answer": 1}})
    assert stranger.json() == {"outcome": "unknown_phone"}


def test_a_token_for_another_secret_or_a_garbled_one_is_404(
    client: httpx.Client, anonymous: httpx.Client, store: StateStore
) -> None:
    cid, numbers = sent_campaign(client, store)
    body = details(numbers, "completed")
    for path in (url(cid, "another-secret"), f"/webhooks/effebot/{cid}", "/webhooks/effebot/x.y"):
        response = anonymous.post(path, json=body)
        assert response.status_code == 404, path
    assert store.counts(cid) == {"sent": 2}


def test_a_malformed_body_is_400_and_an_unknown_shape_422(
    client: httpx.Client, anonymous: httpx.Client, store: StateStore
) -> None:
    cid, _ = sent_campaign(client, store)
    bad_json = anonymous.post(url(cid), content=b"{not json", headers={"Content-Type": "text/json"})
    assert bad_json.status_code == 400
    assert anonymous.post(url(cid), json={"hello": 1}).status_code == 422
    assert anonymous.post(url(cid), json={"calls": []}).status_code == 422  # no id
    assert anonymous.post(url(cid), json=[1, 2]).status_code == 422


@pytest.fixture
def serve(api_server: ApiServer, store: StateStore) -> Iterator[Any]:
    """Serve an app built from other settings for the rest of the test."""

    def install(settings: Settings, app_store: StateStore | None = None) -> httpx.Client:
        api_server.switch.app = create_app(settings, store=app_store or store)
        return httpx.Client(base_url=api_server.url, timeout=10)

    yield install
    api_server.switch.app = None


def test_a_source_outside_the_allow_list_is_403(
    client: httpx.Client, store: StateStore, settings: Settings, serve: Any
) -> None:
    cid, numbers = sent_campaign(client, store)
    allowed_elsewhere = make_settings(settings, webhook_allowed_sources=["209.97.136.240"])
    with serve(allowed_elsewhere) as http:
        assert http.post(url(cid), json=details(numbers, "completed")).status_code == 403
    assert store.counts(cid) == {"sent": 2}


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    client: httpx.Client, store: StateStore, settings: Settings, serve: Any
) -> None:
    cid, numbers = sent_campaign(client, store)
    provider = {"X-Forwarded-For": "209.97.136.240"}
    untrusted = make_settings(settings, webhook_allowed_sources=["209.97.136.240"])
    with serve(untrusted) as http:
        assert http.post(url(cid), json={}, headers=provider).status_code == 403
    trusted = make_settings(
        settings, webhook_allowed_sources=["209.97.136.240/32"], trusted_proxies=["127.0.0.0/8"]
    )
    with serve(trusted) as http:
        response = http.post(url(cid), json=details(numbers, "busy"), headers=provider)
        assert response.status_code == 200, response.text
    assert store.counts(cid) == {"busy": 2}


def test_when_redis_is_down_the_webhook_is_503_so_the_provider_retries(
    client: httpx.Client, store: StateStore, settings: Settings, serve: Any
) -> None:
    cid, numbers = sent_campaign(client, store)
    dead = StateStore.connect(f"redis://127.0.0.1:{free_port()}", settings.key_prefix)
    with serve(make_settings(settings), dead) as http:
        response = http.post(url(cid), json=details(numbers, "completed"))
        assert response.status_code == 503
        assert "traceback" not in response.text.lower()
        assert http.get("/readyz").status_code == 503
        assert http.get("/healthz").status_code == 200


def test_webhooks_are_404_when_no_secret_is_configured(
    client: httpx.Client, store: StateStore, settings: Settings, serve: Any
) -> None:
    cid, numbers = sent_campaign(client, store)
    with serve(make_settings(settings, webhook_secret=None)) as http:
        assert http.post(url(cid), json=details(numbers, "completed")).status_code == 404
