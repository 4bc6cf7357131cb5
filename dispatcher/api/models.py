"""The API's request and response bodies; they are what the OpenAPI document shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dispatcher.spec import CampaignSpec

__all__ = [
    "CampaignProgress",
    "ControlResult",
    "DncAdded",
    "DncPhones",
    "DncRemoved",
    "DryRunBody",
    "ErrorBody",
    "FieldError",
    "IntakeRecordBody",
    "PauseRequest",
    "RescheduleRequest",
    "SubmitJson",
    "SubmitReportBody",
    "WebhookAck",
]

#: Phones per DNC request: bigger lists go in several requests.
MAX_DNC_PHONES = 10_000


class FieldError(BaseModel):
    """One problem, naming its field (`spec.call.record.text`) or row (`contacts.3`)."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer has this shape; `errors` and `report` are there when they apply."""

    error: str = Field(description="A stable code: unauthorized, not_found, invalid_spec, ...")
    message: str
    errors: list[FieldError] | None = None
    report: SubmitReportBody | None = None
    request_id: str | None = None


class SubmitJson(BaseModel):
    """`POST /campaigns` as JSON: the spec and the contacts inline."""

    model_config = ConfigDict(extra="forbid")

    spec: CampaignSpec
    contacts: list[dict[str, Any] | str] = Field(
        description="Each a phone string or an object with `phone` (and `timezone`, data fields)."
    )


class RejectedRow(BaseModel):
    row: int
    reason: str
    value: str


class SubmitReportBody(BaseModel):
    """What a submission did; `campaign_id` is null when it was refused."""

    campaign_id: str | None
    status: str
    accepted: int
    duplicates: int
    blocked: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejected_rows: list[RejectedRow] = Field(description="The first 100 rejected rows.")
    batches: int
    refused_because: str | None
    replayed: bool = Field(
        False, description="The original report of an idempotency key used before."
    )


class DryRunBody(BaseModel):
    """What a submission would do (`?dry_run=true`): nothing is written or enqueued."""

    dry_run: bool
    would_dial: int
    duplicates: int
    blocked: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejected_rows: list[RejectedRow]
    batches: int
    batches_by_zone: dict[str, int]
    generated_audio_requests: int
    estimated_duration_s: float
    estimated_cost: float
    would_be_refused_because: str | None = Field(
        None, description="Why the real submission would be refused (422), if it would be."
    )
    account_check: str = Field(
        description="What the account preflight said (`not checked` without an API key)."
    )


class CampaignProgress(BaseModel):
    """A campaign's status, counts by contact state, rate and ETA."""

    campaign_id: str
    name: str
    status: str
    counts: dict[str, int]
    total: int
    done: int
    open: int
    rate_per_s: float | None
    eta_s: float | None
    pause_reason: str | None
    created_at_ms: int
    finished_at_ms: int | None
    metadata: dict[str, Any] | None = Field(None, description="The caller's, as submitted.")


class IntakeRecordBody(BaseModel):
    """What became of an intake message series (`external_id`): a draft while parts are still
    coming, `submitted` (with its campaign and report), `refused` (why, and which fields) or
    `purged` (its campaign ended and was removed after its retention period)."""

    external_id: str
    state: Literal["draft", "submitted", "refused", "purged"]
    campaign_id: str | None
    parts: int
    received_parts: int
    reason: str | None
    errors: list[FieldError]
    report: SubmitReportBody | None
    updated_at_ms: int | None


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class RescheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_at: AwareDatetime = Field(description="When dialling may begin (with a time zone).")


class ControlResult(BaseModel):
    """What a pause, resume, cancel or reschedule did (the summary the controls return)."""

    model_config = ConfigDict(extra="allow")


class DncPhones(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phones: list[str] = Field(min_length=1, max_length=MAX_DNC_PHONES)


class DncAdded(BaseModel):
    added: int = Field(description="Numbers that were not on the list before.")


class DncRemoved(BaseModel):
    removed: int


class WebhookAck(BaseModel):
    """The receipt the provider gets once the update is stored."""

    outcome: str


class Health(BaseModel):
    status: str


ErrorBody.model_rebuild()
