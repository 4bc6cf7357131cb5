"""The sandbox's configuration: one pydantic model, built at the edge (command, tests) and injected.

Everything that shapes the emulated account (keys, phones, records, languages, templates, balance)
and the simulation (seed, speedup, outcome mix, prices) lives here, and so do the fault knobs.
The fields in `RUNTIME_FIELDS` can be changed on a running sandbox via `POST /_sandbox/config`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_OUTCOMES",
    "FINAL_STATUSES",
    "RUNTIME_FIELDS",
    "AccountPhone",
    "Language",
    "SandboxConfig",
    "Template",
    "parse_outcomes",
]

#: Final statuses of one phone of an api call, with the hangupCause each one reports (Q.850 codes).
FINAL_STATUSES: dict[str, int] = {
    "completed": 16,
    "no_answer": 19,
    "busy": 17,
    "failed": 41,
    "invalid_number": 1,
}

DEFAULT_OUTCOMES: dict[str, float] = {
    "completed": 0.6,
    "no_answer": 0.2,
    "busy": 0.1,
    "failed": 0.05,
    "invalid_number": 0.05,
}

#: Fields `POST /_sandbox/config` may change on a running sandbox.
RUNTIME_FIELDS = frozenset(
    {
        "speedup",
        "instant",
        "outcomes",
        "latency_ms",
        "error_rate",
        "hang_rate",
        "hang_s",
        "drop_rate",
        "rate_limit_per_s",
        "rate_limited_rate",
        "balance",
        "ivr_press_probability",
        "require_gender",
        "reference_shapes",
        "moderation_rate",
        "moderation_s",
        "generated_voice_moderation",
        "languages_methods",
        "refusal_status",
        "max_url_bytes",
    }
)


def parse_outcomes(text: str) -> dict[str, float]:
    """Parse `completed=0.6,no_answer=0.2,...` into a mapping (validated by the model)."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, weight = part.partition("=")
        if not sep:
            raise ValueError(f"outcome {part!r} is not name=weight")
        mix[name.strip()] = float(weight)
    return mix


class AccountPhone(BaseModel):
    """A caller number of the emulated account."""

    model_config = ConfigDict(extra="forbid")

    id: int
    phone: str = Field(pattern=r"^\d{1,11}$")
    is_system: bool = False
    overall: int = Field(0, ge=0, le=1, description="1 = shared number, 0 = personal")


class Language(BaseModel):
    """A language the account may use in `lang`."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    code: str = Field(max_length=5)


class Template(BaseModel):
    """An API template (what createFromTemplate dials with)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    moderated: bool = True
    record_id: int | None = None
    record_text: str | None = Field(None, max_length=1024)
    ivrs: list[dict[str, Any]] = Field(default_factory=list)


HttpMethod = Literal["GET", "POST"]


def _both_methods() -> list[HttpMethod]:
    return ["GET", "POST"]


def _default_phones() -> list[AccountPhone]:
    # The reference's own samples dial from 99999999999 and 99999999997: the default account owns
    # both as confirmed personal numbers, so the samples are accepted verbatim.
    return [
        AccountPhone(id=1, phone="18005550100", is_system=True, overall=1),
        AccountPhone(id=2, phone="99999999999", is_system=False, overall=0),
        AccountPhone(id=3, phone="99999999997", is_system=False, overall=0),
    ]


def _default_languages() -> list[Language]:
    return [
        Language(id=1, name="English", code="en-US"),
        Language(id=2, name="Russian", code="ru-RU"),
        Language(id=3, name="Spanish", code="es-ES"),
        Language(id=4, name="German", code="de-DE"),
    ]


def _default_templates() -> list[Template]:
    return [
        Template(
            id=1,
            name="Appointment reminder",
            record_text="Hello, this is a reminder of your appointment. Press 1 to confirm.",
            ivrs=[{"digit": 1, "needBlock": 0}, {"digit": 2, "needBlock": 1}],
        ),
        Template(id=2, name="Draft survey", moderated=False, record_text="Draft survey text."),
    ]


class SandboxConfig(BaseModel):
    """Everything a sandbox is started with; see dispatcher/sandbox/README.md."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    api_keys: list[str] = Field(default_factory=lambda: ["sandbox-key"], min_length=1)
    account_id: int = 1
    seed: int = 0
    speedup: float = Field(1.0, gt=0, description="Simulated seconds per real second.")
    instant: bool = Field(False, description="Every call is final at creation (benchmarks).")
    balance: float = 1000.0
    price_per_minute: float = Field(0.05, ge=0, description="Per answered minute, rounded up.")
    price_per_generated_record: float = Field(0.01, ge=0, description="Per text-to-speech audio.")
    outcomes: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_OUTCOMES))
    ivr_press_probability: float = Field(0.7, ge=0, le=1)
    manager_answer_probability: float = Field(0.8, ge=0, le=1)
    # --- faults (API endpoints only) ---------------------------------------------------------
    latency_ms: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    hang_rate: float = Field(0.0, ge=0, le=1)
    hang_s: float = Field(120.0, ge=0)
    drop_rate: float = Field(0.0, ge=0, le=1)
    rate_limit_per_s: int | None = Field(None, ge=1)
    rate_limited_rate: float = Field(0.0, ge=0, le=1)
    # --- fidelity: where the reference is stricter, or says two things --------------------------
    require_gender: bool = Field(
        True, description="record.gender is mandatory (the reference's table; its samples omit it)."
    )
    reference_shapes: bool = Field(
        True,
        description=(
            "get and removeRecord answer one bare object when there is one (the reference's "
            "shapes); off: always a JSON array."
        ),
    )
    moderation_rate: float = Field(
        0.0, ge=0, le=1, description="Share of created records that start in moderation."
    )
    moderation_s: float = Field(
        3600.0, ge=0, description="Simulated seconds until a record in moderation is approved."
    )
    generated_voice_moderation: bool = Field(
        False,
        description="The account's generated voice is still moderated: record.text creates fail.",
    )
    languages_methods: list[HttpMethod] = Field(
        default_factory=_both_methods,
        min_length=1,
        description="Methods getAvailableLanguages takes (the reference says GET, samples POST).",
    )
    refusal_status: int | None = Field(
        None,
        ge=200,
        le=599,
        description="Answer validation and balance refusals with this status (e.g. 200) instead.",
    )
    max_url_bytes: int | None = Field(
        None, ge=16, description="Longer request lines (path and query) are answered 414."
    )
    # --- webhooks -------------------------------------------------------------------------------
    webhook_tries: int = Field(3, ge=1)
    webhook_retry_interval_s: float = Field(60.0, gt=0, description="Simulated seconds.")
    webhook_timeout_s: float = Field(5.0, gt=0, description="Real seconds.")
    webhook_concurrency: int = Field(
        16,
        ge=1,
        le=1000,
        description=(
            "Webhook deliveries in flight at once, sent from a process of their own with its own"
            " connection pool (so neither a slow receiver nor the sending itself starves the"
            " API); read at start."
        ),
    )
    # --- the emulated account -------------------------------------------------------------------
    phones: list[AccountPhone] = Field(default_factory=_default_phones)
    record_ids: list[int] = Field(
        default_factory=lambda: [1, 1342], description="Audio records that exist at start."
    )
    languages: list[Language] = Field(default_factory=_default_languages)
    templates: list[Template] = Field(default_factory=_default_templates)
    # The reference documents the template endpoints' parameters but not their paths.
    template_list_path: str = "/apiCalls/getTemplates"
    template_create_path: str = "/apiCalls/createFromTemplate"

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(FINAL_STATUSES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}; known: {list(FINAL_STATUSES)}")
        if any(weight < 0 for weight in value.values()) or sum(value.values()) <= 0:
            raise ValueError("outcome weights must be >= 0 and not all zero")
        return value

    @field_validator("template_list_path", "template_create_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        return value if value.startswith("/") else "/" + value

    def runtime_values(self) -> dict[str, Any]:
        """The current values of the fields a running sandbox can change."""
        return self.model_dump(include=set(RUNTIME_FIELDS))

    def public_dump(self) -> dict[str, Any]:
        """The configuration without its API keys (what the inspection routes show)."""
        return self.model_dump(exclude={"api_keys"})
