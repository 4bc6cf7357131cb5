"""The one place a Redis client is built from the settings: a URL, or the master a Sentinel names.

Every process (workers and their dramatiq broker, the HTTP API, the CLI, the producer, `doctor`)
gets its client from `connect_redis`, so they all reach the same Redis the same way and all follow
a failover the same way.

* `DISPATCHER_REDIS_URL`: `redis://`, `rediss://` (TLS) or `unix://`, as redis-py reads them.
* `DISPATCHER_REDIS_SENTINELS` (`host:port,host:port,...`) with `DISPATCHER_REDIS_SENTINEL_MASTER`:
  a client whose pool asks the Sentinels where the master is each time it opens a connection, so
  after a failover the next connection goes to the promoted replica without a restart. It takes
  precedence over the URL.

Why the options below. redis-py 8 gives a plain `Redis(host=...)` ten retries, and a retry sends
the whole command again after a read timeout: a claim or an `INCR` could run twice. The clients
built here retry nothing (the actors ride out outages themselves, re-reading their state; see
`workers.outages`). The Sentinels' own clients get no retries either and a short timeout, so a dead
Sentinel listed first costs one connect timeout, not seconds of backoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

__all__ = [
    "SENTINEL_SOCKET_TIMEOUT_S",
    "RedisTarget",
    "connect_redis",
    "parse_sentinels",
    "redis_target",
]

#: How long a connection to one Sentinel may take to answer (a dead one is skipped after this).
SENTINEL_SOCKET_TIMEOUT_S = 0.5
#: Connect timeout to a data node (a master that stopped answering, or the next one).
CONNECT_TIMEOUT_S = 5.0
#: Under Sentinel, a master that stops answering (frozen, cut off) is given up after this, so the
#: next connection asks the Sentinels again; longer than any script or WAIT the dispatcher runs.
SENTINEL_MODE_SOCKET_TIMEOUT_S = 30.0
#: Pooled connections idle this long are PINGed before use (a failover closes them under us).
HEALTH_CHECK_INTERVAL_S = 30


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """`host:port,host:port` → [(host, port), ...]; `ValueError` naming the bad entry.

    IPv6 addresses go in brackets (`[::1]:26379`). The value holds no secret, so an error may
    quote the entry.
    """
    out: list[tuple[str, int]] = []
    for position, raw in enumerate(value.split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"entry {position} is empty (expected host:port,host:port,...)")
        host, sep, port_text = entry.rpartition(":")
        if not sep or not host:
            raise ValueError(f"entry {position} ({entry!r}) is not host:port")
        if host.startswith("["):
            if not host.endswith("]") or len(host) < 3:
                raise ValueError(f"entry {position} ({entry!r}): unclosed [ in an IPv6 address")
            host = host[1:-1]
        elif ":" in host:
            raise ValueError(f"entry {position} ({entry!r}): put an IPv6 address in brackets")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"entry {position} ({entry!r}): the port must be 1-65535")
        address = (host, int(port_text))
        if address in out:
            raise ValueError(f"entry {position} ({entry!r}) is listed twice")
        out.append(address)
    return out


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where the settings say Redis is: a URL, or a Sentinel-monitored master."""

    url: str | None = None
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    sentinel_password: str | None = None
    username: str | None = None
    password: str | None = None
    #: TLS to the data nodes named by the Sentinels (a URL says it with `rediss://`).
    tls: bool = False
    sentinel_tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_check_hostname: bool = True

    @property
    def configured(self) -> bool:
        return self.url is not None or bool(self.sentinels)

    def describe(self) -> str:
        """Where this is, for logs and errors: never a password."""
        if self.sentinels:
            hosts = ",".join(f"{h}:{p}" for h, p in self.sentinels)
            return f"sentinel master {self.master!r} via {hosts}"
        if self.url is None:
            return "no Redis configured"
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rsplit('@', 1)[-1]}"

    def tls_options(self) -> dict[str, Any]:
        """redis-py's `ssl_*` options from the TLS settings (only those set)."""
        options: dict[str, Any] = {}
        if self.tls_ca_file:
            options["ssl_ca_certs"] = self.tls_ca_file
        if self.tls_cert_file:
            options["ssl_certfile"] = self.tls_cert_file
        if self.tls_key_file:
            options["ssl_keyfile"] = self.tls_key_file
        if not self.tls_check_hostname:
            options["ssl_check_hostname"] = False
        return options


def redis_target(settings: Any) -> RedisTarget:
    """The target the settings name (`dispatcher.settings.Settings`; typed loosely to keep this
    module below the settings in the import order)."""

    def secret(value: Any) -> str | None:
        return None if value is None else str(value.get_secret_value()) or None

    sentinels = settings.redis_sentinels
    return RedisTarget(
        url=None if sentinels else settings.redis_url,
        sentinels=tuple(parse_sentinels(sentinels)) if sentinels else (),
        master=settings.redis_sentinel_master or "",
        sentinel_password=secret(settings.redis_sentinel_password),
        username=settings.redis_username,
        password=secret(settings.redis_password),
        tls=settings.redis_tls,
        sentinel_tls=settings.redis_sentinel_tls,
        tls_ca_file=settings.redis_tls_ca_file,
        tls_cert_file=settings.redis_tls_cert_file,
        tls_key_file=settings.redis_tls_key_file,
        tls_check_hostname=settings.redis_tls_check_hostname,
    )


def client_options(target: RedisTarget) -> dict[str, Any]:
    """The keyword arguments the data-node connections get (pure: what `connect` passes)."""
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": Retry(NoBackoff(), 0),
    }
    if target.sentinels:
        options["socket_timeout"] = SENTINEL_MODE_SOCKET_TIMEOUT_S
        if target.username:
            options["username"] = target.username
        if target.password:
            options["password"] = target.password
        if target.tls:
            options["ssl"] = True
            options.update(target.tls_options())
    elif target.url is not None and target.url.startswith("rediss://"):
        options.update(target.tls_options())
    return options


def sentinel_options(target: RedisTarget) -> dict[str, Any]:
    """The keyword arguments each Sentinel's own client gets (once given, redis-py copies nothing
    from the data nodes' options, so everything is here)."""
    options: dict[str, Any] = {
        "socket_timeout": SENTINEL_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_SOCKET_TIMEOUT_S,
        "retry": Retry(NoBackoff(), 0),
    }
    if target.sentinel_password:
        options["password"] = target.sentinel_password
    if target.sentinel_tls:
        options["ssl"] = True
        options.update(target.tls_options())
    return options


def connect_redis(target: RedisTarget) -> redis.Redis:
    """A client for `target` (no I/O yet: the first command connects)."""
    if target.sentinels:
        # redis-py leaves Sentinel untyped.
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.sentinels), sentinel_kwargs=sentinel_options(target)
        )
        client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            target.master, **client_options(target)
        )
        return client
    if target.url is None:
        raise ValueError("no Redis configured: set DISPATCHER_REDIS_URL or _REDIS_SENTINELS")
    return redis.Redis.from_url(target.url, **client_options(target))
