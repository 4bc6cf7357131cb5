"""A bug answers a bare 500 and is logged once; request logs carry the id, never a webhook token."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dispatcher.logs import configure_logging
from dispatcher.webhook_tokens import webhook_token
from tests.api.conftest import WEBHOOK_SECRET


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", stream=stream)
    yield stream
    configure_logging(level="INFO", fmt="json")


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def test_an_unhandled_error_is_a_bare_500_logged_once(
    app: Any, client: httpx.Client, log_lines: io.StringIO
) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    response = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "internal error",
        "request_id": "req-boom",
    }
    assert "secret internals" not in response.text
    errors = [e for e in events(log_lines) if e["event"] == "http.unhandled_error"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-boom"
    assert "secret internals" in errors[0]["exception"]


def test_request_logs_name_the_route_template_not_the_secret_path(
    client: httpx.Client, log_lines: io.StringIO
) -> None:
    token = webhook_token(WEBHOOK_SECRET, "0123456789abcdef")
    client.post(f"/webhooks/effebot/{token}", json={"hello": 1})
    client.get("/campaigns", headers={"X-Request-ID": "req-list"})
    lines = [e for e in events(log_lines) if e["event"] == "http.request"]
    assert {e["route"] for e in lines} >= {"/webhooks/effebot/{token}", "/campaigns"}
    assert token not in log_lines.getvalue()
    listing = next(e for e in lines if e["route"] == "/campaigns")
    assert (listing["request_id"], listing["status"], listing["method"]) == ("req-list", 200, "GET")
