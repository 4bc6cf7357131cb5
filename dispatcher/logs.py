"""structlog, configured once per process: JSON lines off a terminal, readable on one.

Context such as `campaign_id`, `batch_id` and `api_call_id` is bound with `bind_contextvars` by
the code that knows it and appears on every line logged inside that context. A redaction processor
replaces every configured secret wherever it appears (values, nested values, exception text), so a
key that leaks into an error message from a third-party library still never reaches the output.

The order of the chain is what makes that hold for exceptions too: a traceback is turned into text
*before* the redactor sees the event, in both formats and for our own lines as for third-party
(stdlib) records, and it is Python's plain traceback, which shows code but never local variables.
A renderer that formats exceptions itself (the console's rich tracebacks show every frame's
locals: a request body holding the API key, say) would do so after redaction, so it never gets one.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.parse
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["SecretRedactor", "configure_logging", "get_logger"]

REDACTED = "***"


def _spellings(secret: str) -> set[str]:
    """The secret as written, and as it appears once URL-encoded or escaped inside JSON or repr."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
    }


class SecretRedactor:
    """A structlog processor that replaces every known secret in the event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Start redacting one more secret (e.g. a key the sandbox was started with)."""
        # Short secrets would redact innocent substrings; nobody configures a 3-character key.
        if len(secret) < 4:
            return
        for spelling in _spellings(secret):
            if spelling not in self._secrets:
                self._secrets.append(spelling)
        # Longest first, so a spelling that contains another is replaced whole.
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
        if value is None or isinstance(value, bool | int | float):
            return value
        # Anything else (an exception, a model, a request) would be rendered by its repr after
        # this processor has run: render it here, and redact that.
        return self._scrub(repr(value))


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
        # Tracebacks reach it as redacted text (below); should an `exc_info` ever get through,
        # the plain formatter still shows no local variables.
        renderer = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    else:
        renderer = structlog.processors.JSONRenderer()
    # Tracebacks become text (plain: code, never locals) before the redactor, then the renderer.
    tail: list[Any] = [structlog.processors.format_exc_info, redactor, renderer]
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *tail,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # One write per line (print() writes the line and its newline apart, and the stdlib
        # handler below writes to the same stream under a lock of its own).
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries (dramatiq, uvicorn) log through the stdlib: same level, same stream,
    # and the same redaction, via a formatter that passes records through structlog's renderer.
    # Their tracebacks (dramatiq's "Failed to process message") are kept, as redacted text.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
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
