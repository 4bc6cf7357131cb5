"""The inspection routes count what the sandbox saw: requests, creates per phone, peak rates."""

from __future__ import annotations

import httpx

from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import call_body, post


def test_requests_are_counted_per_endpoint_and_status(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    post(client, "/apiCalls/create", call_body())
    post(client, "/apiCalls/create", call_body(phone="123456789012"))
    post(client, "/apiCalls/userInfo", {"apiKey": "wrong"})
    requests = sandbox.stats()["requests"]
    assert requests == {
        "/apiCalls/create": {"200": 1, "422": 1},
        "/apiCalls/userInfo": {"401": 1},
    }


def test_creates_per_phone_count_only_applied_creates(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    post(client, "/apiCalls/create", call_body(phone="1"))
    post(client, "/apiCalls/create", call_body(phone=None, phones=["1", "2"]))
    post(client, "/apiCalls/create", call_body(phone="3", outgoingPhone="1"))  # 422
    sandbox.configure(balance=0)
    post(client, "/apiCalls/create", call_body(phone="4"))  # 402
    assert sandbox.stats()["creates_per_phone"] == {"1": 2, "2": 1}


def test_the_peak_rate_is_the_most_requests_in_any_second(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    for _ in range(12):
        post(client, "/apiCalls/userInfo")
    post(client, "/apiCalls/getPhones")
    stats = sandbox.stats()
    assert stats["peak_rps"] == 13
    assert stats["peak_rps_by_endpoint"] == {"/apiCalls/userInfo": 12, "/apiCalls/getPhones": 1}


def test_stats_report_calls_by_status_balance_and_the_simulated_time(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    post(client, "/apiCalls/create", call_body(plannedAt=4_000_000_000))
    stats = sandbox.stats()
    assert stats["calls_by_status"] == {"planned": 1}
    assert stats["balance"] == 1000.0 - 0.01
    assert stats["sim_now"] > 1_700_000_000
    assert stats["webhooks"]["sent"] == 0


def test_reset_clears_calls_records_stats_and_faults(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    record_id = post(
        client, "/apiCalls/createRecord", {"source": "text", "text": "t", "name": "n"}
    ).json()["id"]
    post(client, "/apiCalls/create", call_body(record={"id": record_id, "gender": 0}))
    sandbox.configure(error_rate=1.0)
    post(client, "/apiCalls/userInfo")
    sandbox.configure(error_rate=0.0)
    sandbox.reset()
    stats = sandbox.stats()
    assert stats["requests"] == stats["creates_per_phone"] == stats["calls_by_status"] == {}
    assert stats["faults"] == []
    assert stats["balance"] == 1000.0
    response = post(client, "/apiCalls/create", call_body(record={"id": record_id, "gender": 0}))
    assert response.status_code == 422
