"""The campaign spec: one call spec in the provider's own field names, batching, pacing, start.

A spec is written by people (a JSON or TOML file, or the HTTP API), so unknown fields are errors
and every error names its field, e.g. `call.record.text: String should have at most 1024
characters`.
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dispatcher.effebot.requests import CallOptions, TemplateCallOptions
from dispatcher.errors import SpecError
from dispatcher.outbound.urls import MAX_URL_CHARS, check_callback_url, check_metadata
from dispatcher.retry_policy import RetryPolicy
from dispatcher.windows import CallWindow

__all__ = [
    "MAX_BATCH_SIZE",
    "CampaignSpec",
    "format_validation_error",
    "load_spec",
    "parse_spec",
    "parse_stored_spec",
]


#: Phones per create request at most (and so per api call).
MAX_BATCH_SIZE = 1000


class CampaignSpec(BaseModel):
    """What to say to whom, how fast and from when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    call: CallOptions | None = Field(
        None, description="The create request's fields (provider names): record, ivrs, ..."
    )
    template: TemplateCallOptions | None = Field(
        None, description="Instead of `call`: a stored template and the caller's number."
    )
    batch_size: int = Field(50, ge=1, le=MAX_BATCH_SIZE, description="Phones per create request.")
    dials_per_minute: float | None = Field(
        None, gt=0, description="This campaign's pace; unset means only the global limit applies."
    )
    start_at: AwareDatetime | None = Field(None, description="When dialling may begin.")
    window: CallWindow | None = Field(
        None, description="When contacts may be called, in each contact's own time zone."
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy,
        description="Redials per outcome class (no_answer, busy, failed); none by default.",
    )
    shared_recording: bool = Field(
        False,
        description=(
            "For a text message: synthesise it once with apiCalls/createRecord and send its id "
            "in every batch, instead of generating the same audio in every create request."
        ),
    )
    plan_ahead: bool = Field(
        False,
        description=(
            "With a future start_at: create the calls right away with plannedAt = start_at, so "
            "they wait at the provider (pause, reschedule and cancel then move or remove them)."
        ),
    )

    metadata: dict[str, Any] | None = Field(
        None,
        description=(
            "The caller's own values (a JSON object, at most 4096 bytes as JSON), returned with "
            "the campaign's status, events and webhooks."
        ),
    )
    callback_url: str | None = Field(
        None,
        max_length=MAX_URL_CHARS,
        description=(
            "Where results are POSTed (http or https; signed per Standard Webhooks): batches "
            "of contacts' final outcomes, status changes, and campaign.finished at the end."
        ),
    )

    @field_validator("callback_url")
    @classmethod
    def _callback_url(cls, value: str | None) -> str | None:
        return None if value is None else check_callback_url(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_metadata(value)

    @model_validator(mode="after")
    def _call_or_template(self) -> CampaignSpec:
        if (self.call is None) == (self.template is None):
            raise ValueError("give exactly one of `call` or `template`")
        if self.shared_recording and (self.call is None or self.call.record.text is None):
            raise ValueError("shared_recording needs a `call` whose record is text")
        return self

    def to_json(self) -> str:
        """The spec as stored with the campaign (it holds no secrets)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def starts_later_than(self, moment: datetime) -> bool:
        return self.start_at is not None and self.start_at > moment


@functools.lru_cache(maxsize=256)
def parse_stored_spec(raw: str) -> CampaignSpec:
    """A spec as stored with its campaign, parsed once per process per distinct text.

    Every batch re-reads its campaign's spec; validating the same JSON thousands of times is
    wasted work, and a changed spec (reschedule) is a different text, so a new cache entry.
    """
    return CampaignSpec.model_validate_json(raw)


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming its field: `call.record.text: ...`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        where = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "spec")
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def parse_spec(data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> CampaignSpec:
    """Validate a spec mapping (plus flag overrides); `SpecError` names every bad field."""
    merged = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    try:
        return CampaignSpec.model_validate(merged)
    except ValidationError as exc:
        raise SpecError(f"invalid campaign spec: {format_validation_error(exc)}") from None


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None) -> CampaignSpec:
    """Read a spec from a `.json` or `.toml` file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {source}: {exc}") from None
    try:
        if source.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif source.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise SpecError(f"spec file {source}: use a .json or .toml file")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"spec file {source} is not valid {source.suffix[1:]}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec file {source}: the top level must be an object")
    return parse_spec(data, overrides)
