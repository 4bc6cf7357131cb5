"""Every endpoint of the reference round-trips over HTTP, with the reference's shapes."""

from __future__ import annotations

import json

import httpx
import pytest

from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import KEY, OUTGOING, call_body, get_calls, post

CALL_DETAIL_KEYS = {
    "id", "createdAt", "needRecording", "plannedAt", "webhookUrl", "webhookSent", "amoscriptId",
    "webhookParameters", "webhookTry", "recognitionGroupId", "generateGroupId", "calls",
}  # fmt: skip
PHONE_KEYS = {
    "phone", "ivrDigit", "startedAt", "answeredAt", "managerStartedAt", "managerAnsweredAt",
    "finishedAt", "toBlock", "status", "hangupCause", "managerStatus", "recordFilePath", "cost",
    "createdAt", "updatedAt", "label", "ivrAnswers", "ivrIdList", "comment",
}  # fmt: skip

# The JSON strings of the reference's own PHP samples, verbatim but for the masked key.
SAMPLE_CREATES = [
    '{"apiKey": "KEY", "phone":"99999999999", "outgoingPhone":"99999999999", "record":{"id":1},'
    ' "ivrs":[{"digit": 1,"needBlock": 0,"record": {"id": 1342}}, {"digit": 2,"needBlock": 0,'
    '"managerPhone": "99999999998"}]}',
    '{"apiKey": "KEY", "phone":"99999999999", "outgoingPhone":"99999999997", "record":{"text":'
    '"Text for generating the audio file"},"ivrs":[{"digit": 1,"needBlock": 0,"smsText": '
    '"Message text"}]}',
    '{"apiKey": "KEY", "phone":"99999999999", "outgoingPhone":"99999999997", "record":{"text":'
    '"Text for generating the audio file"}, "ivrs":[{"keyWords":"Yes|No|don’t know","smsText": '
    '"Message text", "record": {"text": "Text of the audio file"}}, {"record": { "text": '
    '"Text of the audio file"}}]}',
]


def test_create_with_one_phone_answers_the_reference_shape(client: httpx.Client) -> None:
    response = post(client, "/apiCalls/create", call_body(needRecording=1, plannedAt=2_000_000_000))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "createdAt", "plannedAt", "needrecording", "phone", "recordCost"}
    assert body["phone"] == "15550000001"
    assert body["plannedAt"] == 2_000_000_000
    assert body["needrecording"] == 1
    assert body["recordCost"] == pytest.approx(0.01)
    assert isinstance(body["id"], int)


def test_create_with_phones_returns_the_list_and_one_call_entry_per_phone(
    client: httpx.Client,
) -> None:
    phones = ["15550000001", "15550000002", "15550000003"]
    body = post(client, "/apiCalls/create", call_body(phone=None, phones=phones)).json()
    assert body["phone"] == phones
    [details] = get_calls(client, body["id"])
    assert [c["phone"] for c in details["calls"]] == phones


def test_get_returns_the_reference_shape_and_omits_unknown_ids(client: httpx.Client) -> None:
    first = post(client, "/apiCalls/create", call_body()).json()["id"]
    second = post(client, "/apiCalls/create", call_body(phone="15550000009")).json()["id"]
    details = get_calls(client, second, 999_999, first)
    assert [d["id"] for d in details] == [second, first]
    for detail in details:
        assert set(detail) == CALL_DETAIL_KEYS
        assert set(detail["calls"][0]) == PHONE_KEYS


def test_get_accepts_php_style_indexed_ids(client: httpx.Client) -> None:
    call_id = post(client, "/apiCalls/create", call_body()).json()["id"]
    response = client.post(f"/apiCalls/get?apiCallIdList[0]={call_id}", json={"apiKey": KEY})
    assert response.json()["id"] == call_id


def test_get_without_ids_is_422(client: httpx.Client) -> None:
    response = post(client, "/apiCalls/get")
    assert response.status_code == 422
    assert "apiCallIdList" in response.json()["errors"]


@pytest.mark.parametrize("sample", SAMPLE_CREATES)
def test_the_reference_create_samples_are_accepted(
    client: httpx.Client, sandbox: SandboxProcess, sample: str
) -> None:
    # The reference's table makes record.gender mandatory and its own samples leave it out: the
    # samples pass with that one rule relaxed, every other strict rule on (see the README).
    sandbox.configure(require_gender=False)
    response = client.post(
        "/apiCalls/create",
        content=sample.replace("KEY", KEY).encode(),
        headers={"Content-Type": "application/json", "accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "99999999999"


@pytest.mark.parametrize("sample", SAMPLE_CREATES)
def test_the_strict_gender_rule_refuses_the_samples_naming_the_field(
    client: httpx.Client, sample: str
) -> None:
    response = client.post("/apiCalls/create", content=sample.replace("KEY", KEY).encode())
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"record.gender"}


def test_the_reference_samples_of_the_other_endpoints_are_accepted(client: httpx.Client) -> None:
    samples = {
        "/apiCalls/get?apiCallIdList[]=1": {"apiKey": KEY},
        "/apiCalls/createRecord": {
            "apiKey": KEY,
            "source": "text",
            "text": "Hello world",
            "name": "TestRecord",
        },
        "/apiCalls/removeRecord": {"apiKey": KEY, "idList": [123]},
        "/apiCalls/userInfo": {"apiKey": KEY},
        "/apiCalls/getPhones": {"apiKey": KEY, "all": True},
        "/apiCalls/getAvailableLanguages": {"apiKey": KEY},
        "/apiVerificationPhones/confirmPhone": {
            "apiKey": KEY,
            "phone": "99999999999",
            "pin": "1234",
        },
        "/apiCalls/update": {
            "apiKey": KEY,
            "callList": [{"id": 123, "replannedAt": 12345}, {"id": 321, "replannedAt": 54321}],
        },
        "/apiCalls/remove": {"apiKey": KEY, "idList": [123, 321]},
    }
    for path, body in samples.items():
        response = client.post(path, content=json.dumps(body).encode())
        assert response.status_code == 200, (path, response.text)
    single = client.post("/apiCalls/remove", json={"apiKey": KEY, "id": 123})
    assert single.json() == {"status": "success", "data": []}


def test_a_text_record_is_created_charged_usable_and_removable(client: httpx.Client) -> None:
    balance = post(client, "/apiCalls/userInfo").json()["balance"]
    record = post(
        client, "/apiCalls/createRecord", {"source": "text", "text": "Hi", "name": "greeting"}
    ).json()
    assert set(record) == {
        "id", "createdAt", "needModeration", "moderatorComment", "name", "path", "status",
        "recordText", "cost",
    }  # fmt: skip
    assert record["recordText"] == "Hi"
    assert post(client, "/apiCalls/userInfo").json()["balance"] == pytest.approx(
        balance - record["cost"]
    )
    used = post(client, "/apiCalls/create", call_body(record={"id": record["id"], "gender": 0}))
    assert used.status_code == 200
    assert used.json()["recordCost"] == 0
    removed = post(client, "/apiCalls/removeRecord", {"idList": [record["id"], 424242]}).json()
    assert removed["id"] == record["id"]  # one object, as the reference shows
    assert removed["deletedAt"] is not None
    gone = post(client, "/apiCalls/create", call_body(record={"id": record["id"], "gender": 0}))
    assert gone.status_code == 422
    assert "record.id" in gone.json()["errors"]


def test_a_file_record_is_uploaded_as_multipart(client: httpx.Client) -> None:
    response = client.post(
        "/apiCalls/createRecord",
        data={"apiKey": KEY, "source": "file", "name": "upload"},
        files={"file": ("hello.mp3", b"ID3fake-audio", "audio/mpeg")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "upload"
    assert response.json()["recordText"] is None


def test_a_file_record_without_a_file_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/apiCalls/createRecord", data={"apiKey": KEY, "source": "file", "name": "upload"}
    )
    assert response.status_code == 422
    assert "file" in response.json()["errors"]


def test_user_info_has_the_account_id_and_balance(client: httpx.Client) -> None:
    assert post(client, "/apiCalls/userInfo").json() == {"id": 1, "balance": 1000.0}


def test_get_phones_lists_personal_numbers_and_with_all_the_system_ones(
    client: httpx.Client,
) -> None:
    personal = post(client, "/apiCalls/getPhones").json()
    everything = post(client, "/apiCalls/getPhones", {"all": True}).json()
    assert personal["status"] == everything["status"] == "success"
    assert all(not p["isSystem"] for p in personal["data"])
    assert any(p["isSystem"] for p in everything["data"])
    assert set(everything["data"][0]) == {"id", "phone", "isSystem", "overall"}


def test_available_languages_include_the_documented_codes(client: httpx.Client) -> None:
    data = post(client, "/apiCalls/getAvailableLanguages").json()["data"]
    assert {"en-US", "ru-RU", "es-ES", "de-DE"} <= {lang["defaultLangCode"] for lang in data}
    assert set(data[0]) == {"id", "name", "defaultLangCode"}


def test_a_confirmed_phone_becomes_a_valid_outgoing_phone(client: httpx.Client) -> None:
    before = post(client, "/apiCalls/create", call_body(outgoingPhone="15557770000"))
    assert before.status_code == 422
    confirmed = post(
        client, "/apiVerificationPhones/confirmPhone", {"phone": "15557770000", "pin": 1234}
    )
    assert confirmed.json() == {"status": "success", "data": "done"}
    after = post(client, "/apiCalls/create", call_body(outgoingPhone="15557770000"))
    assert after.status_code == 200


@pytest.mark.parametrize("pin", ["123", "12345", "abcd", None])
def test_confirm_phone_needs_a_four_digit_pin(client: httpx.Client, pin: object) -> None:
    response = post(client, "/apiVerificationPhones/confirmPhone", {"phone": "1555", "pin": pin})
    assert response.status_code == 422
    assert "pin" in response.json()["errors"]


def test_duty_phone_picks_a_work_number(client: httpx.Client) -> None:
    response = post(client, "/apiCalls/create", call_body(outgoingPhone=None, dutyPhone=1))
    assert response.status_code == 200


def test_templates_are_listed_and_dialled_from(client: httpx.Client) -> None:
    listed = post(client, "/apiCalls/getTemplates").json()["data"]
    moderated = post(client, "/apiCalls/getTemplates", {"onlyModerated": 1}).json()["data"]
    assert len(moderated) < len(listed)
    template_id = moderated[0]["id"]
    body = {"phones": ["15550000001", "15550000002"], "templateId": template_id, "dutyPhone": 1}
    created = post(client, "/apiCalls/createFromTemplate", body)
    assert created.status_code == 200, created.text
    assert created.json()["phone"] == body["phones"]
    assert created.json()["recordCost"] == 0
    [details] = get_calls(client, created.json()["id"])
    assert len(details["calls"]) == 2


def test_an_unmoderated_or_unknown_template_is_422(client: httpx.Client) -> None:
    listed = post(client, "/apiCalls/getTemplates").json()["data"]
    draft = next(t["id"] for t in listed if not t["isModerated"])
    for template_id in (draft, 999):
        body = {"phone": "15550000001", "templateId": template_id, "outgoingPhone": OUTGOING}
        response = post(client, "/apiCalls/createFromTemplate", body)
        assert response.status_code == 422
        assert "templateId" in response.json()["errors"]


API_PATHS = [
    "/apiCalls/create",
    "/apiCalls/get?apiCallIdList[]=1",
    "/apiCalls/update",
    "/apiCalls/remove",
    "/apiCalls/createRecord",
    "/apiCalls/removeRecord",
    "/apiCalls/userInfo",
    "/apiCalls/getPhones",
    "/apiCalls/getAvailableLanguages",
    "/apiVerificationPhones/confirmPhone",
    "/apiCalls/getTemplates",
    "/apiCalls/createFromTemplate",
]


@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("key", ["wrong-key", None])
def test_a_wrong_or_missing_key_is_401_everywhere(
    client: httpx.Client, path: str, key: str | None
) -> None:
    response = client.post(path, json={**call_body(), "apiKey": key})
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "invalid api key"}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
def test_a_malformed_body_is_400(client: httpx.Client, content: bytes) -> None:
    response = client.post("/apiCalls/create", content=content)
    assert response.status_code == 400
    assert response.json()["status"] == "error"


def test_without_balance_create_is_402_and_nothing_is_created(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(balance=0.0)
    response = post(client, "/apiCalls/create", call_body())
    assert response.status_code == 402
    assert response.json() == {"status": "error", "message": "insufficient balance"}
    assert get_calls(client, 1) == []
    assert sandbox.stats()["creates_per_phone"] == {}


def test_a_request_costing_more_than_the_balance_is_402(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(balance=0.005)
    assert post(client, "/apiCalls/create", call_body()).status_code == 402
    assert (
        post(client, "/apiCalls/create", call_body(record={"id": 1, "gender": 0})).status_code
        == 200
    )
