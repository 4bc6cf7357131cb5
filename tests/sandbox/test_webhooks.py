"""Webhooks arrive as the reference says: POST JSON of the call details, retried until HTTP 200."""

from __future__ import annotations

import json

import httpx

from dispatcher.sandbox.config import FINAL_STATUSES
from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import WebhookReceiver, call_body, get_calls, post, wait_for


def test_status_changes_are_posted_with_the_call_details(client: httpx.Client) -> None:
    with WebhookReceiver() as receiver:
        body = call_body(phone=None, phones=["15550000001", "15550000002"])
        call_id = post(client, "/apiCalls/create", {**body, "webhookUrl": receiver.url()}).json()[
            "id"
        ]

        def last_is_final() -> bool:
            bodies = receiver.bodies()
            return bool(bodies) and all(c["status"] in FINAL_STATUSES for c in bodies[-1]["calls"])

        wait_for(last_is_final)
        bodies = receiver.bodies()
        assert all(b["id"] == call_id for b in bodies)
        assert len(bodies) >= 2, "the dial start and the final status are separate changes"
        assert {"calls", "webhookUrl", "webhookTry", "plannedAt"} <= set(bodies[-1])
    details = post(client, f"/apiCalls/get?apiCallIdList[]={call_id}").json()
    assert details["webhookSent"] == 1


def test_a_webhook_is_retried_until_it_gets_200(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(instant=True)
    with WebhookReceiver(statuses=[500]) as receiver:
        post(client, "/apiCalls/create", call_body(webhookUrl=receiver.url()))
        wait_for(lambda: len(receiver.bodies()) == 2)
        first, second = receiver.bodies()
        assert first["id"] == second["id"]
        assert second["webhookTry"] == 2
        stats = wait_for(lambda: (s := sandbox.stats())["webhooks"]["succeeded"] and s)
    assert stats["webhooks"] == {"sent": 2, "succeeded": 1, "failed": 1, "abandoned": 0}


def test_a_webhook_is_given_up_after_three_tries(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(instant=True)
    with WebhookReceiver(statuses=[500, 503, 404, 500]) as receiver:
        post(client, "/apiCalls/create", call_body(webhookUrl=receiver.url()))
        wait_for(lambda: sandbox.stats()["webhooks"]["abandoned"] == 1)
        assert len(receiver.bodies()) == 3


def test_an_unreachable_webhook_does_not_disturb_the_api(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(instant=True)
    post(client, "/apiCalls/create", call_body(webhookUrl="http://127.0.0.1:9/nothing"))
    wait_for(lambda: sandbox.stats()["webhooks"]["abandoned"] == 1)
    assert post(client, "/apiCalls/userInfo").status_code == 200


def test_an_ivr_press_posts_the_answer_with_the_webhook_parameters(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0)
    with WebhookReceiver() as receiver:
        ivrs = [
            {
                "digit": 1,
                "webhookUrl": receiver.url("/ivr"),
                "webhookParameters": json.dumps({"user_parameter1": "value1", "n": 2}),
            }
        ]
        post(client, "/apiCalls/create", call_body(phone="10000000000", ivrs=ivrs))
        [payload] = wait_for(lambda: receiver.bodies("/ivr"))
    assert payload == {
        "call": {"phone": "10000000000", "answer": 1},
        "user_parameter1": "value1",
        "n": 2,
    }
    assert receiver.bodies() == [], "a call without webhookUrl posts no status changes"


def test_removed_calls_post_nothing(client: httpx.Client, sandbox: SandboxProcess) -> None:
    # The clock runs in real time while the call is planned and removed, so the remove always
    # comes before the call starts, however slowly this machine runs; then it runs fast again.
    sandbox.configure(speedup=1.0)
    with WebhookReceiver() as receiver:
        soon = int(sandbox.stats()["sim_now"]) + 300
        body = call_body(plannedAt=soon, webhookUrl=receiver.url())
        call_id = post(client, "/apiCalls/create", body).json()["id"]
        removed = post(client, "/apiCalls/remove", {"id": call_id}).json()
        assert removed["status"] == "success"
        assert get_calls(client, call_id) == [], "removed before it started"
        kept = post(client, "/apiCalls/create", {**body, "webhookUrl": receiver.url("/kept")})
        assert kept.status_code == 200
        sandbox.configure(speedup=600.0)  # both were due at the same instant: now it comes
        wait_for(lambda: receiver.bodies("/kept"))
        assert receiver.bodies() == []
