"""GET /intake/{external_id}: what became of a series of intake messages."""

from __future__ import annotations

import httpx

from dispatcher.intake.series import take_message
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, phones


def test_a_submitted_and_a_refused_series_are_read_back(
    client: httpx.Client, store: StateStore, api_settings: Settings
) -> None:
    def enqueue(actor: str, args: tuple[object, ...], delay_ms: int | None) -> None:
        return None

    ok = {"external_id": "ok-1", "spec": SPEC, "contacts": phones(3)}
    take_message(store, enqueue, api_settings, (), ok)
    bad = {"external_id": "bad-1", "spec": {"name": "x"}, "contacts": phones(1)}
    take_message(store, enqueue, api_settings, (), bad)
    submitted = client.get("/intake/ok-1").json()
    assert submitted["state"] == "submitted"
    assert submitted["report"]["accepted"] == 3
    assert client.get(f"/campaigns/{submitted['campaign_id']}").status_code == 200
    refused = client.get("/intake/bad-1").json()
    assert refused["state"] == "refused"
    assert refused["campaign_id"] is None
    assert refused["errors"][0]["field"] == "spec"
    missing = client.get("/intake/never")
    assert missing.status_code == 404
    assert missing.json()["error"] == "intake_not_found"
    assert client.get("/intake/has%20space").status_code == 422
