from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.effebot import (
    Acknowledgement,
    CallDetails,
    CreateCallResponse,
    Language,
    Phone,
    PhoneCall,
    RecordInfo,
    RemovedRecord,
    RemoveResult,
    UpdateResult,
    UserInfo,
)
from dispatcher.effebot.coerce import loose_bool, loose_datetime, loose_int
from dispatcher.effebot.responses import parse_list, parse_object

DETAILS: dict[str, Any] = {
    "id": 17,
    "createdAt": 1700000000,
    "needRecording": 0,
    "plannedAt": 1700000060,
    "webhookUrl": None,
    "webhookSent": 0,
    "amoscriptId": None,
    "webhookParameters": None,
    "webhookTry": 0,
    "recognitionGroupId": None,
    "generateGroupId": None,
    "calls": [
        {
            "phone": "15550000001",
            "ivrDigit": 1,
            "startedAt": 1700000061,
            "answeredAt": 1700000070,
            "managerStartedAt": None,
            "managerAnsweredAt": None,
            "finishedAt": 1700000100,
            "toBlock": 0,
            "status": "completed",
            "hangupCause": 16,
            "managerStatus": None,
            "recordFilePath": None,
            "cost": 0.05,
            "createdAt": 1700000000,
            "updatedAt": 1700000100,
            "label": "127.0.0.1",
            "ivrAnswers": "1",
            "ivrIdList": [3],
            "comment": None,
        }
    ],
}


def test_create_response_reads_the_reference_shape() -> None:
    answer = CreateCallResponse.model_validate(
        {
            "id": 5,
            "createdAt": 1700000000,
            "plannedAt": 1700000000,
            "needrecording": 1,
            "phone": "15550000001",
            "recordCost": 0.01,
        }
    )
    assert answer.id == 5
    assert answer.created_at == datetime.fromtimestamp(1700000000, UTC)
    assert answer.need_recording is True
    assert answer.phone == "15550000001"
    assert answer.record_cost == pytest.approx(0.01)


def test_create_response_tolerates_strings_numbers_and_lists() -> None:
    answer = CreateCallResponse.model_validate(
        {"id": "42", "createdAt": "1700000000", "needRecording": "false", "phone": [15550000001]}
    )
    assert answer.id == 42
    assert answer.created_at == datetime.fromtimestamp(1700000000, UTC)
    assert answer.need_recording is False
    assert answer.phone == ["15550000001"]
    assert answer.planned_at is None


def test_missing_fields_read_as_defaults_and_unknown_ones_are_kept() -> None:
    answer = CreateCallResponse.model_validate({"id": 1, "brandNew": {"x": 1}})
    assert answer.record_cost is None
    assert answer.model_extra == {"brandNew": {"x": 1}}


def test_raw_keeps_exactly_what_the_provider_sent() -> None:
    details = CallDetails.model_validate(DETAILS)
    assert details.raw == DETAILS
    assert details.calls[0].raw == DETAILS["calls"][0]
    assert "raw" not in details.model_dump()


def test_call_details_read_every_field_of_the_reference() -> None:
    details = CallDetails.model_validate(DETAILS)
    assert details.id == 17
    assert details.need_recording is False
    assert details.webhook_sent is False
    call = details.calls[0]
    assert call.phone == "15550000001"
    assert call.ivr_digit == 1
    assert call.answered_at == datetime.fromtimestamp(1700000070, UTC)
    assert call.manager_started_at is None
    assert call.to_block is False
    assert call.status == "completed"
    assert call.hangup_cause == 16
    assert call.cost == pytest.approx(0.05)
    assert call.ivr_id_list == [3]


def test_phone_call_tolerates_odd_types() -> None:
    call = PhoneCall.model_validate(
        {
            "phone": 15550000001,
            "ivrDigit": "3",
            "startedAt": "2023-11-14T22:13:20Z",
            "finishedAt": 0,
            "toBlock": "true",
            "status": "SOMETHING_NEW",
            "hangupCause": "NORMAL_CLEARING",
            "cost": "0,15",
        }
    )
    assert call.phone == "15550000001"
    assert call.ivr_digit == 3
    assert call.started_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert call.finished_at is None
    assert call.to_block is True
    assert call.status == "SOMETHING_NEW"
    assert call.hangup_cause == "NORMAL_CLEARING"
    assert call.cost == pytest.approx(0.15)


def test_unreadable_values_become_none_instead_of_failing_the_answer() -> None:
    call = PhoneCall.model_validate({"cost": "n/a", "startedAt": "soon", "ivrDigit": {"x": 1}})
    assert (call.cost, call.started_at, call.ivr_digit) == (None, None, None)
    assert call.raw["cost"] == "n/a"


@pytest.mark.parametrize(
    "payload",
    [
        DETAILS,
        [DETAILS],
        {"data": [DETAILS]},
        {"status": "success", "data": [DETAILS]},
        {"status": "success", "data": DETAILS},
    ],
    ids=["object", "array", "wrapper", "enveloped-array", "enveloped-object"],
)
def test_get_accepts_an_object_an_array_or_a_data_wrapper(payload: Any) -> None:
    details = parse_list(CallDetails, payload)
    assert [item.id for item in details] == [17]
    assert details[0].calls[0].status == "completed"


def test_an_empty_get_answer_is_an_empty_list() -> None:
    assert parse_list(CallDetails, []) == []
    assert parse_list(CallDetails, {"status": "success", "data": []}) == []
    assert parse_list(CallDetails, {"data": None}) == []


@pytest.mark.parametrize("payload", ["text", 5, [1, 2], [DETAILS, "x"]])
def test_a_payload_of_the_wrong_json_type_is_refused(payload: Any) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_list(CallDetails, payload)


def test_parse_object_refuses_arrays_of_several_and_scalars() -> None:
    with pytest.raises(ValueError, match="expected a JSON object"):
        parse_object(UserInfo, [{"id": 1}, {"id": 2}])
    with pytest.raises(ValueError, match="expected a JSON object"):
        parse_object(UserInfo, "done")


def test_success_envelopes_are_unwrapped_for_lists() -> None:
    phones = parse_list(
        Phone,
        {
            "status": "success",
            "data": [{"id": "1", "phone": "1555", "isSystem": "true", "overall": 1}],
        },
    )
    assert phones[0].id == 1
    assert phones[0].is_system is True
    assert phones[0].overall is True
    languages = parse_list(
        Language,
        {"status": "success", "data": [{"id": 1, "name": "English", "defaultLangCode": "en-US"}]},
    )
    assert languages[0].default_lang_code == "en-US"


def test_update_and_remove_results_read_the_call_id_list() -> None:
    updated = UpdateResult.model_validate(
        {"status": "success", "data": {"callIdList": [123, "321"]}}
    )
    assert updated.call_id_list == [123, 321]
    assert updated.status == "success"
    assert updated.raw == {"status": "success", "data": {"callIdList": [123, "321"]}}
    single = RemoveResult.model_validate({"status": "success", "data": []})
    assert single.call_id_list == []


def test_acknowledgement_keeps_status_and_data() -> None:
    answer = Acknowledgement.model_validate({"status": "success", "data": "done"})
    assert (answer.status, answer.data) == ("success", "done")


def test_record_models_read_the_reference_shapes() -> None:
    record = RecordInfo.model_validate(
        {
            "id": "9",
            "createdAt": 1700000000,
            "needModeration": "0",
            "moderatorComment": None,
            "name": "TestRecord",
            "path": "/r/9.mp3",
            "status": "ready",
            "recordText": "Hello world",
            "cost": "0.01",
        }
    )
    assert (record.id, record.need_moderation, record.cost) == (9, False, 0.01)
    removed = parse_list(RemovedRecord, {"id": 9, "deletedAt": 1700000100, "name": "TestRecord"})
    assert removed[0].deleted_at == datetime.fromtimestamp(1700000100, UTC)


def test_user_info_reads_a_string_balance() -> None:
    info = UserInfo.model_validate({"id": "3", "balance": "999.95"})
    assert (info.id, info.balance) == (3, pytest.approx(999.95))


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_ids_read_the_same_as_ints_or_strings(number: int) -> None:
    assert loose_int(number) == loose_int(str(number)) == number


@given(st.sampled_from([1, "1", True, "true", "True", "yes", 1.0]))
def test_truthy_spellings_read_as_true(value: Any) -> None:
    assert loose_bool(value) is True


@given(st.integers(min_value=1, max_value=4_000_000_000))
def test_timestamps_read_the_same_from_ints_and_strings(seconds: int) -> None:
    expected = datetime.fromtimestamp(seconds, UTC)
    assert loose_datetime(seconds) == loose_datetime(str(seconds)) == expected


@given(st.integers(min_value=100_000_000, max_value=4_000_000_000))
def test_millisecond_timestamps_since_1973_are_recognised(seconds: int) -> None:
    assert loose_datetime(seconds * 1000) == datetime.fromtimestamp(seconds, UTC)
