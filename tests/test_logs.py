from __future__ import annotations

import io
import json

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
