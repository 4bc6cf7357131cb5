"""Reading the provider's answers: bodies, error details, Retry-After, and which error a status is.

Pure functions of bytes and numbers, so the classification the at-most-once rule rests on is
tested without a network. The client does the I/O and calls these.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from dispatcher.effebot.errors import (
    AuthenticationRejected,
    EffebotError,
    EndpointMissing,
    InsufficientBalance,
    ModerationRequired,
    ProviderServerError,
    RateLimited,
    RejectedError,
    UnexplainedRefusal,
    UriTooLong,
    ValidationRejected,
)

__all__ = [
    "envelope_refusal",
    "error_for_envelope",
    "error_for_status",
    "parse_error_body",
    "parse_json_body",
    "parse_retry_after",
]

# The reference prints `"status": success` and `"data": done` unquoted. If the real service ever
# answers like that, quote such bare words after a colon (only when strict parsing failed).
_BARE_WORD = re.compile(r"(:\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*[,}\]])")
_JSON_WORDS = frozenset({"true", "false", "null"})
#: Longest provider message kept in an error (HTML error pages can be huge).
_MESSAGE_MAX_CHARS = 300
_BALANCE_RE = re.compile(r"balance|insufficient funds|not enough (money|funds)", re.IGNORECASE)
_MODERATION_RE = re.compile(r"moderat", re.IGNORECASE)
_KEY_RE = re.compile(
    r"api[ _-]?key|unauthori[sz]ed|unauthenticated|authenticat|forbidden", re.IGNORECASE
)


def parse_json_body(body: bytes) -> Any:
    """The JSON value of a body, tolerating the reference's unquoted words; ValueError if none."""
    text = body.decode("utf-8-sig")
    try:
        return json.loads(text)
    except ValueError:
        repaired = _BARE_WORD.sub(_quote_bare_word, text)
        if repaired == text:
            raise
        return json.loads(repaired)


def _quote_bare_word(match: re.Match[str]) -> str:
    word = match.group(2)
    if word in _JSON_WORDS:
        return match.group(0)
    return f'{match.group(1)}"{word}"{match.group(3)}'


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_MAX_CHARS else text[: _MESSAGE_MAX_CHARS - 3] + "..."


def _messages(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _messages(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _messages(item)]
    return [str(value)]


def _fields(errors: Any) -> dict[str, list[str]]:
    """`errors` as {field path: [messages]} from a dict, or a list of {field, message} objects."""
    fields: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for name, value in errors.items():
            fields.setdefault(str(name), []).extend(_messages(value))
    elif isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                name = item.get("field", item.get("path", item.get("loc", "")))
                if isinstance(name, list):
                    name = ".".join(str(part) for part in name)
                message = item.get("message", item.get("msg", item.get("error")))
                fields.setdefault(str(name), []).extend(_messages(message))
            else:
                fields.setdefault("", []).extend(_messages(item))
    return fields


def parse_error_body(body: bytes) -> tuple[str | None, dict[str, list[str]]]:
    """The provider's message and per-field errors from any error body (JSON, text or HTML)."""
    try:
        payload = parse_json_body(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        if "<" in text and ">" in text:
            text = re.sub(r"<[^>]*>", " ", text)
        text = _short(text)
        return (text or None), {}
    if isinstance(payload, str):
        return _short(payload) or None, {}
    if not isinstance(payload, dict):
        return None, _fields(payload)
    message = None
    for key in ("message", "error", "error_message", "errorMessage", "detail", "data"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            message = _short(value)
            break
    fields = _fields(payload.get("errors", payload.get("fields")))
    return message, fields


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        current = now if now is not None else datetime.now(UTC)
        return max(0.0, (moment - current).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def envelope_refusal(payload: Any) -> str | None:
    """The message of a 2xx answer that says `"status": "error"`, or None for any other answer."""
    if not _says_error(payload):
        return None
    message, _ = parse_error_body(json.dumps(payload).encode())
    return message or "the provider answered status=error"


def _says_error(payload: Any) -> bool:
    if not isinstance(payload, dict):
        return False
    status = payload.get("status")
    return isinstance(status, str) and status.strip().lower() in {"error", "fail", "failed"}


def _refusal_kind(message: str | None, fields: dict[str, list[str]]) -> type[RejectedError] | None:
    """What a refusal's words say it is, or None when they say nothing we know."""
    texts = [message or "", *(text for texts in fields.values() for text in texts)]
    if any(_BALANCE_RE.search(text) for text in texts):
        return InsufficientBalance
    if any(_MODERATION_RE.search(text) for text in texts):
        return ModerationRequired
    if "apiKey" in fields or (message is not None and _KEY_RE.search(message)):
        return AuthenticationRejected
    if fields:
        return ValidationRejected
    return None


def _read_refusal(
    body: bytes, scrub: Callable[[str], str], status_code: int
) -> tuple[str | None, dict[str, list[str]], str]:
    """The provider's message and fields (scrubbed), and a one-line summary naming the fields."""
    message, fields = parse_error_body(body)
    if message is not None:
        message = scrub(message)
    fields = {scrub(name): [scrub(text) for text in texts] for name, texts in fields.items()}
    summary = message or f"HTTP {status_code}"
    if fields:
        details = "; ".join(f"{name}: {', '.join(texts)}" for name, texts in fields.items())
        summary = f"{summary} ({_short(details)})"
    return message, fields, summary


def error_for_envelope(
    payload: Any,
    *,
    endpoint: str,
    status_code: int = 200,
    phone_count: int | None = None,
    is_create: bool = False,
    scrub: Callable[[str], str] = lambda text: text,
) -> EffebotError | None:
    """The error a 2xx answer saying `"status": "error"` means, or None for any other answer.

    Read like a refusal with an error status: a balance, moderation or key refusal is that, and
    per-field `errors` are a validation refusal. A create refused without any reason we can read
    is ambiguous (a 2xx is the provider's success code: it may have applied it); any other
    request is simply rejected (reads and replans are safe to repeat).
    """
    if not _says_error(payload):
        return None
    message, fields, summary = _read_refusal(json.dumps(payload).encode(), scrub, status_code)
    if message is None and not fields:
        summary = "the provider answered status=error without a reason"
    common: dict[str, Any] = {
        "endpoint": endpoint,
        "status_code": status_code,
        "phone_count": phone_count,
    }
    kind = _refusal_kind(message, fields)
    if kind is None and is_create:
        return UnexplainedRefusal(f"{summary} (it may or may not have been applied)", **common)
    rejected = kind or ValidationRejected
    return rejected(summary, provider_message=message, fields=fields, **common)


def error_for_status(
    status_code: int,
    body: bytes,
    *,
    endpoint: str,
    retry_after: str | None = None,
    phone_count: int | None = None,
    scrub: Callable[[str], str] = lambda text: text,
    setting: str | None = None,
) -> EffebotError:
    """The error a non-2xx answer means (see the tree in `errors`); `scrub` removes secrets.

    `setting` names the setting the endpoint's path comes from, if it does: a 404 or 405 there
    means the path is wrong, not the request (`EndpointMissing`).
    """
    message, fields, summary = _read_refusal(body, scrub, status_code)
    common: dict[str, Any] = {
        "endpoint": endpoint,
        "status_code": status_code,
        "phone_count": phone_count,
    }
    if status_code == 429:
        seconds = parse_retry_after(retry_after)
        return RateLimited(summary, retry_after_s=seconds, **common)
    if status_code == 414:
        return UriTooLong(summary, **common)
    if status_code >= 500 or status_code == 408:
        return ProviderServerError(summary, **common)
    if setting is not None and status_code in (404, 405):
        return EndpointMissing(
            f"{summary}: no such endpoint; is {setting} right?",
            setting=setting,
            provider_message=message,
            fields=fields,
            **common,
        )
    rejected: type[RejectedError]
    if status_code in (401, 403):
        rejected = AuthenticationRejected
    elif status_code == 402:
        rejected = InsufficientBalance
    else:
        # 400, 404, 409, 422, any other 4xx, and a 3xx (we never follow redirects: the request
        # was answered without being handled here, which is a configuration mistake to fix).
        kind = _refusal_kind(message, fields)
        rejected = ValidationRejected if kind in (None, AuthenticationRejected) else kind
    return rejected(summary, provider_message=message, fields=fields, **common)
