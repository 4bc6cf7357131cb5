"""Calls play out over the sped-up clock; update and remove only touch calls not yet started."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dispatcher.sandbox.config import FINAL_STATUSES
from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import call_body, get_calls, post, wait_for

PHONES = [f"1555000{i:04d}" for i in range(30)]
FAR_FUTURE = 4_000_000_000


def _create(client: httpx.Client, **fields: Any) -> int:
    response = post(client, "/apiCalls/create", call_body(**fields))
    assert response.status_code == 200, response.text
    call_id: int = response.json()["id"]
    return call_id


def _final(client: httpx.Client, call_id: int) -> dict[str, Any] | None:
    [details] = get_calls(client, call_id)
    done = all(c["status"] in FINAL_STATUSES for c in details["calls"])
    return details if done else None


def test_every_phone_plays_out_to_a_final_status(client: httpx.Client) -> None:
    call_id = _create(client, phone=None, phones=PHONES, needRecording=1)
    details = wait_for(lambda: _final(client, call_id))
    for call in details["calls"]:
        assert call["hangupCause"] == FINAL_STATUSES[call["status"]]
        assert call["startedAt"] <= call["finishedAt"]
        if call["status"] == "completed":
            assert call["startedAt"] + 3 <= call["answeredAt"] <= call["finishedAt"] - 10
            assert call["cost"] > 0
            assert call["recordFilePath"]
        else:
            assert call["answeredAt"] is None
            assert call["cost"] == 0
            assert call["recordFilePath"] is None
    assert len({c["status"] for c in details["calls"]}) > 1, "the default mix has several outcomes"


def test_answered_calls_are_charged_per_started_minute(client: httpx.Client) -> None:
    call_id = _create(client, phone=None, phones=PHONES[:10], record={"id": 1, "gender": 0})
    details = wait_for(lambda: _final(client, call_id))
    spent = sum(c["cost"] for c in details["calls"])
    balance = post(client, "/apiCalls/userInfo").json()["balance"]
    assert balance == pytest.approx(1000.0 - spent)


def test_a_planned_call_stays_planned_until_its_time(client: httpx.Client) -> None:
    call_id = _create(client, plannedAt=FAR_FUTURE)
    [details] = get_calls(client, call_id)
    assert details["plannedAt"] == FAR_FUTURE
    assert details["calls"][0]["status"] == "planned"
    assert details["calls"][0]["startedAt"] is None


def test_update_replans_only_calls_that_have_not_started(client: httpx.Client) -> None:
    planned = _create(client, plannedAt=FAR_FUTURE)
    started = _create(client)
    wait_for(lambda: get_calls(client, started)[0]["calls"][0]["startedAt"])
    soon = int(get_calls(client, planned)[0]["createdAt"]) + 5
    body = {"callList": [{"id": planned, "replannedAt": soon}, {"id": started, "replannedAt": 1}]}
    response = post(client, "/apiCalls/update", body)
    assert response.json() == {"status": "success", "data": {"callIdList": [planned]}}
    [details] = get_calls(client, planned)
    assert details["plannedAt"] == soon
    wait_for(lambda: _final(client, planned))


def test_remove_deletes_only_calls_that_have_not_started(client: httpx.Client) -> None:
    planned = [_create(client, plannedAt=FAR_FUTURE) for _ in range(3)]
    started = _create(client)
    wait_for(lambda: get_calls(client, started)[0]["calls"][0]["startedAt"])
    bulk = post(client, "/apiCalls/remove", {"idList": [planned[0], planned[1], started, 999]})
    assert bulk.json() == {"status": "success", "data": {"callIdList": planned[:2]}}
    single = post(client, "/apiCalls/remove", {"id": planned[2]})
    assert single.json() == {"status": "success", "data": []}
    assert [d["id"] for d in get_calls(client, *planned, started)] == [started]


def test_outcomes_follow_the_configured_mix(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(outcomes={"busy": 1.0}, instant=True)
    call_id = _create(client, phone=None, phones=PHONES)
    [details] = get_calls(client, call_id)
    assert {c["status"] for c in details["calls"]} == {"busy"}
    assert sandbox.stats()["calls_by_status"] == {"busy": len(PHONES)}


def test_instant_mode_makes_every_call_final_at_creation(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(instant=True, speedup=1.0)
    call_id = _create(client, phone=None, phones=PHONES)
    [details] = get_calls(client, call_id)
    assert all(c["status"] in FINAL_STATUSES for c in details["calls"])
    assert max(c["finishedAt"] for c in details["calls"]) <= details["createdAt"]


def test_ivr_answers_block_and_manager_legs_are_reported(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0, instant=True)
    ivrs = [{"digit": 3, "needBlock": 1, "managerPhone": "15559990000"}]
    call_id = _create(client, phone=None, phones=PHONES[:5], ivrs=ivrs)
    [details] = get_calls(client, call_id)
    for call in details["calls"]:
        assert call["ivrDigit"] == 3
        assert call["ivrAnswers"] == "3"
        assert call["toBlock"] == 1
        assert len(call["ivrIdList"]) == 1
        assert call["managerStartedAt"] > call["answeredAt"]
        assert call["managerStatus"] in {"completed", "no_answer"}
        assert (call["managerAnsweredAt"] is not None) == (call["managerStatus"] == "completed")


def test_keyword_ivrs_report_the_spoken_keyword(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0, instant=True)
    call_id = _create(client, phone=None, phones=PHONES[:5], ivrs=[{"keyWords": "yes|no"}])
    [details] = get_calls(client, call_id)
    assert {c["ivrAnswers"] for c in details["calls"]} <= {"yes", "no"}
    assert all(c["ivrDigit"] is None for c in details["calls"])


def _fingerprint(client: httpx.Client) -> list[tuple[Any, ...]]:
    ids = [_create(client, phone=None, phones=PHONES[:10], ivrs=[{"digit": 1}]) for _ in range(3)]
    return [
        (c["status"], c["finishedAt"] - c["startedAt"], c["ivrDigit"], c["cost"])
        for details in get_calls(client, *ids)
        for c in details["calls"]
    ]


def test_outcomes_are_deterministic_for_a_seed(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(instant=True)
    first = _fingerprint(client)
    sandbox.reset()
    assert _fingerprint(client) == first
