"""Where the reference is strict, so is the sandbox; where it says two things, both are emulated."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import KEY, WebhookReceiver, call_body, post, wait_for
from tests.sandbox.test_endpoints import PHONE_KEYS

PHONES = [f"1555000{i:04d}" for i in range(5)]
LANGUAGES = "/apiCalls/getAvailableLanguages"


def _create(client: httpx.Client, **fields: Any) -> int:
    response = post(client, "/apiCalls/create", call_body(**fields))
    assert response.status_code == 200, response.text
    call_id: int = response.json()["id"]
    return call_id


# --- answer shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize("reference_shapes", [True, False])
def test_get_and_remove_record_answer_one_object_in_the_reference_shapes(
    client: httpx.Client, sandbox: SandboxProcess, reference_shapes: bool
) -> None:
    sandbox.configure(reference_shapes=reference_shapes)
    call_id = _create(client)
    one = post(client, f"/apiCalls/get?apiCallIdList[]={call_id}").json()
    if reference_shapes:
        assert isinstance(one, dict)
        assert one["id"] == call_id
        assert set(one["calls"][0]) == PHONE_KEYS
    else:
        assert [d["id"] for d in one] == [call_id]
    second = _create(client, phone="15550000009")
    both = post(client, f"/apiCalls/get?apiCallIdList[]={call_id}&apiCallIdList[]={second}")
    assert [d["id"] for d in both.json()] == [call_id, second]  # several: always an array
    assert post(client, "/apiCalls/get?apiCallIdList[]=999").json() == []

    record = post(client, "/apiCalls/createRecord", {"source": "text", "text": "a", "name": "n"})
    removed = post(client, "/apiCalls/removeRecord", {"idList": [record.json()["id"]]}).json()
    if reference_shapes:
        assert removed["id"] == record.json()["id"]
        assert removed["status"] == "deleted"
    else:
        assert [r["id"] for r in removed] == [record.json()["id"]]


# --- getAvailableLanguages: GET as documented, POST as sampled ---------------------------------


def test_languages_over_get_authenticate_with_the_key_in_the_query_string(
    client: httpx.Client,
) -> None:
    answer = client.get(LANGUAGES, params={"apiKey": KEY})
    assert answer.status_code == 200, answer.text
    assert "en-US" in {lang["defaultLangCode"] for lang in answer.json()["data"]}
    assert client.get(LANGUAGES).status_code == 401
    assert client.get(LANGUAGES, params={"apiKey": "wrong"}).status_code == 401
    # A GET's body is not read: a key sent there does not count.
    body_only = client.request("GET", LANGUAGES, content=json.dumps({"apiKey": KEY}).encode())
    assert body_only.status_code == 401


@pytest.mark.parametrize(("methods", "refused"), [(["POST"], "GET"), (["GET"], "POST")])
def test_a_provider_taking_one_method_for_languages_refuses_the_other_with_405(
    client: httpx.Client, sandbox: SandboxProcess, methods: list[str], refused: str
) -> None:
    sandbox.configure(languages_methods=methods)
    accepted = methods[0]
    ok = client.request(
        accepted, LANGUAGES, params={"apiKey": KEY} if accepted == "GET" else None,
        json={"apiKey": KEY} if accepted == "POST" else None,
    )  # fmt: skip
    assert ok.status_code == 200
    no = client.request(refused, LANGUAGES, params={"apiKey": KEY}, json={"apiKey": KEY})
    assert no.status_code == 405
    assert no.json()["status"] == "error"


def test_every_other_endpoint_takes_only_post(client: httpx.Client) -> None:
    for path in ("/apiCalls/create", "/apiCalls/get", "/apiCalls/userInfo"):
        assert client.get(path, params={"apiKey": KEY}).status_code == 405


# --- how refusals arrive -------------------------------------------------------------------------


def test_a_request_line_longer_than_max_url_bytes_is_414_and_not_read(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(max_url_bytes=200)
    call_id = _create(client)
    short = post(client, f"/apiCalls/get?apiCallIdList[]={call_id}")
    assert short.status_code == 200
    query = "&".join(f"apiCallIdList[]={call_id}" for _ in range(20))
    long = post(client, f"/apiCalls/get?{query}")
    assert long.status_code == 414
    assert sandbox.stats()["requests"]["/apiCalls/get"]["414"] == 1


def test_refusals_can_be_answered_with_http_200_and_still_apply_nothing(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(refusal_status=200)
    invalid = post(client, "/apiCalls/create", call_body(lang="fr-FR"))
    assert invalid.status_code == 200
    assert invalid.json()["status"] == "error"
    assert "lang" in invalid.json()["errors"]
    sandbox.configure(balance=0.0)
    broke = post(client, "/apiCalls/create", call_body())
    assert broke.status_code == 200
    assert broke.json() == {"status": "error", "message": "insufficient balance"}
    assert post(client, "/apiCalls/create", call_body(apiKey="wrong")).status_code == 401
    assert sandbox.stats()["creates_per_phone"] == {}


# --- moderation ----------------------------------------------------------------------------------


def test_a_record_in_moderation_is_refused_by_create_until_it_is_approved(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(moderation_rate=1.0, moderation_s=600.0)  # about 1 s at speedup 600
    record = post(client, "/apiCalls/createRecord", {"source": "text", "text": "a", "name": "n"})
    assert record.json()["needModeration"] == 1
    assert record.json()["status"] == "moderation"
    used = post(
        client, "/apiCalls/create", call_body(record={"id": record.json()["id"], "gender": 0})
    )
    assert used.status_code == 422
    assert "moderation" in used.json()["errors"]["record.id"][0]
    ivr = {"digit": 1, "record": {"id": record.json()["id"]}}
    in_ivr = post(client, "/apiCalls/create", call_body(ivrs=[ivr]))
    assert "ivrs.0.record.id" in in_ivr.json()["errors"]
    assert sandbox.stats()["creates_per_phone"] == {}

    def usable() -> bool:
        body = call_body(record={"id": record.json()["id"], "gender": 0})
        return post(client, "/apiCalls/create", body).status_code == 200

    wait_for(usable, timeout_s=20)


def test_without_a_moderation_rate_records_are_usable_at_once(client: httpx.Client) -> None:
    record = post(client, "/apiCalls/createRecord", {"source": "text", "text": "a", "name": "n"})
    assert (record.json()["needModeration"], record.json()["status"]) == (0, "approved")


def test_a_moderated_generated_voice_refuses_text_creates(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(generated_voice_moderation=True)
    text = post(client, "/apiCalls/create", call_body())
    assert text.status_code == 422
    assert "moderation" in text.json()["errors"]["record.text"][0]
    assert (
        post(client, "/apiCalls/create", call_body(record={"id": 1, "gender": 1})).status_code
        == 200
    )


# --- the default ("stay on the line") IVR action --------------------------------------------------


def test_the_default_ivr_action_fires_when_nothing_is_pressed(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=0.0, instant=True)
    ivrs = [
        {"digit": 1, "needBlock": 0},
        {"needBlock": 1, "managerPhone": "15559990000", "record": {"text": "Connecting you"}},
    ]
    call_id = _create(client, phone=None, phones=PHONES, ivrs=ivrs)
    details = post(client, f"/apiCalls/get?apiCallIdList[]={call_id}").json()
    default_id = None
    for call in details["calls"]:
        assert call["ivrDigit"] is None
        assert call["ivrAnswers"] is None
        assert call["toBlock"] == 1  # the default action's needBlock
        assert call["managerStartedAt"] > call["answeredAt"]  # and its managerPhone
        assert call["managerStatus"] in {"completed", "no_answer"}
        [default_id] = call["ivrIdList"]
    # Pressing a digit fires the digit's action instead.
    sandbox.configure(ivr_press_probability=1.0)
    pressed = post(
        client,
        f"/apiCalls/get?apiCallIdList[]={_create(client, phone=None, phones=PHONES, ivrs=ivrs)}",
    ).json()
    assert {c["ivrDigit"] for c in pressed["calls"]} == {1}
    assert {c["toBlock"] for c in pressed["calls"]} == {0}
    assert default_id is not None


def test_the_default_ivr_action_posts_its_webhook_with_an_empty_answer(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=0.0)
    with WebhookReceiver() as receiver:
        ivrs = [
            {"digit": 1},
            {"webhookUrl": receiver.url("/stayed"), "webhookParameters": json.dumps({"k": "v"})},
        ]
        post(client, "/apiCalls/create", call_body(phone="10000000000", ivrs=ivrs))
        [payload] = wait_for(lambda: receiver.bodies("/stayed"))
    assert payload == {"call": {"phone": "10000000000", "answer": ""}, "k": "v"}


def test_of_two_actions_with_one_digit_the_first_fires(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0, instant=True)
    ivrs = [{"digit": 4, "needBlock": 1}, {"digit": 4, "needBlock": 0}]
    call_id = _create(client, phone=None, phones=PHONES, ivrs=ivrs)
    details = post(client, f"/apiCalls/get?apiCallIdList[]={call_id}").json()
    assert {c["toBlock"] for c in details["calls"]} == {1}
    assert len({c["ivrIdList"][0] for c in details["calls"]}) == 1
