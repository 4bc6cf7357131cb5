"""Response models: tolerant of whatever the provider sends, and never losing any of it.

Every field is optional with a harmless default and read leniently (see `coerce`); unknown fields
are kept as extras, and the whole JSON object is kept in `raw`. `parse_*` helpers accept the
shapes the reference shows or implies: a bare object, a JSON array, or `{"status", "data"}`.
A payload of the wrong JSON type (an array where an object is due) raises `ValueError`, which the
client turns into `MalformedResponse`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.alias_generators import to_camel

from dispatcher.effebot.coerce import (
    LooseBool,
    LooseDatetime,
    LooseFloat,
    LooseInt,
    LooseIntList,
    LooseStr,
    flag_or_false,
    loose_int,
    loose_str,
)

__all__ = [
    "Acknowledgement",
    "CallDetails",
    "CreateCallResponse",
    "Language",
    "Phone",
    "PhoneCall",
    "ProviderModel",
    "RecordInfo",
    "RemoveResult",
    "RemovedRecord",
    "Template",
    "UpdateResult",
    "UserInfo",
    "parse_envelope",
    "parse_identified",
    "parse_identified_list",
    "parse_list",
    "parse_object",
    "unwrap_data",
]

M = TypeVar("M", bound="ProviderModel")

#: Where a subclass's before-validator passes the untouched payload to `ProviderModel._keep_raw`.
_ORIGINAL = "__effebot_original__"


class ProviderModel(BaseModel):
    """Base of every response model: camelCase aliases, extras kept, the payload kept in `raw`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _keep_raw(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # A subclass's own before-validator runs first and may reshape the payload; it hands
            # the original on under _ORIGINAL so `raw` is always what the provider sent.
            fields = dict(data)
            original = fields.pop(_ORIGINAL, data)
            return {**fields, "raw": dict(original)}
        return data


def _int_or_str(value: Any) -> int | str | None:
    number = loose_int(value)
    return number if number is not None else loose_str(value)


def _phone_or_phones(value: Any) -> str | list[str] | None:
    if isinstance(value, list):
        return [phone for phone in (loose_str(item) for item in value) if phone is not None]
    return loose_str(value)


class CreateCallResponse(ProviderModel):
    """`apiCalls/create` (and create-from-template): the api call id of the request."""

    id: LooseInt = None
    created_at: LooseDatetime = None
    planned_at: LooseDatetime = None
    # The reference spells it "needrecording" here and "needRecording" in `get`.
    need_recording: LooseBool = Field(
        None, validation_alias=AliasChoices("needrecording", "needRecording", "need_recording")
    )
    #: The phone string, or the list of phones when `phones` was sent.
    phone: Annotated[str | list[str] | None, BeforeValidator(_phone_or_phones)] = None
    record_cost: LooseFloat = None


class PhoneCall(ProviderModel):
    """One subscriber's call inside an api call (one per phone of the create)."""

    phone: LooseStr = None
    ivr_digit: LooseInt = None
    started_at: LooseDatetime = None
    answered_at: LooseDatetime = None
    manager_started_at: LooseDatetime = None
    manager_answered_at: LooseDatetime = None
    finished_at: LooseDatetime = None
    to_block: Annotated[bool, BeforeValidator(flag_or_false)] = False
    #: Kept as the provider sent it; the reference does not list the values.
    status: LooseStr = None
    hangup_cause: Annotated[int | str | None, BeforeValidator(_int_or_str)] = None
    manager_status: LooseStr = None
    record_file_path: LooseStr = None
    cost: LooseFloat = None
    created_at: LooseDatetime = None
    updated_at: LooseDatetime = None
    label: LooseStr = None
    ivr_answers: LooseStr = None
    ivr_id_list: Any = None
    comment: LooseStr = None


class CallDetails(ProviderModel):
    """`apiCalls/get`: one api call and the calls of its phones."""

    id: LooseInt = None
    created_at: LooseDatetime = None
    need_recording: LooseBool = Field(
        None, validation_alias=AliasChoices("needRecording", "needrecording", "need_recording")
    )
    planned_at: LooseDatetime = None
    webhook_url: LooseStr = None
    webhook_sent: LooseBool = None
    amoscript_id: LooseInt = None
    webhook_parameters: Any = None
    webhook_try: LooseInt = None
    recognition_group_id: LooseInt = None
    generate_group_id: LooseInt = None
    calls: list[PhoneCall] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _calls_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("calls") is None and "calls" in data:
            return {**data, "calls": []}
        return data


class RecordInfo(ProviderModel):
    """`apiCalls/createRecord`: the stored audio (its id is what `Record(id=...)` takes)."""

    id: LooseInt = None
    created_at: LooseDatetime = None
    need_moderation: LooseBool = None
    moderator_comment: LooseStr = None
    name: LooseStr = None
    path: LooseStr = None
    status: LooseStr = None
    record_text: LooseStr = None
    cost: LooseFloat = None


class RemovedRecord(ProviderModel):
    """`apiCalls/removeRecord`: one removed audio."""

    id: LooseInt = None
    created_at: LooseDatetime = None
    name: LooseStr = None
    path: LooseStr = None
    moderator_comment: LooseStr = None
    need_moderation: LooseBool = None
    status: LooseStr = None
    deleted_at: LooseDatetime = None


class UserInfo(ProviderModel):
    """`apiCalls/userInfo`: the account and its balance."""

    id: LooseInt = None
    balance: LooseFloat = None


class Phone(ProviderModel):
    """`apiCalls/getPhones`: a caller number of the account."""

    id: LooseInt = None
    phone: LooseStr = None
    is_system: LooseBool = None
    #: True for a shared number, False for a personal one.
    overall: LooseBool = None


class Language(ProviderModel):
    """`apiCalls/getAvailableLanguages`: a language a call can use (`lang`)."""

    id: LooseInt = None
    name: LooseStr = None
    default_lang_code: LooseStr = None


class Template(ProviderModel):
    """A call template of the account (the reference does not describe its fields: see extras)."""

    id: LooseInt = None
    name: LooseStr = None


class Acknowledgement(ProviderModel):
    """A bare `{"status": "success", "data": ...}` answer (e.g. confirmPhone)."""

    status: LooseStr = None
    data: Any = None


class _CallIdList(ProviderModel):
    """An answer listing the api call ids it acted on (`data.callIdList`)."""

    status: LooseStr = None
    call_id_list: LooseIntList = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _lift_data(cls, data: Any) -> Any:
        # The ids live in `data.callIdList`; the single remove answers `"data": []`.
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            inner = data["data"]
            ids = inner.get("callIdList", inner.get("call_id_list"))
            return {**data, "callIdList": ids, _ORIGINAL: data}
        return data


class UpdateResult(_CallIdList):
    """`apiCalls/update`: the api calls that were replanned."""


class RemoveResult(_CallIdList):
    """`apiCalls/remove`: the api calls that were removed (empty for a single remove)."""


def unwrap_data(payload: Any) -> Any:
    """The `data` of a `{"status": ..., "data": ...}` envelope, or the payload itself."""
    if isinstance(payload, dict) and "data" in payload and "id" not in payload:
        return payload["data"]
    return payload


def parse_object(model: type[M], payload: Any) -> M:
    """One model from an object (enveloped or not); a non-object raises ValueError."""
    payload = unwrap_data(payload)
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    return model.model_validate(payload)


def parse_list(model: type[M], payload: Any) -> list[M]:
    """Models from an array, an enveloped array, or a single object; others raise ValueError."""
    payload = unwrap_data(payload)
    if payload is None:
        return []
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise ValueError(f"expected a JSON array or object, got {type(payload).__name__}")
    items = []
    for item in payload:
        if not isinstance(item, dict):
            raise ValueError(f"expected JSON objects in the array, got {type(item).__name__}")
        items.append(model.model_validate(item))
    return items


def parse_identified(model: type[M], payload: Any) -> M:
    """`parse_object`, refusing an answer without a usable `id`: the caller cannot do without it."""
    item = parse_object(model, payload)
    if getattr(item, "id", None) is None:
        raise ValueError(f"{model.__name__} without a usable id")
    return item


def parse_identified_list(model: type[M], payload: Any) -> list[M]:
    """`parse_list`, refusing items without a usable `id` (nothing could be matched to them)."""
    items = parse_list(model, payload)
    if any(getattr(item, "id", None) is None for item in items):
        raise ValueError(f"{model.__name__} without a usable id")
    return items


def parse_envelope(model: type[M], payload: Any) -> M:
    """A `{"status", "data"}` answer parsed whole (its ids sit inside `data`)."""
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    return model.model_validate(payload)
