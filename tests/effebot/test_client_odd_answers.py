"""Answers the sandbox never gives (HTML 200s, huge bodies, unquoted words), over real HTTP.

A tiny HTTP server in the test plays back canned answers; the client and httpx run unchanged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from dispatcher.effebot import (
    CallOptions,
    EffebotClient,
    MalformedResponse,
    ProviderServerError,
    RateLimited,
    UnexplainedRefusal,
    ValidationRejected,
)

KEY = "odd-answers-key-0123"
REQUEST = CallOptions(duty_phone=1, record={"id": 1}).to_request(["15550000001", "15550000002"])


class CannedAnswers:
    """The next answer to play, and what the server was sent."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.status = 200
        self.headers: dict[str, str] = {"content-type": "application/json"}
        self.body = b"{}"
        self.received: list[tuple[str, bytes]] = []

    def answer(self, status: int, body: bytes | str | Any, **headers: str) -> None:
        if not isinstance(body, bytes | str):
            body = json.dumps(body)
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        self.headers = {"content-type": "application/json", **named}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[CannedAnswers, str]]:
    answers = CannedAnswers()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            answers.received.append((self.path, self.rfile.read(length)))
            self.send_response(answers.status)
            for name, value in answers.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answers.body)))
            self.end_headers()
            self.wfile.write(answers.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield answers, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def canned(server: tuple[CannedAnswers, str]) -> tuple[CannedAnswers, str]:
    server[0].reset()
    return server


@pytest.fixture
def client(canned: tuple[CannedAnswers, str]) -> Iterator[EffebotClient]:
    with httpx.Client(timeout=5.0) as http:
        yield EffebotClient(http, base_url=canned[1], api_key=KEY, max_response_bytes=4096)


def test_an_html_page_with_200_is_a_malformed_response(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(200, "<html><body>Welcome</body></html>", content_type="text/html")
    with pytest.raises(MalformedResponse) as caught:
        client.create(REQUEST)
    assert caught.value.status_code == 200
    assert caught.value.phone_count == 2


@pytest.mark.parametrize(
    "payload", [{"id": "not-a-number"}, {"createdAt": 1}, [1, 2], "done", {"id": None}]
)
def test_a_create_answer_without_a_usable_id_is_malformed(
    canned: tuple[CannedAnswers, str], client: EffebotClient, payload: Any
) -> None:
    canned[0].answer(200, payload)
    with pytest.raises(MalformedResponse, match="apiCalls/create: HTTP 200"):
        client.create(REQUEST)


def test_a_body_over_the_size_limit_is_not_read_to_the_end(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(200, {"id": 1, "padding": "x" * 10_000})
    with pytest.raises(MalformedResponse, match="bigger than 4096 bytes"):
        client.create(REQUEST)


def test_a_2xx_saying_status_error_without_a_reason_is_ambiguous_for_a_create(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(200, {"status": "error", "message": "phone is blocked"})
    with pytest.raises(UnexplainedRefusal, match="phone is blocked") as caught:
        client.create(REQUEST)
    assert caught.value.status_code == 200
    # The same answer to a read is a plain refusal: reading again is always safe.
    with pytest.raises(ValidationRejected, match="phone is blocked"):
        client.user_info()


def test_a_2xx_saying_status_error_with_fields_is_a_validation_refusal_showing_them(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(
        200, {"status": "error", "errors": {"outgoingPhone": ["not a confirmed number"]}}
    )
    with pytest.raises(ValidationRejected, match="outgoingPhone: not a confirmed number") as caught:
        client.create(REQUEST)
    assert caught.value.fields == {"outgoingPhone": ["not a confirmed number"]}


def test_the_references_unquoted_answers_are_understood(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(200, '{\n"status": success,\n"data": done\n}')
    answer = client.confirm_phone("15550000001", 1234)
    assert (answer.status, answer.data) == ("success", "done")
    assert json.loads(canned[0].received[-1][1]) == {
        "apiKey": KEY,
        "phone": "15550000001",
        "pin": "1234",
    }


def test_a_503_html_page_is_a_server_error_with_a_short_message(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(503, "<html><h1>Service Unavailable</h1></html>", content_type="text/html")
    with pytest.raises(ProviderServerError, match="Service Unavailable"):
        client.user_info()


def test_retry_after_as_an_http_date_is_read(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    canned[0].answer(429, {"message": "slow down"}, retry_after=when)
    with pytest.raises(RateLimited) as caught:
        client.get_calls([1])
    assert caught.value.retry_after_s is not None
    assert 25 <= caught.value.retry_after_s <= 30


def test_an_echoed_key_is_scrubbed_from_the_error(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(422, {"message": f"bad key {KEY}", "errors": {"apiKey": [f"{KEY}?"]}})
    with pytest.raises(ValidationRejected) as caught:
        client.user_info()
    assert KEY not in str(caught.value)
    assert KEY not in repr(vars(caught.value))


def test_get_sends_ids_in_the_query_and_the_key_only_in_the_body(
    canned: tuple[CannedAnswers, str], client: EffebotClient
) -> None:
    canned[0].answer(200, [])
    assert client.get_calls([3, 4]) == []
    path, body = canned[0].received[-1]
    assert path == "/apiCalls/get?apiCallIdList%5B%5D=3&apiCallIdList%5B%5D=4"
    assert KEY not in path
    assert json.loads(body) == {"apiKey": KEY}
