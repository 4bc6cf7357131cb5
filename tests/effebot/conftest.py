"""Fixtures of the client tests against the sandbox: one httpx client, the effebot client in
both answer shapes, and captured log lines."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from dispatcher.effebot import EffebotClient, make_http_client
from dispatcher.logs import configure_logging
from dispatcher.settings import Settings

KEY = "sandbox-key"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    settings = Settings(connect_timeout_s=2.0, read_timeout_s=5.0, max_connections=4)
    with make_http_client(settings) as client:
        yield client


ANSWER_SHAPES = ["reference-objects", "arrays"]


@pytest.fixture(params=ANSWER_SHAPES)
def client(request: pytest.FixtureRequest, sandbox: Any, http: httpx.Client) -> EffebotClient:
    sandbox.configure(reference_shapes=request.param == "reference-objects")
    return EffebotClient(http, base_url=sandbox.url, api_key=KEY)


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the test, as JSON lines; the previous logging set-up restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging(level="DEBUG", fmt="json", stream=out)
    try:
        yield out
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
