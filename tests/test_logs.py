from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from dispatcher.logs import configure_logging, get_logger


def test_json_lines_off_a_terminal_with_context_and_no_secret() -> None:
    out = io.StringIO()
    key = "live-key-0123456789abcdef"
    configure_logging(level="INFO", fmt="auto", secrets=[key], stream=out)
    structlog.contextvars.bind_contextvars(campaign_id="c1")
    try:
        get_logger().info(
            "provider.request",
            url=f"https://x/?apiKey={key}",
            body={"apiKey": key, "nested": [key]},
        )
        try:
            raise RuntimeError(f"boom with {key}")
        except RuntimeError:
            get_logger().exception("provider.failed")
    finally:
        structlog.contextvars.clear_contextvars()
    text = out.getvalue()
    assert key not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["event"] == "provider.request"
    assert lines[0]["campaign_id"] == "c1"
    assert lines[0]["body"]["apiKey"] == "***"
    assert "***" in lines[1]["exception"]


def test_stdlib_records_are_redacted_too() -> None:
    import logging

    out = io.StringIO()
    key = "another-secret-key-xyz"
    configure_logging(fmt="json", secrets=[key], stream=out)
    logging.getLogger("dramatiq.worker").warning("failed with key %s", key)
    assert key not in out.getvalue()
    assert "failed with key ***" in out.getvalue()


def _fail_inside_a_provider_request(key: str) -> None:
    """Make a real client request fail while its body (holding `apiKey`) is a local in scope."""
    import httpx

    from dispatcher.effebot.client import EffebotClient

    def broken_hook(request: httpx.Request) -> None:
        raise RuntimeError("a bug in a request hook")

    with httpx.Client(event_hooks={"request": [broken_hook]}) as http:
        client = EffebotClient(http, base_url="http://127.0.0.1:9", api_key=key)
        client.user_info()


@pytest.mark.parametrize("fmt", ["console", "json"])
@pytest.mark.parametrize("source", ["structlog", "stdlib"])
def test_an_exception_with_the_key_in_scope_never_prints_the_key(fmt: str, source: str) -> None:
    import logging

    out = io.StringIO()
    key = "live-key-in-a-request-body-4f2a"
    configure_logging(fmt=fmt, secrets=[key], stream=out)
    try:
        _fail_inside_a_provider_request(key)
    except RuntimeError:
        if source == "structlog":
            get_logger("workers.batches").exception("batch.crashed", note=f"key={key}")
        else:  # what dramatiq does when an actor raises
            logging.getLogger("dramatiq.worker.WorkerThread").exception(
                "Failed to process message %s with unhandled exception.", f"send_batch({key})"
            )
    text = out.getvalue()
    assert key not in text
    # The traceback is kept (third-party ones too), as text with the key redacted from it.
    assert "Traceback (most recent call last)" in text
    assert "a bug in a request hook" in text
    assert "***" in text


def test_secrets_are_redacted_url_encoded_escaped_and_inside_objects() -> None:
    out = io.StringIO()
    key = 'k3y/with+odd "chars"&more'
    configure_logging(fmt="json", secrets=[key], stream=out)

    class Holder:
        def __repr__(self) -> str:
            return f"Holder(api_key={key!r})"

    from urllib.parse import quote, quote_plus

    get_logger().info(
        "provider.request",
        url=f"https://x/?apiKey={quote(key, safe='')}&b={quote_plus(key)}",
        body=json.dumps({"apiKey": key}),
        holder=Holder(),
    )
    text = out.getvalue()
    for spelling in (key, quote(key, safe=""), quote_plus(key), json.dumps(key)[1:-1]):
        assert spelling not in text
    assert json.loads(text)["holder"] == "Holder(api_key='***')"


def test_lines_from_many_threads_and_both_loggers_never_run_into_each_other(
    tmp_path: Path,
) -> None:
    import logging
    import sys
    import threading

    path = tmp_path / "worker.log"

    def ours() -> None:
        for i in range(1000):
            get_logger().info("effebot.request", ids=list(range(i % 50 * 40)), n=i)

    def theirs() -> None:
        for i in range(1000):
            logging.getLogger("dramatiq.worker").info("Completed after %sms.", i)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change as often as they can: any gap between writes shows
    try:
        # Line-buffered, as a worker's stderr is.
        with path.open("w", encoding="utf-8", buffering=1) as out:
            configure_logging(level="INFO", fmt="json", stream=out)
            threads = [threading.Thread(target=f) for f in (ours, theirs, ours, theirs)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(interval)
        # Leave the loggers on an open stream: later tests in this process still log.
        configure_logging(level="INFO", fmt="json", stream=io.StringIO())
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4000
    assert all(isinstance(json.loads(line), dict) for line in lines)
