"""The one settings object, read from `DISPATCHER_*` environment variables and an optional `.env`.

Entry points (the CLI, the broker set-up, the HTTP app factory) build `Settings()` once and pass it
down; nothing below them reads the environment. Tests build `Settings(...)` with explicit values.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from dispatcher.access.tokens import ApiToken, check_unique, parse_token_list
from dispatcher.errors import ConfigurationError

__all__ = ["Settings", "load_settings", "settings_error_message"]

ENV_PREFIX = "DISPATCHER_"
#: What redis-py's `Redis.from_url` accepts.
REDIS_SCHEMES = ("redis", "rediss", "unix")

#: The key the sandbox accepts unless told otherwise; the demo uses it.
SANDBOX_API_KEY = "sandbox-key"
#: Where the reference says the provider's webhooks come from.
PROVIDER_WEBHOOK_SOURCES = ("209.97.136.240",)


class Settings(BaseSettings):
    """Everything a dispatcher process can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A validation error must not print what it was given: that may be a key or a token.
        hide_input_in_errors=True,
    )

    # --- provider -------------------------------------------------------------------------------
    effebot_base_url: str = Field(
        "https://in.effebot.com",
        description="Base URL of the effebot API (or of a sandbox).",
    )
    effebot_api_key: SecretStr | None = Field(
        None, description="The account's API key. Never logged, never sent through the queue."
    )
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(30.0, gt=0)
    write_timeout_s: float = Field(10.0, gt=0)
    pool_timeout_s: float = Field(10.0, gt=0)
    max_connections: int = Field(20, ge=1)
    get_chunk_size: int = Field(
        50, ge=1, le=500, description="Api call ids per apiCalls/get request (they go in the URL)."
    )
    # The reference documents the template endpoints' parameters but not their paths: these are
    # our best guess, unconfirmed, and configurable for that reason.
    template_list_path: str = Field("apiCalls/getTemplates")
    template_create_path: str = Field("apiCalls/createFromTemplate")
    preflight: bool = Field(
        True,
        description=(
            "Check a campaign against the provider account (caller number, language, records, "
            "template) before a submission writes anything; needs the API key."
        ),
    )
    preflight_cache_s: float = Field(
        60.0, ge=0, description="How long the account's numbers and languages are cached (0: off)."
    )
    account_record_ids: list[int] = Field(
        default_factory=list,
        description=(
            "Records made in the provider's personal account (its API cannot list them); records "
            "uploaded with `dispatcher records upload` are known without this."
        ),
    )

    # --- redis / queue --------------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis to use; unset means start an embedded redis-server (demo only)."
    )
    redis_sentinels: str | None = Field(
        None,
        description=(
            "Sentinels to ask where the master is (`host:port,host:port`); when set, used "
            "instead of redis_url, and clients follow a failover without a restart."
        ),
    )
    redis_sentinel_master: str | None = Field(
        None, min_length=1, description="The service name the Sentinels monitor (`mymaster`)."
    )
    redis_sentinel_password: SecretStr | None = Field(
        None, description="The Sentinels' own password (requirepass on the Sentinels)."
    )
    redis_username: str | None = Field(
        None, description="ACL user on the data nodes under Sentinel (a URL carries its own)."
    )
    redis_password: SecretStr | None = Field(
        None, description="Password of the data nodes under Sentinel (a URL carries its own)."
    )
    redis_tls: bool = Field(False, description="TLS to the data nodes the Sentinels name.")
    redis_sentinel_tls: bool = Field(False, description="TLS to the Sentinels themselves.")
    redis_tls_ca_file: str | None = Field(
        None, description="CA bundle that signed the Redis servers' certificates (TLS)."
    )
    redis_tls_cert_file: str | None = Field(
        None, description="Client certificate, when the servers ask for one (TLS)."
    )
    redis_tls_key_file: str | None = Field(None, description="The client certificate's key.")
    redis_tls_check_hostname: bool = Field(
        True,
        description=(
            "Check the server certificate's name; Sentinels report IP addresses unless they "
            "run with `announce-hostnames yes`, so the certificate needs an IP SAN or this off."
        ),
    )
    claim_durability: Literal["none", "replica", "aof"] = Field(
        "none",
        description=(
            "What a batch's claim (and its `sent` record) must reach before the create is sent "
            "(and before its message is acknowledged): `replica` waits for WAIT, `aof` for "
            "WAITAOF (Redis 7.2+); unconfirmed in time, the batch is not dialled."
        ),
    )
    claim_durability_replicas: int = Field(
        1,
        ge=0,
        description=(
            "Replicas that must confirm a claim (count only promotable ones); 0 only with `aof` "
            "(a single Redis whose own AOF must have it)."
        ),
    )
    claim_durability_timeout_ms: int = Field(
        500, ge=1, le=60_000, description="How long a claim waits for its confirmation."
    )
    key_prefix: str = Field("dispatcher", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    queue_name: str = Field("dispatcher", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    broker_heartbeat_timeout_ms: int = Field(
        60_000, ge=1000, description="A worker silent this long is dead; its messages are requeued."
    )
    broker_maintenance_chance: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Per million broker commands: run dead-worker cleanup.",
    )
    worker_threads: int = Field(8, ge=1, description="Threads per worker process.")
    consumer_idle_ms: int = Field(
        1000,
        ge=10,
        le=60_000,
        description=(
            "The longest a worker's queue consumer that found no message waits before it looks "
            "again (dramatiq's worker timeout; its backoff starts at a few ms). Lower: a new "
            "campaign's batches and poll messages are picked up sooner, at the price of more "
            "fetches while idle."
        ),
    )
    batch_lease_s: float = Field(
        0.0,
        ge=0,
        description=(
            "How long a claimed batch belongs to the worker sending it; 0 means derived from the "
            "client timeouts. A batch found still `sending` after its lease is ambiguous."
        ),
    )
    retry_safe_max_attempts: int = Field(
        30, ge=1, description="Retry-safe failures (unreachable, 429) tried this often per batch."
    )
    max_retry_after_s: float = Field(
        300.0,
        gt=0,
        description="A provider's Retry-After longer than this is cut to it (and logged).",
    )

    # --- pacing and safety ----------------------------------------------------------------------
    provider_rate_per_s: float = Field(
        10.0, gt=0, description="Requests per second to the provider, shared by every process."
    )
    pacing_jitter_allowance_s: float = Field(
        0.05,
        ge=0,
        le=1,
        description=(
            "Arrival jitter the pace allows for: starts are spaced so that requests arriving up "
            "to this late or early still never exceed provider_rate_per_s in any second."
        ),
    )
    max_pacing_wait_s: float = Field(
        5.0, ge=0, description="Longer waits re-enqueue the message with a delay instead."
    )
    redial_unknown: bool = Field(
        False,
        description=(
            "Opt in to dialling again contacts whose create request may or may not have reached "
            "the provider. Off by default: a person may be called twice."
        ),
    )
    max_dials_per_number_per_day: int = Field(
        5,
        ge=0,
        description=(
            "At most this many dials per number per UTC day, all campaigns together, checked "
            "right before each dial (0: no cap). A capped number waits for the next day."
        ),
    )
    default_region: str = Field(
        "US", min_length=2, max_length=2, description="Region for numbers without a country code."
    )

    # --- guards (auto-pause) --------------------------------------------------------------------
    autopause_window_s: float = Field(60.0, gt=0, description="Sliding window for error bursts.")
    autopause_rejected: int = Field(
        10, ge=0, description="Rejected creates within the window that pause a campaign (0: off)."
    )
    autopause_ambiguous: int = Field(
        5, ge=0, description="Ambiguous create failures within the window that pause (0: off)."
    )
    autopause_retry_safe: int = Field(
        200, ge=0, description="Retry-safe failures (429, unreachable) within the window (0: off)."
    )
    min_balance: float | None = Field(
        None, description="Pause running campaigns when the account balance falls below this."
    )
    balance_check_interval_s: float = Field(60.0, gt=0)

    # --- dry-run estimates (rough; the provider publishes no price list) ----------------------
    estimate_answer_rate: float = Field(0.6, ge=0, le=1)
    estimate_minutes_per_answer: float = Field(1.0, ge=0)
    estimate_price_per_minute: float = Field(0.05, ge=0)
    estimate_price_per_generated_record: float = Field(0.01, ge=0)

    # --- trust in Redis and retention -----------------------------------------------------------
    allow_unsafe_redis: bool = Field(
        False,
        description=(
            "Start even on a Redis without persistence or with an evicting maxmemory-policy "
            "(throw-away set-ups only: a restart or memory pressure loses campaigns and the DNC "
            "list)."
        ),
    )
    retention_days: float = Field(
        30.0,
        ge=0,
        description=(
            "Finished and cancelled campaigns are removed this long after they ended (0: never by "
            "the sweep; `dispatcher purge` still can). The do-not-call list is never removed."
        ),
    )
    retention_sweep_interval_s: float = Field(
        3600.0,
        gt=0,
        description="How often the reconciler removes campaigns past their retention.",
    )
    archive_enabled: bool = Field(
        True,
        description=(
            "The reconciler archives ended campaigns' contacts into compressed buckets "
            "(`dispatcher archive` still can when this is off)."
        ),
    )
    archive_after_s: float = Field(
        3600.0,
        ge=0,
        description=(
            "A finished or cancelled campaign with no open contact is archived this long after it "
            "ended (0: at once); until then late webhooks and IVR answers land on its live "
            "contacts, after it they are refused (410)."
        ),
    )

    redis_outage_max_s: float = Field(
        120.0,
        ge=0,
        description="How long an actor waits for Redis to come back before giving up.",
    )

    # --- polling --------------------------------------------------------------------------------
    poll_first_delay_s: float = Field(5.0, ge=0)
    poll_max_interval_s: float = Field(300.0, gt=0)
    poll_lease_s: float = Field(60.0, gt=0)
    poll_tick_max_s: float = Field(
        60.0,
        gt=0,
        description=(
            "The longest one poll message waits: a campaign with calls in flight or retries to"
            " form is looked at at least this often (a look with nothing due costs no request)."
        ),
    )
    poll_coalesce_s: float = Field(
        20.0,
        ge=0,
        description=(
            "A poll that has a call due also takes the calls due within this many seconds, to"
            " fill its apiCalls/get (one request carries up to get_chunk_size ids)."
        ),
    )
    poll_webhook_interval_s: float = Field(
        60.0,
        gt=0,
        description=(
            "With webhooks configured (public_base_url and webhook_secret), the shortest interval"
            " between polls of a call: webhooks bring the news, polling is the safety net."
        ),
    )
    watchdog_interval_s: float = Field(
        5.0,
        gt=0,
        description=(
            "How often the reconciler sweeps the active campaigns (one worker process at a time)."
        ),
    )
    batch_stale_after_s: float = Field(
        60.0,
        gt=0,
        description=(
            "A pending batch that no message picked up this long after it was due is looked at "
            "by the reconciler: sent again if its message is gone, given longer if it is queued."
        ),
    )

    # --- service surface ------------------------------------------------------------------------
    public_base_url: str | None = Field(
        None,
        description=(
            "Where the provider can reach our webhook receiver (e.g. https://dispatcher.example)."
            " When set with webhook_secret, every create carries a webhookUrl."
        ),
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Derives each campaign's secret webhook path token (HMAC)."
    )
    api_tokens: list[ApiToken] = Field(
        default_factory=list,
        description=(
            "Bearer tokens accepted by the HTTP API (several, so they can be rotated): a plain "
            'string has every scope; {"token": ..., "scopes": ["read"|"operate"|"admin"], '
            '"name": ...} gives fewer.'
        ),
    )
    max_upload_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        description="Largest POST /campaigns body (JSON or multipart upload); larger is 413.",
    )
    webhook_allowed_sources: list[str] = Field(
        default_factory=lambda: list(PROVIDER_WEBHOOK_SOURCES),
        description=(
            "Addresses or CIDR ranges webhooks may come from; by default the one the reference "
            "names. An empty list accepts any source (logged as a warning at start-up)."
        ),
    )
    webhook_grace_after_end_s: float = Field(
        3600.0,
        ge=0,
        description=(
            "A campaign's webhooks are refused (410) this long after it finished or was "
            "cancelled; its token works for nothing after that."
        ),
    )
    webhook_max_blocks: int = Field(
        50,
        ge=0,
        description=(
            "Do-not-call additions (toBlock) one webhook payload may make; past it the api call "
            "stays polled, so the provider's own answer to apiCalls/get decides."
        ),
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Proxies (addresses or CIDRs) whose X-Forwarded-For header is believed.",
    )
    worker_prometheus: bool = Field(
        False,
        description=(
            "Add dramatiq's Prometheus middleware to worker processes (its exposition server "
            "serves every process's metrics; set PROMETHEUS_MULTIPROC_DIR, see deploy/README.md)."
        ),
    )
    metrics_recent_campaigns: int = Field(
        20, ge=0, le=1000, description="Finished campaigns still reported by GET /metrics."
    )
    metrics_cache_s: float = Field(
        5.0, ge=0, description="GET /metrics answers from a copy at most this old (0: no cache)."
    )
    metrics_token: SecretStr | None = Field(
        None, description="When set, GET /metrics needs `Authorization: Bearer <this>`."
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port (same host) instead of the API's port.",
    )

    # --- other services: idempotency, intake, events, webhooks to callers ---------------------
    idempotency_lease_s: float = Field(
        30.0,
        gt=0,
        description=(
            "How long an idempotency key stays reserved for a submission that stops giving news "
            "(its process died); a live one extends it while it reads."
        ),
    )
    intake_draft_ttl_s: float = Field(
        3600.0,
        gt=0,
        description=(
            "A multi-part intake series whose next part does not arrive within this is refused "
            "and its draft deleted."
        ),
    )
    intake_refusal_ttl_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="How long a refused intake series can be read back."
    )
    event_stream_maxlen: int = Field(
        20_000,
        ge=100,
        description=(
            "Approximate bound of the event stream, in entries (each holds one state change's "
            "contacts, up to a batch): consumer groups must keep up within it."
        ),
    )
    callback_secret: SecretStr | None = Field(
        None,
        description=(
            "Signs webhook deliveries to callers (Standard Webhooks: `whsec_` + base64). "
            "Campaigns with a callback_url are refused without it."
        ),
    )
    callback_timeout_s: float = Field(10.0, gt=0, description="Per webhook delivery request.")
    callback_max_contacts: int = Field(
        500, ge=1, le=10_000, description="Contacts' results per webhook delivery."
    )
    callback_backoff_max_s: float = Field(
        300.0, gt=0, description="Longest wait between tries of a failing webhook delivery."
    )
    callback_max_age_s: float = Field(
        3 * 24 * 3600.0,
        gt=0,
        description="A delivery still refused this long after its first try is dropped (logged).",
    )

    # --- logs -----------------------------------------------------------------------------------
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        # Checked here, not where the client is built, so every entry point says it in one line.
        # The URL itself is not echoed: it may hold a password.
        if value is not None and urlsplit(value).scheme not in REDIS_SCHEMES:
            schemes = ", ".join(f"{scheme}://" for scheme in REDIS_SCHEMES)
            raise ValueError(f"a Redis URL starts with {schemes}")
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from dispatcher.store.connection import parse_sentinels

        parse_sentinels(value)  # a ValueError names the bad entry
        return value.strip()

    @model_validator(mode="after")
    def _sentinel_needs_master(self) -> Settings:
        if self.redis_sentinels is not None and self.redis_sentinel_master is None:
            raise ValueError(
                "DISPATCHER_REDIS_SENTINEL_MASTER must name the service the Sentinels monitor"
            )
        if self.claim_durability == "replica" and self.claim_durability_replicas < 1:
            raise ValueError(
                "DISPATCHER_CLAIM_DURABILITY_REPLICAS must be at least 1 with "
                "DISPATCHER_CLAIM_DURABILITY=replica"
            )
        return self

    def has_redis(self) -> bool:
        """True when a Redis is configured (a URL or Sentinels)."""
        return self.redis_url is not None or self.redis_sentinels is not None

    def redis_where(self) -> str:
        """Where Redis is, for messages: never a password."""
        from dispatcher.store.connection import redis_target

        return redis_target(self).describe()

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _plain_tokens_have_every_scope(cls, value: Any) -> Any:
        return parse_token_list(value)

    @field_validator("api_tokens")
    @classmethod
    def _tokens_are_unique(cls, value: list[ApiToken]) -> list[ApiToken]:
        check_unique(value)
        return value

    def secrets(self) -> list[str]:
        """Every secret value, for the log redaction processor."""
        values = [token.token.get_secret_value() for token in self.api_tokens]
        secrets = (
            self.effebot_api_key,
            self.webhook_secret,
            self.metrics_token,
            self.callback_secret,
            self.redis_password,
            self.redis_sentinel_password,
        )
        for secret in secrets:
            if secret is not None:
                values.append(secret.get_secret_value())
        return [value for value in values if value]

    def webhook_url(self, campaign_id: str) -> str | None:
        """The webhookUrl for a campaign's creates, or None when webhooks are not configured."""
        if self.public_base_url is None or self.webhook_secret is None:
            return None
        from dispatcher.webhook_tokens import webhook_token

        token = webhook_token(self.webhook_secret.get_secret_value(), campaign_id)
        return f"{self.public_base_url.rstrip('/')}/webhooks/effebot/{token}"


def settings_error_message(exc: ValidationError) -> str:
    """One line naming each bad environment variable (`DISPATCHER_X: what is wrong`).

    The value is never repeated: it may be a key, a token or a URL with a password.
    """
    parts = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        name = f"{ENV_PREFIX}{location[0].upper()}" if location else ENV_PREFIX + "*"
        where = ".".join([name, *location[1:]])
        message = str(error["msg"]).removeprefix("Value error, ")
        # A check across several variables names them itself.
        parts.append(f"{where}: {message}" if location else message)
    return "; ".join(parts)


def load_settings(**values: Any) -> Settings:
    """`Settings(**values)` from the environment, or `ConfigurationError` naming the variables."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigurationError(settings_error_message(exc)) from None
    except SettingsError as exc:  # a value that is not JSON where a list is expected
        raise ConfigurationError(str(exc)) from None
