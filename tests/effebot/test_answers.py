from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.effebot import (
    AmbiguousError,
    AuthenticationRejected,
    EndpointMissing,
    InsufficientBalance,
    ModerationRequired,
    OperatorActionRequired,
    ProviderServerError,
    RateLimited,
    RejectedError,
    RetrySafeError,
    UnexplainedRefusal,
    UriTooLong,
    ValidationRejected,
)
from dispatcher.effebot.answers import (
    envelope_refusal,
    error_for_envelope,
    error_for_status,
    parse_error_body,
    parse_json_body,
    parse_retry_after,
)
from dispatcher.effebot.errors import EffebotError

SANDBOX_422 = json.dumps(
    {
        "status": "error",
        "message": "invalid request",
        "errors": {"ivrs.0.smsText": ["at most 70 characters"], "phone": ["required"]},
    }
).encode()


@pytest.mark.parametrize(
    ("status_code", "expected"),
    [
        (400, ValidationRejected),
        (401, AuthenticationRejected),
        (402, InsufficientBalance),
        (403, AuthenticationRejected),
        (404, ValidationRejected),
        (409, ValidationRejected),
        (422, ValidationRejected),
        (418, ValidationRejected),
        (405, ValidationRejected),
        (410, ValidationRejected),
        (451, ValidationRejected),
        (408, ProviderServerError),
        (429, RateLimited),
        (500, ProviderServerError),
        (502, ProviderServerError),
        (503, ProviderServerError),
        (504, ProviderServerError),
        (505, ProviderServerError),
        (520, ProviderServerError),
        (599, ProviderServerError),
        (301, ValidationRejected),
        (414, UriTooLong),
    ],
)
def test_each_status_code_maps_to_its_error_class(
    status_code: int, expected: type[EffebotError]
) -> None:
    error = error_for_status(status_code, b"", endpoint="apiCalls/create", phone_count=3)
    assert type(error) is expected
    assert error.status_code == status_code
    assert error.endpoint == "apiCalls/create"
    assert error.phone_count == 3


def test_the_three_subtrees_split_by_what_is_safe() -> None:
    assert issubclass(ValidationRejected, RejectedError)
    assert issubclass(RateLimited, RetrySafeError)
    assert issubclass(ProviderServerError, AmbiguousError)


def test_a_refusal_that_talks_about_the_balance_is_insufficient_balance() -> None:
    body = json.dumps({"status": "error", "message": "Insufficient balance"}).encode()
    error = error_for_status(400, body, endpoint="apiCalls/create")
    assert isinstance(error, InsufficientBalance)
    assert error.provider_message == "Insufficient balance"


def test_a_rejection_carries_the_message_and_the_fields() -> None:
    error = error_for_status(422, SANDBOX_422, endpoint="apiCalls/create")
    assert isinstance(error, ValidationRejected)
    assert error.provider_message == "invalid request"
    assert error.fields == {"ivrs.0.smsText": ["at most 70 characters"], "phone": ["required"]}
    assert "ivrs.0.smsText: at most 70 characters" in str(error)
    assert str(error).startswith("apiCalls/create: HTTP 422: invalid request")


def test_rate_limited_carries_retry_after_seconds() -> None:
    error = error_for_status(429, b"slow down", endpoint="apiCalls/get", retry_after="3")
    assert isinstance(error, RateLimited)
    assert error.retry_after_s == 3.0
    assert error_for_status(429, b"", endpoint="x").retry_after_s is None  # type: ignore[attr-defined]


def test_the_api_key_is_scrubbed_from_echoed_messages() -> None:
    key = "live-key-0123456789"
    body = json.dumps(
        {"message": f"invalid api key {key}", "errors": {"apiKey": [f"{key} is unknown"]}}
    ).encode()
    error = error_for_status(
        401, body, endpoint="apiCalls/create", scrub=lambda text: text.replace(key, "***")
    )
    assert key not in str(error)
    assert key not in repr(error.fields)
    assert key not in (error.provider_message or "")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "message", "fields"),
    [
        (SANDBOX_422, "invalid request", {"phone": ["required"]}),
        (b'{"error": "bad"}', "bad", {}),
        (b'{"errors": {"phone": "required"}}', None, {"phone": ["required"]}),
        (
            b'{"errors": [{"field": "phone", "message": "required"}]}',
            None,
            {"phone": ["required"]},
        ),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "502 Bad Gateway", {}),
        (b"plain text", "plain text", {}),
        (b"", None, {}),
        (b'"just a string"', "just a string", {}),
    ],
)
def test_error_bodies_are_read_tolerantly(
    body: bytes, message: str | None, fields: dict[str, list[str]]
) -> None:
    got_message, got_fields = parse_error_body(body)
    assert got_message == message
    for name, texts in fields.items():
        assert got_fields[name] == texts


def test_a_long_html_error_page_is_shortened() -> None:
    message, _ = parse_error_body(b"<html>" + b"x" * 10_000 + b"</html>")
    assert message is not None
    assert len(message) <= 300


def test_the_references_unquoted_success_and_done_are_read() -> None:
    assert parse_json_body(b'{\n"status": success,\n"data": done\n}') == {
        "status": "success",
        "data": "done",
    }
    assert parse_json_body(b'{"status": success, "data": [{"id": 1, "x": true}]}') == {
        "status": "success",
        "data": [{"id": 1, "x": True}],
    }


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"id": 1', b"", b"\xff\xfe"])
def test_bodies_that_are_not_json_are_refused(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - json and unicode errors are both ValueError
        parse_json_body(body)


def test_a_2xx_saying_status_error_is_a_refusal() -> None:
    assert envelope_refusal({"status": "error", "message": "no such phone"}) == "no such phone"
    assert envelope_refusal({"status": "success", "data": []}) is None
    assert envelope_refusal([1, 2]) is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("2", now=now) == 2.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") == 0.0


@given(st.integers(min_value=0, max_value=10**6))
def test_any_delta_seconds_retry_after_is_read_exactly(seconds: int) -> None:
    assert parse_retry_after(str(seconds)) == seconds


@given(
    st.integers(min_value=300, max_value=599),
    st.sampled_from(["apiCalls/create", "apiCalls/get", "apiCalls/remove"]),
    st.none() | st.integers(1, 1000),
)
def test_every_error_status_lands_in_exactly_one_subtree_whatever_the_request(
    status_code: int, endpoint: str, phone_count: int | None
) -> None:
    # Which subtree is checked on worked examples above; here: never two, never none, and the
    # same for every endpoint and batch size.
    error = error_for_status(status_code, b"", endpoint=endpoint, phone_count=phone_count)
    subtrees = [isinstance(error, tree) for tree in (RejectedError, RetrySafeError, AmbiguousError)]
    assert subtrees.count(True) == 1
    reference = error_for_status(status_code, b"", endpoint="apiCalls/create")
    assert type(error) is type(reference)


# --- a 2xx that says "status": "error" is read like any other refusal --------------------------


@pytest.mark.parametrize(
    ("payload", "is_create", "expected"),
    [
        ({"status": "error", "message": "Insufficient balance"}, True, InsufficientBalance),
        ({"status": "error", "message": "not enough funds"}, False, InsufficientBalance),
        ({"status": "error", "message": "invalid api key"}, True, AuthenticationRejected),
        ({"status": "error", "errors": {"apiKey": ["unknown"]}}, True, AuthenticationRejected),
        (
            {"status": "error", "errors": {"record.id": ["The record has not passed moderation."]}},
            True,
            ModerationRequired,
        ),
        ({"status": "error", "errors": {"phone": ["required"]}}, True, ValidationRejected),
        (
            {"status": "fail", "errors": [{"field": "lang", "message": "bad"}]},
            True,
            ValidationRejected,
        ),
        ({"status": "error", "message": "phone is blocked"}, True, UnexplainedRefusal),
        ({"status": "error"}, True, UnexplainedRefusal),
        ({"status": "error", "message": "phone is blocked"}, False, ValidationRejected),
    ],
)
def test_a_2xx_status_error_is_classified_by_what_it_says(
    payload: dict[str, object], is_create: bool, expected: type[EffebotError]
) -> None:
    error = error_for_envelope(
        payload, endpoint="apiCalls/create", is_create=is_create, phone_count=2
    )
    assert type(error) is expected
    assert error is not None
    assert (error.status_code, error.phone_count) == (200, 2)


def test_a_2xx_status_error_keeps_and_shows_its_fields() -> None:
    payload = {
        "status": "error",
        "message": "The given data was invalid.",
        "errors": {"outgoingPhone": ["not a confirmed number"], "lang": ["invalid"]},
    }
    error = error_for_envelope(payload, endpoint="apiCalls/create", is_create=True)
    assert isinstance(error, ValidationRejected)
    assert error.fields == {"outgoingPhone": ["not a confirmed number"], "lang": ["invalid"]}
    assert "outgoingPhone: not a confirmed number" in str(error)
    assert "lang: invalid" in str(error)


def test_an_unexplained_create_refusal_is_ambiguous_not_rejected() -> None:
    error = error_for_envelope({"status": "error"}, endpoint="apiCalls/create", is_create=True)
    assert isinstance(error, AmbiguousError)
    assert not isinstance(error, RejectedError)
    assert "may or may not" in str(error)


def test_a_2xx_without_status_error_is_no_refusal() -> None:
    assert error_for_envelope({"status": "success", "data": []}, endpoint="x") is None
    assert error_for_envelope({"id": 1}, endpoint="x", is_create=True) is None
    assert error_for_envelope([{"status": "error"}], endpoint="x") is None


def test_a_4xx_that_talks_about_moderation_needs_an_operator() -> None:
    body = json.dumps({"errors": {"record.id": ["The record has not passed moderation."]}})
    error = error_for_status(422, body.encode(), endpoint="apiCalls/create")
    assert isinstance(error, ModerationRequired)
    assert isinstance(error, OperatorActionRequired)
    assert "resume once it is approved" in error.pause_reason()


@pytest.mark.parametrize("status_code", [404, 405])
def test_a_missing_configurable_endpoint_names_its_setting(status_code: int) -> None:
    error = error_for_status(
        status_code,
        b"Not Found",
        endpoint="apiCalls/createFromTemplate",
        setting="DISPATCHER_TEMPLATE_CREATE_PATH",
    )
    assert isinstance(error, EndpointMissing)
    assert error.setting == "DISPATCHER_TEMPLATE_CREATE_PATH"
    assert "DISPATCHER_TEMPLATE_CREATE_PATH" in str(error)
    assert "DISPATCHER_TEMPLATE_CREATE_PATH" in error.pause_reason()
    # Without a setting, a 404 is the provider's answer about the request.
    plain = error_for_status(status_code, b"", endpoint="apiCalls/remove")
    assert type(plain) is ValidationRejected
