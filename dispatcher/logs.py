"""structlog, configured once per process: JSON lines off a terminal, readable on one.

Context such as `campaign_id`, `batch_id` and `api_call_id` is bound with `bind_contextvars` by
the code that knows it and appears on every line logged inside that context. A redaction processor
replaces every configured secret wherever it appears (values, nested values, exception text), so a
key that leaks into an error message from a third-party library still never reaches the output.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["SecretRedactor", "configure_logging", "get_logger"]

REDACTED = "***"


class SecretRedactor:
    """A structlog processor that replaces every known secret in the event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Short secrets would redact innocent substrings; nobody configures a 3-character key.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Start redacting one more secret (e.g. a key the sandbox was started with)."""
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self._secrets:
            return event_dict
        for key, value in list(event_dict.items()):
            event_dict[key] = self._scrub(value)
        return event_dict

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, Mapping):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._scrub(v) for v in value]
        if isinstance(value, BaseException):
            return self._scrub(repr(value))
        return value


#: The process-wide redactor; `configure_logging` fills it, code that learns a secret later adds it.
redactor = SecretRedactor()


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the stdlib root logger once, at an entry point."""
    out = stream if stream is not None else sys.stderr
    for secret in secrets:
        redactor.add(secret)
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any
    if use_console:
        renderer = structlog.dev.ConsoleRenderer()
    else:
        renderer = structlog.processors.JSONRenderer()
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not use_console:
        processors.append(structlog.processors.format_exc_info)
    processors += [redactor, renderer]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries (dramatiq, uvicorn) log through the stdlib: same level, same stream,
    # and the same redaction, via a formatter that passes records through structlog's renderer.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                redactor,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # One line per provider request is ours to write; httpx's own is a duplicate without context.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; a thin alias so modules do not import structlog directly."""
    return structlog.get_logger(name)
