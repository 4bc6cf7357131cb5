"""The client against the project's sandbox emulator, over real HTTP.

Every test that uses the `client` fixture runs twice: against the sandbox answering `get` and
`removeRecord` in the reference's exact shapes (one bare object when there is one), and against
it answering JSON arrays, the other shape a real provider may use.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from dispatcher.effebot import (
    AuthenticationRejected,
    CallOptions,
    ConnectionDropped,
    CreateCallRequest,
    CreateFromTemplateRequest,
    EffebotClient,
    EffebotError,
    InsufficientBalance,
    ProviderServerError,
    ProviderUnreachable,
    RateLimited,
    ReplanItem,
    ResponseTimeout,
    ValidationRejected,
    make_http_client,
)
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings

KEY = "sandbox-key"
CALLER = "99999999997"  # a confirmed personal number of the sandbox's default account
OPTIONS = CallOptions(outgoing_phone=CALLER, record={"id": 1})


def requests_to(sandbox: Any, endpoint: str) -> int:
    """How many requests the sandbox answered on an endpoint (any status)."""
    counts = sandbox.stats()["requests"]
    by_status = counts.get(endpoint) or counts.get(endpoint.lstrip("/")) or {}
    return sum(by_status.values())


def far_future(sandbox: Any) -> datetime:
    """A time the sped-up sandbox clock will not reach during the test."""
    sim_now_s = float(sandbox.stats()["sim_now"])
    return datetime.fromtimestamp(sim_now_s, UTC) + timedelta(days=365)


# --- every endpoint round-trips ---------------------------------------------------------------


def test_create_and_get_round_trip(client: EffebotClient, sandbox: Any) -> None:
    request = CreateCallRequest(
        phones=["15550000001", "15550000002"],
        outgoing_phone=CALLER,
        record={"text": "Hello, this is a test."},
        ivrs=[{"digit": 1, "need_block": 0, "sms_text": "Thanks"}, {"digit": 2, "need_block": 1}],
        need_recording=True,
        lang="en-US",
    )
    created = client.create(request)
    assert created.id is not None
    assert created.phone == ["15550000001", "15550000002"]
    assert created.created_at is not None
    assert created.raw["id"] == created.id
    (details,) = client.get_calls([created.id])
    assert details.id == created.id
    assert sorted(call.phone or "" for call in details.calls) == ["15550000001", "15550000002"]
    assert all(call.status for call in details.calls)
    assert sandbox.stats()["creates_per_phone"] == {"15550000001": 1, "15550000002": 1}


def test_a_single_phone_create_answers_the_phone_string(client: EffebotClient) -> None:
    created = client.create(OPTIONS.to_request(["15550000003"]))
    assert created.phone == "15550000003"
    assert created.need_recording is False


def test_unknown_ids_are_simply_absent_from_get(client: EffebotClient) -> None:
    created = client.create(OPTIONS.to_request(["15550000004"]))
    assert created.id is not None
    assert [d.id for d in client.get_calls([created.id, 987654321])] == [created.id]


def test_replan_moves_a_planned_call(client: EffebotClient, sandbox: Any) -> None:
    later = far_future(sandbox)
    created = client.create(OPTIONS.to_request(["15550000005"], planned_at=later))
    assert created.id is not None
    result = client.replan([ReplanItem(id=created.id, replanned_at=later + timedelta(hours=1))])
    assert result.call_id_list == [created.id]
    (details,) = client.get_calls([created.id])
    assert details.planned_at == (later + timedelta(hours=1)).replace(microsecond=0)


def test_remove_one_and_remove_many(client: EffebotClient, sandbox: Any) -> None:
    later = far_future(sandbox)
    ids = [
        client.create(OPTIONS.to_request([f"1555000001{n}"], planned_at=later)).id for n in range(3)
    ]
    assert all(ids)
    first, *rest = [call_id for call_id in ids if call_id is not None]
    single = client.remove(first)
    assert single.status == "success"
    assert single.call_id_list == []
    assert sorted(client.remove_many(rest).call_id_list) == sorted(rest)


def test_records_are_created_from_text_and_file_and_removed(client: EffebotClient) -> None:
    text_record = client.create_text_record("Greeting", "Hello world")
    assert text_record.id is not None
    assert text_record.name == "Greeting"
    file_record = client.create_file_record("Upload", b"ID3\x00fake-mp3-bytes", "hello.mp3")
    assert file_record.id is not None
    assert file_record.id != text_record.id
    removed = client.remove_records([text_record.id, file_record.id])
    assert sorted(r.id or 0 for r in removed) == sorted([text_record.id, file_record.id])


def test_a_created_record_can_be_dialled(client: EffebotClient) -> None:
    record = client.create_text_record("For a call", "Your appointment is tomorrow.")
    options = CallOptions(duty_phone=1, record={"id": record.id})
    assert client.create(options.to_request(["15550000020"])).id is not None


def test_account_endpoints_round_trip(client: EffebotClient) -> None:
    info = client.user_info()
    assert info.id is not None
    assert info.balance is not None
    assert info.balance > 0
    phones = client.get_phones(all=True)
    assert CALLER in {p.phone for p in phones}
    assert any(p.is_system for p in phones)
    codes = {lang.default_lang_code for lang in client.get_available_languages()}
    assert {"en-US", "ru-RU", "es-ES", "de-DE"} <= codes
    assert client.confirm_phone("15557770000", "0123").status == "success"
    assert "15557770000" in {p.phone for p in client.get_phones()}


def test_templates_are_listed_and_dialled(client: EffebotClient) -> None:
    every = client.list_templates()
    moderated = client.list_templates(only_moderated=True)
    assert {t.id for t in moderated} <= {t.id for t in every}
    assert len(moderated) < len(every)
    template_id = moderated[0].id
    assert template_id is not None
    created = client.create_from_template(
        CreateFromTemplateRequest(template_id=template_id, duty_phone=1, phones=["15550000030"])
    )
    assert created.id is not None
    assert client.get_calls([created.id])[0].calls[0].phone == "15550000030"


# --- refused before sending -------------------------------------------------------------------


def test_a_client_side_invalid_request_never_reaches_the_provider(
    client: EffebotClient, sandbox: Any
) -> None:
    with pytest.raises(ValidationError, match="sms_text"):
        CreateCallRequest(
            **{**OPTIONS.model_dump(), "ivrs": [{"sms_text": "x" * 71}]}, phone="15550000001"
        )
    # Models built without validation are validated again by the client before sending.
    forged = CreateCallRequest.model_construct(
        phone="+1 555", outgoing_phone=CALLER, record=OPTIONS.record
    )
    with pytest.raises(ValidationError, match="phone"):
        client.create(forged)
    copied = OPTIONS.to_request(["15550000001"]).model_copy(update={"ivrs": [{"digit": 10}]})
    with pytest.raises(ValidationError, match="digit"):
        client.create(copied)
    assert sandbox.stats()["requests"] == {}


# --- the provider's refusals ------------------------------------------------------------------


def test_a_provider_validation_refusal_names_the_field(client: EffebotClient) -> None:
    options = CallOptions(outgoing_phone="12345", record={"id": 424242})
    with pytest.raises(ValidationRejected) as caught:
        client.create(options.to_request(["15550000040", "15550000041"]))
    error = caught.value
    assert error.status_code == 422
    assert error.phone_count == 2
    assert error.endpoint == "apiCalls/create"
    assert any("outgoingPhone" in name for name in error.fields), error.fields


def test_a_wrong_key_is_authentication_rejected(sandbox: Any, http: httpx.Client) -> None:
    wrong = EffebotClient(http, base_url=sandbox.url, api_key="not-the-key")
    with pytest.raises(AuthenticationRejected) as caught:
        wrong.user_info()
    assert caught.value.status_code == 401
    assert "not-the-key" not in str(caught.value)


def test_an_empty_balance_is_insufficient_balance(client: EffebotClient, sandbox: Any) -> None:
    sandbox.configure(balance=0.0)
    options = CallOptions(outgoing_phone=CALLER, record={"text": "Costs money"})
    with pytest.raises(InsufficientBalance) as caught:
        client.create(options.to_request(["15550000050"]))
    assert caught.value.status_code == 402


# --- injected faults map to the right class ---------------------------------------------------


def test_a_5xx_is_a_provider_server_error(client: EffebotClient, sandbox: Any) -> None:
    sandbox.configure(error_rate=1.0)
    with pytest.raises(ProviderServerError) as caught:
        client.create(OPTIONS.to_request(["15550000060"]))
    assert caught.value.status_code is not None
    assert caught.value.status_code >= 500
    assert caught.value.phone_count == 1


def test_a_dropped_connection_is_connection_dropped(client: EffebotClient, sandbox: Any) -> None:
    sandbox.configure(drop_rate=1.0)
    with pytest.raises(ConnectionDropped) as caught:
        client.create(OPTIONS.to_request(["15550000061"]))
    assert caught.value.endpoint == "apiCalls/create"
    # The drop happens after applying: this is exactly the ambiguous case.
    assert sandbox.stats()["creates_per_phone"] == {"15550000061": 1}


def test_a_hang_past_the_read_timeout_is_a_response_timeout(sandbox: Any) -> None:
    sandbox.configure(hang_rate=1.0, hang_s=3.0)
    settings = Settings(read_timeout_s=0.3)
    with make_http_client(settings) as http:
        client = EffebotClient(http, base_url=sandbox.url, api_key=KEY)
        with pytest.raises(ResponseTimeout) as caught:
            client.create(OPTIONS.to_request(["15550000062"]))
    assert caught.value.status_code is None


def test_a_429_is_rate_limited_with_retry_after(client: EffebotClient, sandbox: Any) -> None:
    sandbox.configure(rate_limit_per_s=1)
    client.user_info()
    with pytest.raises(RateLimited) as caught:
        client.user_info()
    assert caught.value.status_code == 429
    assert caught.value.retry_after_s is not None
    assert caught.value.retry_after_s >= 1


def test_a_port_nothing_listens_on_is_provider_unreachable(http: httpx.Client) -> None:
    client = EffebotClient(http, base_url=f"http://127.0.0.1:{free_port()}", api_key=KEY)
    with pytest.raises(ProviderUnreachable) as caught:
        client.create(OPTIONS.to_request(["15550000063"]))
    assert caught.value.status_code is None
    assert caught.value.phone_count == 1
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


# --- get chunking -----------------------------------------------------------------------------


def test_long_id_lists_are_fetched_in_chunks(sandbox: Any, http: httpx.Client) -> None:
    client = EffebotClient(http, base_url=sandbox.url, api_key=KEY, get_chunk_size=3)
    ids = [client.create(OPTIONS.to_request([f"155500001{n:02d}"])).id for n in range(7)]
    wanted = [call_id for call_id in ids if call_id is not None]
    assert len(wanted) == 7
    details = client.get_calls(wanted)
    assert sorted(d.id or 0 for d in details) == sorted(wanted)
    assert requests_to(sandbox, "/apiCalls/get") == 3


# --- the key stays secret ---------------------------------------------------------------------


def test_no_log_line_or_error_ever_holds_the_key(
    captured_logs: io.StringIO, sandbox: Any, http: httpx.Client
) -> None:
    client = EffebotClient(http, base_url=sandbox.url, api_key=KEY)
    created = client.create(OPTIONS.to_request(["15550000070"]))
    assert created.id is not None
    client.get_calls([created.id])
    client.user_info()
    client.create_file_record("Upload", b"bytes", "a.mp3")
    failures: list[EffebotError] = []
    bad = CallOptions(outgoing_phone="12345", record={"id": 1}).to_request(["15550000071"])
    for fault in ({}, {"error_rate": 1.0}, {"error_rate": 0.0, "drop_rate": 1.0}):
        sandbox.configure(**fault)
        with pytest.raises(EffebotError) as caught:
            client.create(bad if not fault else OPTIONS.to_request(["15550000072"]))
        failures.append(caught.value)
    sandbox.configure(error_rate=0.0, drop_rate=0.0)
    with pytest.raises(ProviderUnreachable) as unreachable:
        EffebotClient(http, base_url=f"http://127.0.0.1:{free_port()}", api_key=KEY).user_info()
    failures.append(unreachable.value)

    text = captured_logs.getvalue()
    assert KEY not in text
    # Not even redacted: the client never hands the key to the logger in the first place.
    assert "***" not in text
    for error in failures:
        assert KEY not in str(error)
        assert KEY not in repr(error)
        assert KEY not in repr(vars(error))
    lines = [json.loads(line) for line in text.splitlines()]
    requests = [line for line in lines if line["event"] == "effebot.request"]
    assert len(requests) == 8  # exactly one line per provider request
    assert [line["level"] for line in requests[-4:]] == ["warning"] * 4
    assert {line["endpoint"] for line in requests} >= {"apiCalls/create", "apiCalls/get"}
    assert all("latency_ms" in line for line in requests)
    assert requests[0]["phone_count"] == 1
    assert requests[0]["api_call_id"] == created.id
    assert requests[1]["api_call_ids"] == [created.id]
    assert [line.get("error") for line in requests[-4:]] == [
        "ValidationRejected",
        "ProviderServerError",
        "ConnectionDropped",
        "ProviderUnreachable",
    ]
