"""Each documented rule of apiCalls/create is answered 422, naming the offending field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.sandbox.errors import InvalidRequest
from dispatcher.sandbox.validation import parse_create
from tests.sandbox.helpers import OUTGOING, call_body, post

IVR = {"digit": 1, "needBlock": 0}

# (what changes in a valid body, the field the 422 must name)
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"phone": None}, "phone"),
    ({"phone": None}, "phones"),
    ({"phones": ["15550000002"]}, "phones"),  # phone and phones together
    ({"phone": None, "phones": []}, "phones"),
    ({"phone": None, "phones": "15550000002"}, "phones"),
    ({"phone": None, "phones": ["15550000002", "123456789012"]}, "phones.1"),
    ({"phone": "123456789012"}, "phone"),  # string(11)
    ({"phone": "+15550000001"}, "phone"),
    ({"phone": "1555-000"}, "phone"),
    ({"phone": 15550000001}, "phone"),
    ({"outgoingPhone": None}, "outgoingPhone"),
    ({"outgoingPhone": None, "dutyPhone": 0}, "outgoingPhone"),
    ({"outgoingPhone": "15550009999"}, "outgoingPhone"),  # not a number of the account
    ({"outgoingPhone": "999999999991"}, "outgoingPhone"),
    ({"dutyPhone": 2}, "dutyPhone"),
    ({"plannedAt": "tomorrow"}, "plannedAt"),
    ({"plannedAt": 1.5}, "plannedAt"),
    ({"needRecording": 2}, "needRecording"),
    ({"needRecording": "yes"}, "needRecording"),
    ({"webhookUrl": "http://example.test/" + "a" * 236}, "webhookUrl"),  # 256 characters
    ({"webhookUrl": "not a url"}, "webhookUrl"),
    ({"record": None}, "record"),
    ({"record": {}}, "record.id"),
    ({"record": {}}, "record.text"),
    ({"record": {"id": 1, "text": "both"}}, "record.id"),
    ({"record": {"id": 777}}, "record.id"),  # no such record
    ({"record": {"id": "one"}}, "record.id"),
    ({"record": {"text": "x" * 1025}}, "record.text"),
    ({"record": {"text": "hi", "gender": 2}}, "record.gender"),
    ({"record": {"text": "hi"}}, "record.gender"),  # mandatory in the reference's table
    ({"record": {"id": 1}}, "record.gender"),
    ({"outgoingPhone": "18005550100"}, "outgoingPhone"),  # a system number: dutyPhone's
    ({"dutyPhone": 1}, "outgoingPhone"),  # both: the reference does not say which would win
    ({"ivrs": "1"}, "ivrs"),
    ({"ivrs": [IVR, {"digit": 10}]}, "ivrs.1.digit"),
    ({"ivrs": [{"digit": -1}]}, "ivrs.0.digit"),
    ({"ivrs": [{"digit": "one"}]}, "ivrs.0.digit"),
    ({"ivrs": [{"needBlock": 3}]}, "ivrs.0.needBlock"),
    ({"ivrs": [{"smsText": "x" * 71}]}, "ivrs.0.smsText"),
    ({"ivrs": [{"managerPhone": "123456789012"}]}, "ivrs.0.managerPhone"),
    ({"ivrs": [{"record": {"id": 777}}]}, "ivrs.0.record.id"),
    ({"ivrs": [{"record": {"text": "x" * 1025}}]}, "ivrs.0.record.text"),
    ({"ivrs": [{"webhookUrl": "ftp://x"}]}, "ivrs.0.webhookUrl"),
    ({"ivrs": [{"webhookParameters": "{not json"}]}, "ivrs.0.webhookParameters"),
    ({"ivrs": [{"webhookParameters": "[1]"}]}, "ivrs.0.webhookParameters"),
    ({"isManagerDeliveryPhone": 5}, "isManagerDeliveryPhone"),
    ({"lang": "en-USA"}, "lang"),  # string(5)
    ({"lang": "fr-FR"}, "lang"),  # not an available language
]

VALID: list[dict[str, Any]] = [
    {"phone": "1"},
    {"phone": "12345678901"},
    {"phone": None, "phones": ["1", "12345678901"]},
    {"outgoingPhone": None, "dutyPhone": 1},
    {"outgoingPhone": None, "dutyPhone": "1"},
    {"plannedAt": "2000000000"},
    {"needRecording": True},
    {"webhookUrl": "http://example.test/" + "a" * 235},  # 255 characters
    {"record": {"text": "x" * 1024, "gender": 1}},
    {"record": {"id": 1342, "gender": 0}},
    {"ivrs": [{"digit": 0}, {"digit": 9, "needBlock": 1, "smsText": "x" * 70}]},
    {"ivrs": [{"keyWords": "yes|no", "managerPhone": "12345678901"}]},
    {"ivrs": [{"digit": 1, "webhookUrl": "https://example.test/h", "webhookParameters": "{}"}]},
    {"isManagerDeliveryPhone": 1, "lang": "de-DE"},
]


@pytest.mark.parametrize(("change", "field"), INVALID)
def test_an_invalid_create_is_422_naming_the_field(
    client: httpx.Client, change: dict[str, Any], field: str
) -> None:
    response = post(client, "/apiCalls/create", call_body(**change))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == "error"
    assert field in body["errors"], body["errors"]
    assert all(isinstance(m, str) for m in body["errors"][field])


@pytest.mark.parametrize("change", VALID)
def test_a_valid_create_at_the_limits_is_accepted(
    client: httpx.Client, change: dict[str, Any]
) -> None:
    response = post(client, "/apiCalls/create", call_body(**change))
    assert response.status_code == 200, response.text


def test_an_invalid_create_applies_nothing(client: httpx.Client) -> None:
    post(client, "/apiCalls/create", call_body(phone="123456789012"))
    assert post(client, "/apiCalls/userInfo").json()["balance"] == 1000.0
    assert post(client, "/apiCalls/create", call_body()).json()["id"] == 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/apiCalls/update", {}, "callList"),
        ("/apiCalls/update", {"callList": [{"id": 1}]}, "callList.0.replannedAt"),
        ("/apiCalls/update", {"callList": [{"id": "x", "replannedAt": 1}]}, "callList.0.id"),
        ("/apiCalls/remove", {}, "id"),
        ("/apiCalls/remove", {"idList": []}, "idList"),
        ("/apiCalls/remove", {"idList": ["x"]}, "idList.0"),
        ("/apiCalls/createRecord", {"source": "text", "text": "hi"}, "name"),
        ("/apiCalls/createRecord", {"source": "url", "name": "n"}, "source"),
        ("/apiCalls/createRecord", {"source": "text", "name": "n"}, "text"),
        ("/apiCalls/removeRecord", {}, "idList"),
        ("/apiCalls/getPhones", {"all": "maybe"}, "all"),
        ("/apiCalls/getTemplates", {"onlyModerated": 2}, "onlyModerated"),
        ("/apiCalls/createFromTemplate", {"phone": "1", "outgoingPhone": OUTGOING}, "templateId"),
        ("/apiVerificationPhones/confirmPhone", {"pin": "1234"}, "phone"),
    ],
)
def test_other_endpoints_name_the_invalid_field(
    client: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    response = post(client, path, body)
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"]


CONTEXT: dict[str, Any] = {
    "account_phones": {OUTGOING},
    "record_ids": {1},
    "language_codes": {"en-US"},
}


@settings(max_examples=200, deadline=None)
@given(phone=st.text(max_size=14))
def test_a_phone_is_accepted_exactly_when_it_is_1_to_11_ascii_digits(phone: str) -> None:
    body = call_body(phone=phone, record={"id": 1, "gender": 0})
    if 1 <= len(phone) <= 11 and phone.isascii() and phone.isdigit():
        assert parse_create(body, **CONTEXT).phones == [phone]
    else:
        with pytest.raises(InvalidRequest) as raised:
            parse_create(body, **CONTEXT)
        assert set(raised.value.errors) == {"phone"}


@settings(max_examples=100, deadline=None)
@given(digit=st.integers(min_value=-20, max_value=20), sms=st.text(max_size=90))
def test_ivr_digit_and_sms_limits_hold_for_any_value(digit: int, sms: str) -> None:
    body = call_body(record={"id": 1, "gender": 0}, ivrs=[{"digit": digit, "smsText": sms}])
    expected_errors = set()
    if not 0 <= digit <= 9:
        expected_errors.add("ivrs.0.digit")
    if not 1 <= len(sms) <= 70:
        expected_errors.add("ivrs.0.smsText")
    if expected_errors:
        with pytest.raises(InvalidRequest) as raised:
            parse_create(body, **CONTEXT)
        assert set(raised.value.errors) == expected_errors
    else:
        parse_create(body, **CONTEXT)
