"""Reading a `POST /campaigns` body: JSON with inline contacts, or multipart with an upload.

The body is read through a byte-counting `receive`, so a request larger than
`max_upload_bytes` stops being read the moment it crosses the limit (413), whether or not it
declared a Content-Length. A JSON body is parsed off the event loop (`api.jsonbody`). A multipart
upload is streamed by Starlette into a spooled temporary file (in memory up to 1 MiB, on disk
beyond) and then read row by row, never whole.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message, Receive

from dispatcher.api.errors import ApiError, field_errors
from dispatcher.api.jsonbody import JsonParser, NotJson, loads
from dispatcher.api.models import FieldError
from dispatcher.contacts import Contact, Rejection, read_csv, read_iterable, read_jsonl
from dispatcher.spec import CampaignSpec

__all__ = ["Submission", "read_submission"]

ContactsFormat = Literal["csv", "jsonl"]

#: Largest `spec` form field of a multipart submission.
MAX_SPEC_BYTES = 1024 * 1024
_JSONL_TYPES = frozenset({"application/x-ndjson", "application/jsonl", "application/x-jsonlines"})


class BodyTooLarge(Exception):
    """Raised inside `receive` when the body crosses the limit."""


@dataclass
class Submission:
    """A parsed submission: the spec and a lazy stream of contacts."""

    spec: CampaignSpec
    contacts: Iterator[Contact | Rejection]


#: While a body is read, `keep_alive` is awaited at most this often.
KEEP_ALIVE_EVERY_S = 5.0


def _limited(
    receive: Receive, limit_bytes: int, keep_alive: Callable[[], Awaitable[None]] | None
) -> Receive:
    seen = 0
    last = time.monotonic()

    async def receive_limited() -> Message:
        nonlocal seen, last
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit_bytes:
                raise BodyTooLarge
            if keep_alive is not None and time.monotonic() - last > KEEP_ALIVE_EVERY_S:
                last = time.monotonic()
                await keep_alive()
        return message

    return receive_limited


def _too_large(limit_bytes: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit_bytes} bytes")


def parse_spec_value(value: Any, field: str = "spec") -> CampaignSpec:
    """The spec, or 422 naming every bad field (`spec.call.record.text`)."""
    if not isinstance(value, dict):
        raise ApiError(422, "the spec must be a JSON object", code="invalid_spec")
    try:
        return CampaignSpec.model_validate(value)
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid campaign spec",
            code="invalid_spec",
            errors=field_errors(list(exc.errors()), prefix=f"{field}."),
        ) from None


@contextlib.asynccontextmanager
async def read_submission(
    request: Request,
    limit_bytes: int,
    default_region: str,
    fmt: ContactsFormat | None,
    parser: JsonParser | None = None,
    keep_alive: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[Submission]:
    """The submission in the request, with any uploaded file open until the block ends.

    A JSON body is parsed by `parser` (off the event loop when it is big). `keep_alive` is awaited
    every few seconds while a long body is read (it extends the lease of the idempotency key
    reserved for it).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise _too_large(limit_bytes)
    limited = Request(request.scope, _limited(request.receive, limit_bytes, keep_alive))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            yield await _from_json(limited, default_region, parser or JsonParser())
        elif content_type == "multipart/form-data":
            async with limited.form(
                max_files=1, max_fields=8, max_part_size=MAX_SPEC_BYTES
            ) as form:
                yield _from_form(form, default_region, fmt)
        else:
            raise ApiError(
                415, "send application/json (inline contacts) or multipart/form-data (a file)"
            )
    except BodyTooLarge:
        raise _too_large(limit_bytes) from None


async def _from_json(request: Request, default_region: str, parser: JsonParser) -> Submission:
    try:
        body = await parser.parse(await request.body())
    except NotJson as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be an object with `spec` and `contacts`")
    unknown = sorted(set(body) - {"spec", "contacts"})
    if unknown:
        raise ApiError(
            422,
            "unknown fields in the body",
            errors=[
                FieldError(field=name, message="Extra inputs are not permitted") for name in unknown
            ],
        )
    spec = parse_spec_value(body.get("spec"))
    contacts = body.get("contacts")
    if not isinstance(contacts, list):
        raise ApiError(
            422,
            "`contacts` must be a list of phones or objects with a `phone`",
            errors=[FieldError(field="contacts", message="Input should be a valid list")],
        )
    return Submission(spec, read_iterable(contacts, default_region))


def _from_form(form: Any, default_region: str, fmt: ContactsFormat | None) -> Submission:
    raw_spec = form.get("spec")
    if not isinstance(raw_spec, str):
        raise ApiError(422, "the `spec` form field (JSON text) is required", code="invalid_spec")
    try:
        spec_value = loads(raw_spec)
    except NotJson as exc:
        raise ApiError(
            422, f"the `spec` field is not valid JSON: {exc}", code="invalid_spec"
        ) from None
    spec = parse_spec_value(spec_value)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "the `file` upload (CSV or JSON Lines contacts) is required")
    chosen = fmt or _format_of(upload)
    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = read_jsonl if chosen == "jsonl" else read_csv
    return Submission(spec, reader(text, default_region))


def _format_of(upload: UploadFile) -> ContactsFormat:
    name = (upload.filename or "").lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if (upload.content_type or "").split(";")[0].strip().lower() in _JSONL_TYPES:
        return "jsonl"
    return "csv"
