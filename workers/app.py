"""The module the `dramatiq` command loads: `dramatiq workers.app`.

Settings come from the environment (`DISPATCHER_*`, optional `.env`), read once, here.
"""

from __future__ import annotations

from dispatcher.errors import ConfigurationError, RedisUntrusted
from dispatcher.logs import configure_logging
from dispatcher.settings import load_settings
from workers.setup import build_worker_app

settings = load_settings()
configure_logging(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets())
# Fail at start, not on the first message: a worker that cannot do its job must not look healthy.
if not settings.has_redis():
    raise ConfigurationError(
        "DISPATCHER_REDIS_URL (or DISPATCHER_REDIS_SENTINELS) must be set for worker processes"
    )
if settings.effebot_api_key is None:
    raise ConfigurationError("DISPATCHER_EFFEBOT_API_KEY must be set for worker processes")
try:
    app = build_worker_app(settings)
except RedisUntrusted as exc:
    # One clear line (logged as `redis.refused` / `redis.data_lost` too) and a non-zero exit.
    raise SystemExit(f"dispatcher worker: {exc}") from None
broker = app.broker
