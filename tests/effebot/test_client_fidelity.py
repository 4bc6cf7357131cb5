"""The client reads every answer the reference allows: over real HTTP against the sandbox."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from dispatcher.effebot import (
    MAX_URL_BYTES,
    CallOptions,
    CreateFromTemplateRequest,
    EffebotClient,
    EndpointMissing,
    InsufficientBalance,
    ModerationRequired,
    UriTooLong,
    ValidationRejected,
)
from dispatcher.effebot.client import TEMPLATE_CREATE_SETTING, TEMPLATE_LIST_SETTING

KEY = "sandbox-key"
CALLER = "99999999997"
LANGUAGES = "/apiCalls/getAvailableLanguages"
OPTIONS = CallOptions(outgoing_phone=CALLER, record={"id": 1})


def statuses(sandbox: Any, path: str) -> dict[str, int]:
    """The sandbox's answers on `path`, counted by status."""
    counts: dict[str, int] = sandbox.stats()["requests"].get(path, {})
    return counts


# --- getAvailableLanguages: GET as documented, POST as sampled, remembered --------------------


def test_languages_are_read_with_get_first_when_the_provider_takes_it(
    client: EffebotClient, sandbox: Any
) -> None:
    assert "en-US" in {lang.default_lang_code for lang in client.get_available_languages()}
    assert client.languages_method == "GET"
    client.get_available_languages()
    assert statuses(sandbox, LANGUAGES) == {"200": 2}


def test_languages_fall_back_to_post_once_and_remember_it(
    client: EffebotClient, sandbox: Any
) -> None:
    sandbox.configure(languages_methods=["POST"])
    assert "de-DE" in {lang.default_lang_code for lang in client.get_available_languages()}
    assert client.languages_method == "POST"
    client.get_available_languages()
    client.get_available_languages()
    assert statuses(sandbox, LANGUAGES) == {"405": 1, "200": 3}


def test_languages_from_a_get_only_provider(client: EffebotClient, sandbox: Any) -> None:
    sandbox.configure(languages_methods=["GET"])
    assert client.get_available_languages()
    assert statuses(sandbox, LANGUAGES) == {"200": 1}


def test_the_key_of_a_languages_get_is_never_logged(
    captured_logs: io.StringIO, sandbox: Any, http: httpx.Client
) -> None:
    client = EffebotClient(http, base_url=sandbox.url, api_key=KEY)
    client.get_available_languages()
    sandbox.configure(languages_methods=["POST"])
    EffebotClient(http, base_url=sandbox.url, api_key=KEY).get_available_languages()
    text = captured_logs.getvalue()
    assert KEY not in text
    methods = [
        (line.get("method"), line["status_code"])
        for line in map(json.loads, text.splitlines())
        if line["event"] == "effebot.request"
    ]
    assert methods == [("GET", 200), ("GET", 405), ("POST", 200)]


# --- get: the URL stays under 8 KB, a 414 halves the chunk --------------------------------------


def test_a_huge_get_chunk_setting_still_keeps_every_url_under_the_cap(
    sandbox: Any, http: httpx.Client
) -> None:
    sandbox.configure(max_url_bytes=MAX_URL_BYTES)  # anything longer would be answered 414
    client = EffebotClient(http, base_url=sandbox.url, api_key=KEY, get_chunk_size=500)
    created = client.create(OPTIONS.to_request(["15550000001"])).id
    assert created is not None
    unknown = [9_000_000_000 + n for n in range(1200)]  # ten digits each: long query strings
    found = client.get_calls([*unknown, created])
    assert [d.id for d in found] == [created]
    answered = statuses(sandbox, "/apiCalls/get")
    assert "414" not in answered
    # 500 ten-digit ids would make a 15 KB URL: the chunks were cut to fit.
    assert answered["200"] >= 3


def test_a_414_is_retried_with_a_smaller_chunk_and_remembered(
    sandbox: Any, http: httpx.Client
) -> None:
    client = EffebotClient(http, base_url=sandbox.url, api_key=KEY, get_chunk_size=100)
    ids = [client.create(OPTIONS.to_request([f"155500002{n:02d}"])).id for n in range(40)]
    wanted = [call_id for call_id in ids if call_id is not None]
    sandbox.configure(max_url_bytes=700)  # about 25 two-digit ids
    found = client.get_calls(wanted)
    assert sorted(d.id or 0 for d in found) == sorted(wanted)
    first = statuses(sandbox, "/apiCalls/get")
    assert first["414"] >= 1
    client.get_calls(wanted)
    assert statuses(sandbox, "/apiCalls/get")["414"] == first["414"], "the smaller chunk stays"


def test_a_single_id_too_long_for_the_server_is_a_retry_safe_error(
    sandbox: Any, http: httpx.Client
) -> None:
    sandbox.configure(max_url_bytes=30)
    client = EffebotClient(http, base_url=sandbox.url, api_key=KEY)
    with pytest.raises(UriTooLong) as caught:
        client.get_calls([123456789])
    assert caught.value.status_code == 414


# --- the template endpoints' paths are guesses: a wrong one names its setting ------------------


def test_a_missing_template_create_endpoint_names_its_setting(
    sandbox: Any, http: httpx.Client
) -> None:
    client = EffebotClient(
        http, base_url=sandbox.url, api_key=KEY, template_create_path="apiCalls/noSuchPath"
    )
    request = CreateFromTemplateRequest(template_id=1, duty_phone=1, phones=["15550000030"])
    with pytest.raises(EndpointMissing) as caught:
        client.create_from_template(request)
    assert caught.value.status_code == 404
    assert caught.value.setting == TEMPLATE_CREATE_SETTING
    assert TEMPLATE_CREATE_SETTING in caught.value.pause_reason()
    with pytest.raises(EndpointMissing):
        client.check_template_create_path()
    assert sandbox.stats()["creates_per_phone"] == {}


def test_a_template_list_path_that_refuses_post_is_405_naming_its_setting(
    sandbox: Any, http: httpx.Client
) -> None:
    sandbox.configure(languages_methods=["GET"])
    client = EffebotClient(
        http, base_url=sandbox.url, api_key=KEY, template_list_path=LANGUAGES.lstrip("/")
    )
    with pytest.raises(EndpointMissing) as caught:
        client.list_templates()
    assert (caught.value.status_code, caught.value.setting) == (405, TEMPLATE_LIST_SETTING)


def test_an_existing_template_create_endpoint_is_checked_without_dialling(
    client: EffebotClient, sandbox: Any
) -> None:
    assert client.check_template_create_path() == 422
    assert sandbox.stats()["creates_per_phone"] == {}


# --- refusals that arrive as HTTP 200 -----------------------------------------------------------


def test_a_balance_refusal_answered_200_is_insufficient_balance(
    client: EffebotClient, sandbox: Any
) -> None:
    sandbox.configure(refusal_status=200, balance=0.0)
    with pytest.raises(InsufficientBalance) as caught:
        client.create(OPTIONS.to_request(["15550000050"]))
    assert caught.value.status_code == 200


def test_a_field_refusal_answered_200_keeps_its_fields(client: EffebotClient, sandbox: Any) -> None:
    sandbox.configure(refusal_status=200)
    bad = CallOptions(outgoing_phone="15559999999", record={"id": 1}, lang="fr-FR")
    with pytest.raises(ValidationRejected) as caught:
        client.create(bad.to_request(["15550000051"]))
    assert caught.value.status_code == 200
    assert set(caught.value.fields) == {"outgoingPhone", "lang"}
    assert "outgoingPhone: The outgoingPhone is not a confirmed number" in str(caught.value)


# --- moderation ----------------------------------------------------------------------------------


def test_a_record_in_moderation_is_a_moderation_refusal(
    client: EffebotClient, sandbox: Any
) -> None:
    sandbox.configure(moderation_rate=1.0)
    record = client.create_text_record("Pending", "Hello")
    assert record.need_moderation is True
    assert record.status == "moderation"
    options = CallOptions(outgoing_phone=CALLER, record={"id": record.id})
    with pytest.raises(ModerationRequired) as caught:
        client.create(options.to_request(["15550000052"]))
    assert "record.id" in caught.value.fields
    assert "resume once it is approved" in caught.value.pause_reason()


def test_removing_one_record_reads_either_shape(client: EffebotClient) -> None:
    record = client.create_text_record("One", "Hello")
    assert record.id is not None
    removed = client.remove_records([record.id])
    assert [r.id for r in removed] == [record.id]
    assert removed[0].deleted_at is not None


def test_a_record_name_over_255_characters_is_refused_before_sending(
    client: EffebotClient, sandbox: Any
) -> None:
    with pytest.raises(ValueError, match="at most 255"):
        client.create_text_record("n" * 256, "Hello")
    assert sandbox.stats()["requests"] == {}
    assert client.create_text_record("n" * 255, "Hello").id is not None
