"""The intake message contract: what another service sends to submit a campaign over dramatiq.

Published in the README; a sender needs only `dramatiq` and the broker's Redis URL:

* actor `intake_campaign`, queue `<DISPATCHER_QUEUE_NAME>-intake`, broker namespace
  `<DISPATCHER_KEY_PREFIX>-dramatiq`;
* keyword arguments only: `external_id` (the caller's id of the submission, which makes it
  idempotent), `spec` (the campaign spec, the same JSON as `POST /campaigns` takes), `contacts`
  (phones or objects with `phone`, as the API takes them), optional `part` and `parts` (a long list
  sent as several messages: the campaign stays a draft until every part has arrived) and `strict`.

Checking a message is pure: `parse_message` returns the message or raises `IntakeRefused` naming
every bad field, so a bad message ends in a recorded refusal, never in a crash or a retry loop.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from dispatcher.errors import InputError
from dispatcher.spec import CampaignSpec

__all__ = [
    "EXTERNAL_ID_PATTERN",
    "MAX_MESSAGE_BYTES",
    "MAX_PARTS",
    "MAX_PART_CONTACTS",
    "IntakeMessage",
    "IntakeRefused",
    "intake_queue",
    "parse_message",
]

#: Contacts in one message (send more as several parts).
MAX_PART_CONTACTS = 10_000
#: Parts in one series.
MAX_PARTS = 1000
#: Largest message arguments, as compact JSON.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
#: What an `external_id` may look like (it names a Redis key).
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)


def intake_queue(queue_name: str) -> str:
    """The intake actor's queue for a deployment whose queue is `queue_name`."""
    return f"{queue_name}-intake"


class IntakeRefused(InputError):
    """A message that cannot be taken; `errors` are (field, message) pairs."""

    def __init__(
        self, message: str, external_id: str | None, errors: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.external_id = external_id
        self.errors = errors or []


class IntakeMessage(BaseModel):
    """The keyword arguments of one intake message, checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_id: str = Field(pattern=EXTERNAL_ID_PATTERN)
    spec: CampaignSpec
    contacts: list[str | dict[str, Any]] = Field(max_length=MAX_PART_CONTACTS)
    part: StrictInt = Field(1, ge=1, le=MAX_PARTS)
    parts: StrictInt = Field(1, ge=1, le=MAX_PARTS)
    strict: StrictBool = False

    @model_validator(mode="after")
    def _part_within_parts(self) -> IntakeMessage:
        if self.part > self.parts:
            raise ValueError(f"part {self.part} of {self.parts}: part must be at most parts")
        return self


def external_id_of(kwargs: dict[str, Any]) -> str | None:
    """The message's `external_id` if it is a valid one (a refusal can be recorded under it)."""
    value = kwargs.get("external_id")
    return value if isinstance(value, str) and _EXTERNAL_ID.match(value) else None


def parse_message(args: tuple[Any, ...], kwargs: dict[str, Any]) -> IntakeMessage:
    """The message, or `IntakeRefused` naming every problem (pure)."""
    external_id = external_id_of(kwargs)
    if args:
        raise IntakeRefused(
            "send keyword arguments only (external_id, spec, contacts, part, parts, strict)",
            external_id,
            [("args", f"{len(args)} positional argument(s)")],
        )
    try:
        size = len(json.dumps(kwargs, separators=(",", ":"), default=str))
    except (TypeError, ValueError):
        size = 0
    if size > MAX_MESSAGE_BYTES:
        raise IntakeRefused(
            f"the message is {size} bytes; at most {MAX_MESSAGE_BYTES} (send more parts)",
            external_id,
            [("kwargs", "too large")],
        )
    try:
        return IntakeMessage.model_validate(kwargs)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = ".".join(str(part) for part in err.get("loc", ())) or "kwargs"
            errors.append((loc, str(err["msg"])))
        raise IntakeRefused("the intake message is not valid", external_id, errors) from None
