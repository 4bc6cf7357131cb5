"""Pause, resume, cancel and reschedule over HTTP (the controls themselves are tested elsewhere)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.api.conftest import SPEC, phones


def submit(client: httpx.Client, **spec: object) -> str:
    response = client.post("/campaigns", json={"spec": {**SPEC, **spec}, "contacts": phones(4)})
    assert response.status_code == 201, response.text
    campaign_id: str = response.json()["campaign_id"]
    return campaign_id


def test_a_campaign_is_paused_with_a_reason_and_resumed(client: httpx.Client) -> None:
    cid = submit(client)
    paused = client.post(f"/campaigns/{cid}/pause", json={"reason": "complaints"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    status = client.get(f"/campaigns/{cid}").json()
    assert (status["status"], status["pause_reason"]) == ("paused", "complaints")
    resumed = client.post(f"/campaigns/{cid}/resume")
    assert resumed.status_code == 200, resumed.text
    assert client.get(f"/campaigns/{cid}").json()["status"] == "running"


def test_pausing_without_a_body_uses_the_default_reason(client: httpx.Client) -> None:
    cid = submit(client)
    assert client.post(f"/campaigns/{cid}/pause").status_code == 200
    assert client.get(f"/campaigns/{cid}").json()["pause_reason"]


def test_a_refused_transition_is_409(client: httpx.Client) -> None:
    cid = submit(client)
    response = client.post(f"/campaigns/{cid}/resume")
    assert response.status_code == 409
    assert response.json()["error"] == "transition_refused"


def test_a_cancelled_campaign_ends_its_unsent_contacts_cancelled(client: httpx.Client) -> None:
    cid = submit(client)
    response = client.post(f"/campaigns/{cid}/cancel")
    assert response.status_code == 200, response.text
    status = client.get(f"/campaigns/{cid}").json()
    assert status["status"] == "cancelled"
    assert status["counts"] == {"cancelled": 4}
    assert client.post(f"/campaigns/{cid}/cancel").status_code == 409


def test_a_scheduled_campaign_is_rescheduled_and_a_naive_time_is_422(client: httpx.Client) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    cid = submit(client, start_at=start.isoformat())
    later = (start + timedelta(hours=2)).isoformat()
    response = client.post(f"/campaigns/{cid}/reschedule", json={"start_at": later})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "scheduled"
    naive = client.post(f"/campaigns/{cid}/reschedule", json={"start_at": "2030-01-01T09:00:00"})
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "body.start_at"


def test_controls_on_an_unknown_campaign_are_404(client: httpx.Client) -> None:
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/campaigns/0123456789abcdef/{action}").status_code == 404
