"""Request models: every rule of the reference checked before a byte is sent.

Attributes are snake_case with the provider's camelCase names as aliases; either spelling is
accepted on input (a spec file may use the provider's). `to_wire()` gives the JSON body (without
the API key, which only the client adds): aliases, no `None`s, datetimes as UNIX seconds, 0/1
flags as ints. Unknown fields are errors, so a typo in a spec file is caught.

Validators name the field in their message ("phone or phones is required") on top of pydantic's
own location, so the error reads the same in a CLI report as in a log.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "CallOptions",
    "CreateCallRequest",
    "CreateFromTemplateRequest",
    "Flag",
    "Ivr",
    "PhoneNumber",
    "Record",
    "ReplanItem",
    "TemplateCallOptions",
    "to_unix_s",
]

#: The reference's `string(11)` phone: digits only (ASCII), 1 to 11 of them.
PHONE_PATTERN = r"^[0-9]{1,11}$"

_PHONE_RE = re.compile(PHONE_PATTERN)


def _phone(value: str) -> str:
    if not _PHONE_RE.fullmatch(value):
        raise ValueError("a phone is 1 to 11 digits 0-9 (no '+', spaces or dashes)")
    return value


PhoneNumber = Annotated[str, AfterValidator(_phone)]


def _flag(value: Any) -> Any:
    """Turn a bool into 0/1; leave anything else for the Literal check to judge."""
    if isinstance(value, bool):
        return int(value)
    return value


#: A 0/1 switch of the reference: accepts bool or 0/1, always sent as an int.
Flag = Annotated[Literal[0, 1], BeforeValidator(_flag)]


def to_unix_s(moment: datetime) -> int:
    """UNIX seconds of an aware datetime, rounded down (the wire format `date_format:U`)."""
    return math.floor(moment.timestamp())


def _webhook_parameters(value: Any) -> Any:
    """Accept a dict (serialised to the JSON string the provider wants) or a JSON-object string."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("webhook_parameters: not valid JSON") from None
        if not isinstance(parsed, dict):
            raise ValueError("webhook_parameters: must be a JSON object")
    return value


def _key_words(value: Any) -> Any:
    """Accept a list of words (joined with "|") or the provider's "|"-separated string."""
    if isinstance(value, list | tuple):
        value = "|".join(str(word) for word in value)
    if isinstance(value, str) and any(not word.strip() for word in value.split("|")):
        raise ValueError("key_words: empty word in the '|'-separated list")
    return value


class WireModel(BaseModel):
    """Base of every request model: camelCase aliases, no unknown fields, no surprises."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        # Errors name the field as the input spelled it: a spec file written with the provider's
        # names (`smsText`) gets errors in those names, Python callers get their snake_case ones.
        loc_by_alias=True,
        extra="forbid",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body fields (aliases, no `None`s, datetimes as UNIX seconds)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Record(WireModel):
    """The audio of a call or an IVR step: a stored recording (`id`) or text to synthesise."""

    id: int | None = Field(None, ge=1)
    text: str | None = Field(None, min_length=1, max_length=1024)
    gender: Flag = 0

    @model_validator(mode="after")
    def _id_or_text(self) -> Record:
        if self.id is not None and self.text is not None:
            raise ValueError("record: give id or text, not both")
        if self.id is None and self.text is None:
            raise ValueError("record: id or text is required")
        return self


class Ivr(WireModel):
    """What happens when the subscriber presses a digit or says one of the key words."""

    digit: int | None = Field(None, ge=0, le=9)
    key_words: Annotated[str | None, BeforeValidator(_key_words)] = Field(None, min_length=1)
    need_block: Flag | None = None
    record: Record | None = None
    manager_phone: PhoneNumber | None = None
    sms_text: str | None = Field(None, min_length=1, max_length=70)
    webhook_url: str | None = Field(None, min_length=1, max_length=255)
    webhook_parameters: Annotated[str | None, BeforeValidator(_webhook_parameters)] = None


class _CallerChoice(WireModel):
    """The caller's number: a confirmed `outgoing_phone`, or `duty_phone=1` for a random one."""

    outgoing_phone: PhoneNumber | None = None
    duty_phone: Flag | None = None

    @model_validator(mode="after")
    def _outgoing_or_duty(self) -> Any:
        # The reference: outgoingPhone is required "if there's no dutyPhone or it equals 0".
        # Both at once is refused too: which number the provider would use is not documented.
        if self.outgoing_phone is None and self.duty_phone != 1:
            raise ValueError("outgoing_phone or duty_phone=1 is required")
        if self.outgoing_phone is not None and self.duty_phone == 1:
            raise ValueError("outgoing_phone or duty_phone=1: give one, not both")
        return self


class _Recipients(WireModel):
    """Who is called and when: `phone` or `phones` (exactly one), optional `planned_at`."""

    phone: PhoneNumber | None = None
    phones: list[PhoneNumber] | None = Field(None, min_length=1)
    planned_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _phone_or_phones(self) -> Any:
        if self.phone is None and self.phones is None:
            raise ValueError("phone or phones is required")
        if self.phone is not None and self.phones is not None:
            raise ValueError("phone or phones: give one, not both")
        return self

    @field_serializer("planned_at", when_used="json")
    def _planned_at_unix_s(self, value: datetime | None) -> int | None:
        return None if value is None else to_unix_s(value)

    @property
    def phone_count(self) -> int:
        """How many subscribers this request dials."""
        return 1 if self.phones is None else len(self.phones)


class CallOptions(_CallerChoice):
    """Everything of a create except who and when: the part a campaign spec embeds."""

    record: Record
    ivrs: list[Ivr] | None = None
    need_recording: Flag | None = None
    is_manager_delivery_phone: Flag | None = None
    lang: str | None = Field(
        None, min_length=2, max_length=5, pattern=r"^[A-Za-z]{2}(-[A-Za-z]{2})?$"
    )

    def to_request(
        self,
        phones: Sequence[str],
        *,
        planned_at: datetime | None = None,
        webhook_url: str | None = None,
    ) -> CreateCallRequest:
        """A create request for these options (one phone is sent as `phone`, more as `phones`)."""
        recipients: dict[str, Any] = (
            {"phone": phones[0]} if len(phones) == 1 else {"phones": list(phones)}
        )
        return CreateCallRequest(
            **self.model_dump(exclude_none=True),
            **recipients,
            planned_at=planned_at,
            webhook_url=webhook_url,
        )


class CreateCallRequest(CallOptions, _Recipients):
    """`apiCalls/create`: the options plus who, when and where to report."""

    webhook_url: str | None = Field(None, min_length=1, max_length=255)


class TemplateCallOptions(_CallerChoice):
    """A call built from a template stored in the account: the template and the caller's number."""

    template_id: int = Field(ge=1)

    def to_request(
        self, phones: Sequence[str], *, planned_at: datetime | None = None
    ) -> CreateFromTemplateRequest:
        """A create-from-template request (one phone as `phone`, more as `phones`)."""
        recipients: dict[str, Any] = (
            {"phone": phones[0]} if len(phones) == 1 else {"phones": list(phones)}
        )
        return CreateFromTemplateRequest(
            **self.model_dump(exclude_none=True), **recipients, planned_at=planned_at
        )


class CreateFromTemplateRequest(TemplateCallOptions, _Recipients):
    """Create calls from a template (the path is configurable: the reference does not give it)."""


class ReplanItem(WireModel):
    """One entry of `apiCalls/update`: move a planned call to another time."""

    id: int = Field(ge=1)
    replanned_at: AwareDatetime

    @field_serializer("replanned_at", when_used="json")
    def _replanned_at_unix_s(self, value: datetime) -> int:
        return to_unix_s(value)
