from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from dispatcher.effebot import (
    CallOptions,
    CreateCallRequest,
    CreateFromTemplateRequest,
    Ivr,
    Record,
    ReplanItem,
    TemplateCallOptions,
)

BASE: dict[str, Any] = {"outgoing_phone": "99999999997", "record": {"id": 1}}


def errors_of(model: type[Any], **data: Any) -> list[tuple[str, str]]:
    """(dotted location, message) of every validation error; fails if the data is valid."""
    with pytest.raises(ValidationError) as caught:
        model(**data)
    return [
        (".".join(str(part) for part in error["loc"]), error["msg"])
        for error in caught.value.errors()
    ]


def assert_names(errors: list[tuple[str, str]], field: str) -> None:
    """The field is named by an error's location or message (in either spelling)."""
    names = {field, to_camel(field)}
    assert any(name in loc or name in message for loc, message in errors for name in names), errors


# --- the reference's required-if pairs --------------------------------------------------------


def test_phone_or_phones_is_required() -> None:
    errors = errors_of(CreateCallRequest, **BASE)
    assert ("", "Value error, phone or phones is required") in errors


def test_phone_and_phones_together_are_refused() -> None:
    errors = errors_of(CreateCallRequest, **BASE, phone="1", phones=["2"])
    assert_names(errors, "phone or phones")


def test_an_empty_phones_list_is_refused() -> None:
    assert_names(errors_of(CreateCallRequest, **BASE, phones=[]), "phones")


def test_outgoing_phone_or_duty_phone_is_required() -> None:
    errors = errors_of(CallOptions, record={"id": 1})
    assert_names(errors, "outgoing_phone or duty_phone=1 is required")


def test_duty_phone_zero_without_outgoing_phone_is_refused() -> None:
    errors = errors_of(CallOptions, record={"id": 1}, duty_phone=0)
    assert_names(errors, "outgoing_phone or duty_phone=1 is required")


def test_duty_phone_one_alone_is_enough() -> None:
    assert CallOptions(record={"id": 1}, duty_phone=1).to_wire()["dutyPhone"] == 1


def test_outgoing_phone_and_duty_phone_one_together_are_refused() -> None:
    errors = errors_of(CallOptions, record={"id": 1}, outgoing_phone="1", duty_phone=1)
    assert_names(errors, "outgoing_phone or duty_phone=1")


def test_record_needs_id_or_text() -> None:
    assert_names(errors_of(Record), "record: id or text is required")


def test_record_refuses_id_and_text_together() -> None:
    assert_names(errors_of(Record, id=1, text="hi"), "record: give id or text, not both")


def test_call_options_require_a_record() -> None:
    errors = errors_of(CallOptions, outgoing_phone="1")
    assert ("record", "Field required") in errors


def test_template_options_need_no_record_but_a_template_id() -> None:
    assert TemplateCallOptions(template_id=7, duty_phone=1).template_id == 7
    # A missing field is named as the provider spells it (loc_by_alias).
    assert_names(errors_of(TemplateCallOptions, duty_phone=1), "templateId")
    assert_names(errors_of(TemplateCallOptions, template_id=7), "outgoing_phone or duty_phone")


def test_create_from_template_needs_phone_or_phones() -> None:
    errors = errors_of(CreateFromTemplateRequest, template_id=1, duty_phone=1)
    assert_names(errors, "phone or phones is required")


# --- lengths, ranges and formats --------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Record, {"text": "x" * 1025}, "text"),
        (Record, {"text": ""}, "text"),
        (Ivr, {"sms_text": "x" * 71}, "sms_text"),
        (Ivr, {"webhook_url": "h" * 256}, "webhook_url"),
        (Ivr, {"manager_phone": "123456789012"}, "manager_phone"),
        (CreateCallRequest, {**BASE, "phone": "1", "webhook_url": "h" * 256}, "webhook_url"),
        (CallOptions, {**BASE, "lang": "en-US1"}, "lang"),
        (CallOptions, {**BASE, "lang": "e"}, "lang"),
        (CallOptions, {**BASE, "outgoing_phone": "123456789012"}, "outgoing_phone"),
    ],
)
def test_every_length_limit_names_its_field(
    model: type[Any], data: dict[str, Any], field: str
) -> None:
    assert_names(errors_of(model, **data), field)


def test_lengths_at_the_limit_are_accepted() -> None:
    assert Record(text="x" * 1024).text == "x" * 1024
    ivr = Ivr(sms_text="x" * 70, webhook_url="h" * 255, manager_phone="1" * 11)
    assert ivr.to_wire() == {
        "smsText": "x" * 70,
        "webhookUrl": "h" * 255,
        "managerPhone": "1" * 11,
    }
    assert CallOptions(**BASE, lang="en-US").lang == "en-US"


@pytest.mark.parametrize("digit", [-1, 10, 99])
def test_ivr_digit_outside_0_to_9_is_refused(digit: int) -> None:
    assert_names(errors_of(Ivr, digit=digit), "digit")


@pytest.mark.parametrize("digit", range(10))
def test_ivr_digits_0_to_9_are_accepted(digit: int) -> None:
    assert Ivr(digit=digit).to_wire() == {"digit": digit}


@pytest.mark.parametrize(
    ("model", "data", "field"),
    [
        (Ivr, {"need_block": 2}, "need_block"),
        (Record, {"id": 1, "gender": 2}, "gender"),
        (CallOptions, {**BASE, "need_recording": -1}, "need_recording"),
        (CallOptions, {**BASE, "is_manager_delivery_phone": "yes"}, "is_manager_delivery_phone"),
        (CallOptions, {"record": {"id": 1}, "duty_phone": 5}, "duty_phone"),
    ],
)
def test_flags_other_than_0_and_1_are_refused(
    model: type[Any], data: dict[str, Any], field: str
) -> None:
    assert_names(errors_of(model, **data), field)


def test_flags_accept_bools_and_are_sent_as_ints() -> None:
    options = CallOptions(
        record={"id": 1, "gender": True},
        duty_phone=True,
        need_recording=False,
        is_manager_delivery_phone=1,
        ivrs=[{"digit": 1, "need_block": True}],
    )
    wire = options.to_wire()
    assert wire["dutyPhone"] == 1
    assert wire["needRecording"] == 0
    assert wire["isManagerDeliveryPhone"] == 1
    assert wire["record"] == {"id": 1, "gender": 1}
    assert wire["ivrs"] == [{"digit": 1, "needBlock": 1}]
    assert all(type(value) is int for value in (wire["dutyPhone"], wire["needRecording"]))


def test_unknown_fields_are_refused_everywhere_a_spec_can_reach() -> None:
    assert ("recrod", "Extra inputs are not permitted") in errors_of(
        CallOptions, **BASE, recrod={"id": 1}
    )
    assert_names(errors_of(CallOptions, **{**BASE, "record": {"id": 1, "voice": 1}}), "voice")
    assert_names(errors_of(CallOptions, **BASE, ivrs=[{"digit": 1, "smstext": "x"}]), "smstext")


def test_provider_camel_case_names_are_accepted_as_well() -> None:
    options = CallOptions.model_validate(
        {
            "outgoingPhone": "99999999997",
            "record": {"text": "Text", "gender": 1},
            "ivrs": [{"keyWords": "Yes|No", "smsText": "Message", "needBlock": 0}],
            "needRecording": 1,
            "isManagerDeliveryPhone": 0,
        }
    )
    assert options.outgoing_phone == "99999999997"
    assert options.ivrs is not None
    assert options.ivrs[0].key_words == "Yes|No"


def test_key_words_accept_a_list_and_refuse_empty_words() -> None:
    assert Ivr(key_words=["Yes", "No", "don't know"]).key_words == "Yes|No|don't know"
    assert_names(errors_of(Ivr, key_words="Yes||No"), "key_words")
    assert_names(errors_of(Ivr, key_words=""), "key_words")


def test_webhook_parameters_accept_a_dict_and_send_a_json_string() -> None:
    ivr = Ivr(webhook_parameters={"user_parameter1": "value1", "n": 2})
    sent = ivr.to_wire()["webhookParameters"]
    assert isinstance(sent, str)
    assert json.loads(sent) == {"user_parameter1": "value1", "n": 2}
    assert Ivr(webhook_parameters='{"a": 1}').webhook_parameters == '{"a": 1}'


@pytest.mark.parametrize("value", ["not json", "[1, 2]", '"text"'])
def test_webhook_parameters_must_be_a_json_object(value: str) -> None:
    assert_names(errors_of(Ivr, webhook_parameters=value), "webhook_parameters")


def test_ids_must_be_positive() -> None:
    assert_names(errors_of(Record, id=0), "id")
    assert_names(errors_of(ReplanItem, id=0, replanned_at=datetime.now(UTC)), "id")
    assert_names(errors_of(TemplateCallOptions, template_id=0, duty_phone=1), "template_id")


# --- datetimes are datetimes until the wire -------------------------------------------------


def test_planned_at_stays_a_datetime_and_becomes_unix_seconds_on_the_wire() -> None:
    moment = datetime(2030, 1, 1, 3, 0, 0, 900_000, tzinfo=timezone(timedelta(hours=3)))
    request = CreateCallRequest(**BASE, phone="1", planned_at=moment)
    assert request.planned_at == moment
    assert request.model_dump()["planned_at"] == moment
    assert request.to_wire()["plannedAt"] == 1893456000


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2030, 1, 1)  # naive on purpose
    assert_names(errors_of(CreateCallRequest, **BASE, phone="1", planned_at=naive), "planned_at")
    assert_names(errors_of(ReplanItem, id=1, replanned_at=naive), "replanned_at")


def test_replan_item_sends_replanned_at_as_unix_seconds() -> None:
    item = ReplanItem(id=123, replanned_at=datetime.fromtimestamp(12345, UTC))
    assert item.to_wire() == {"id": 123, "replannedAt": 12345}


def test_the_wire_omits_unset_fields_and_uses_the_provider_names() -> None:
    request = CreateCallRequest(
        phone="99999999999",
        outgoing_phone="99999999999",
        record={"id": 1},
        ivrs=[{"digit": 1, "need_block": 0, "record": {"id": 1342}}, {"digit": 2}],
    )
    assert request.to_wire() == {
        "phone": "99999999999",
        "outgoingPhone": "99999999999",
        "record": {"id": 1, "gender": 0},
        "ivrs": [{"digit": 1, "needBlock": 0, "record": {"id": 1342, "gender": 0}}, {"digit": 2}],
    }


def test_options_become_a_request_with_phone_or_phones() -> None:
    options = CallOptions(**BASE)
    single = options.to_request(["15550000001"])
    many = options.to_request(["15550000001", "15550000002"], webhook_url="https://x/h")
    assert single.to_wire()["phone"] == "15550000001"
    assert "phones" not in single.to_wire()
    assert many.phones == ["15550000001", "15550000002"]
    assert many.phone_count == 2
    assert many.webhook_url == "https://x/h"
    assert_names(errors_of(CreateCallRequest, **options.model_dump(), phones=[]), "phones")


def test_template_options_become_a_request() -> None:
    request = TemplateCallOptions(template_id=3, duty_phone=1).to_request(["5", "6"])
    assert request.to_wire() == {"phones": ["5", "6"], "dutyPhone": 1, "templateId": 3}


def test_request_models_are_frozen() -> None:
    options = CallOptions(**BASE)
    with pytest.raises(ValidationError):
        options.lang = "en-US"  # type: ignore[misc]


# --- properties -----------------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=11)


@given(digits)
def test_any_string_of_1_to_11_digits_is_a_phone(phone: str) -> None:
    assert CreateCallRequest(**BASE, phone=phone).phone == phone


@given(st.text(alphabet="0123456789", min_size=12, max_size=30))
def test_any_longer_digit_string_is_refused(phone: str) -> None:
    assert_names(errors_of(CreateCallRequest, **BASE, phone=phone), "phone")


@given(
    st.text(min_size=1, max_size=11).filter(lambda text: not text.isascii() or not text.isdigit())
)
def test_any_string_with_a_non_digit_is_refused(phone: str) -> None:
    assert_names(errors_of(CreateCallRequest, **BASE, phone=phone), "phone")


@given(st.text(min_size=1, max_size=120))
def test_sms_text_is_accepted_exactly_up_to_70_characters(text: str) -> None:
    if len(text) <= 70:
        assert Ivr(sms_text=text).sms_text == text
    else:
        assert_names(errors_of(Ivr, sms_text=text), "sms_text")


@given(st.text(min_size=1, max_size=1100))
def test_record_text_is_accepted_exactly_up_to_1024_characters(text: str) -> None:
    if len(text) <= 1024:
        assert Record(text=text).text == text
    else:
        assert_names(errors_of(Record, text=text), "text")


flags = st.sampled_from([0, 1, True, False])
records = st.one_of(
    st.builds(Record, id=st.integers(1, 10**9), gender=flags),
    st.builds(Record, text=st.text(min_size=1, max_size=1024), gender=flags),
)
ivrs = st.builds(
    Ivr,
    digit=st.none() | st.integers(0, 9),
    key_words=st.none() | st.lists(st.text("abcxyz ", min_size=1).filter(str.strip), min_size=1),
    need_block=st.none() | flags,
    record=st.none() | records,
    manager_phone=st.none() | digits,
    sms_text=st.none() | st.text(min_size=1, max_size=70),
    webhook_url=st.none() | st.text(min_size=1, max_size=255),
    webhook_parameters=st.none()
    | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1),  # hypothesis bounds are naive
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=0))


@st.composite
def create_requests(draw: st.DrawFn) -> CreateCallRequest:
    caller: dict[str, Any] = draw(
        st.sampled_from([{"duty_phone": 1}, {}])
        | st.builds(lambda p: {"outgoing_phone": p}, digits)
    )
    if not caller:
        caller = {"outgoing_phone": draw(digits), "duty_phone": 0}
    recipients: dict[str, Any] = draw(
        st.builds(lambda p: {"phone": p}, digits)
        | st.builds(lambda ps: {"phones": ps}, st.lists(digits, min_size=1, max_size=5))
    )
    return CreateCallRequest(
        **caller,
        **recipients,
        record=draw(records),
        ivrs=draw(st.none() | st.lists(ivrs, max_size=3)),
        need_recording=draw(st.none() | flags),
        is_manager_delivery_phone=draw(st.none() | flags),
        lang=draw(st.none() | st.sampled_from(["en-US", "ru-RU", "de"])),
        planned_at=draw(st.none() | aware),
        webhook_url=draw(st.none() | st.text(min_size=1, max_size=255)),
    )


@given(create_requests())
def test_a_request_survives_the_round_trip_through_wire_json(request: CreateCallRequest) -> None:
    wire_json = json.dumps(request.to_wire())
    back = CreateCallRequest.model_validate_json(wire_json)
    assert back == request
    assert back.to_wire() == request.to_wire()


@given(st.integers(1, 10**12), aware)
def test_a_replan_item_survives_the_round_trip(call_id: int, moment: datetime) -> None:
    item = ReplanItem(id=call_id, replanned_at=moment)
    assert ReplanItem.model_validate_json(json.dumps(item.to_wire())) == item


def test_errors_name_the_field_as_the_input_spelled_it() -> None:
    assert errors_of(Ivr, smsText="x" * 71)[0][0] == "smsText"
    assert errors_of(Ivr, sms_text="x" * 71)[0][0] == "sms_text"
