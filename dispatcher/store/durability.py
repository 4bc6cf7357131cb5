"""Durable claims: a write the dispatcher acts on must reach the replicas (or the disk) first.

Replication is asynchronous. A claim (`pending → sending`) that only the primary holds is lost
with it: the replica Sentinel promotes still has the batch `pending`, the message is delivered
again and the same phones would be dialled twice. With `DISPATCHER_CLAIM_DURABILITY`:

* `replica`: the claim script and `WAIT <replicas> <timeout>` go in one non-transactional
  pipeline, so both run on the same connection and `WAIT` covers that connection's write;
* `aof`: the same with `WAITAOF 1 <replicas> <timeout>` (fsynced to the primary's AOF and to that
  many replicas'), which needs Redis 7.2 or later: `require_support` refuses older servers.

A confirmation that does not come in time does not undo the write: it stays on the primary and
may or may not survive. So the caller treats it as *not yet safe to act on*: a claim is given back
(compare-and-release by its token; nobody was dialled under it) and nothing is dialled, and a
`sent` record is written and waited for again before its message is acknowledged. The judging is
pure (`unconfirmed_reason`); the pipeline is built here so both writes go the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from dispatcher.errors import ConfigurationError, StateError

__all__ = ["NO_DURABILITY", "Durability", "require_support", "unconfirmed_reason"]


@dataclass(frozen=True, slots=True)
class Durability:
    """What a claim must reach before it is acted on."""

    mode: str = "none"  # none | replica | aof
    replicas: int = 1
    timeout_ms: int = 500

    @property
    def enabled(self) -> bool:
        return self.mode != "none"

    def command(self) -> tuple[Any, ...]:
        """The command that waits for the confirmation."""
        if self.mode == "aof":
            return ("WAITAOF", 1, self.replicas, self.timeout_ms)
        return ("WAIT", self.replicas, self.timeout_ms)

    def run(
        self, client: redis.Redis, script: Script, keys: Sequence[Any], args: Sequence[Any]
    ) -> tuple[Any, str]:
        """Run `script` then the wait on one connection: (the script's reply, '' or why the
        write is not confirmed). A script error is raised; a wait error is a reason."""
        for _ in range(2):
            pipe = client.pipeline(transaction=False)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            pipe.execute_command(*self.command())  # type: ignore[no-untyped-call] # redis-py
            reply, ack = pipe.execute(raise_on_error=False)
            if isinstance(reply, NoScriptError):
                # A promoted replica, or a restarted server, does not have it yet.
                script.sha = client.script_load(script.script)
                continue
            if isinstance(reply, Exception):
                raise reply
            return reply, unconfirmed_reason(self, ack)
        raise NoScriptError("the script could not be loaded")


NO_DURABILITY = Durability()


def unconfirmed_reason(durability: Durability, ack: Any) -> str:
    """'' when `ack` (the WAIT / WAITAOF reply, or the error it raised) confirms the write,
    otherwise a reason in words for the log line."""
    name = "WAITAOF" if durability.mode == "aof" else "WAIT"
    if isinstance(ack, Exception):
        return f"{name} failed: {ack}"
    wanted, timeout = durability.replicas, durability.timeout_ms
    if durability.mode == "aof":
        local, replicas = (int(part) for part in ack)
        if local < 1:
            return f"not fsynced to the primary's AOF within {timeout} ms (is appendonly on?)"
        if replicas < wanted:
            return f"fsynced on {replicas} of {wanted} replicas within {timeout} ms"
        return ""
    if int(ack) < wanted:
        return f"{int(ack)} of {wanted} replicas confirmed within {timeout} ms"
    return ""


def require_support(client: redis.Redis, durability: Durability) -> None:
    """`ConfigurationError` (one line) when the server cannot give `durability`; `StateError`
    when it does not answer.

    Only `aof` needs a check: `WAIT` exists since Redis 3.0. `WAITAOF 0 0 0` asks for nothing, so
    a server that knows it answers at once; an older one says the command is unknown.
    """
    if durability.mode != "aof":
        return
    try:
        client.execute_command("WAITAOF", 0, 0, 0)  # type: ignore[no-untyped-call] # redis-py
        return
    except redis.ResponseError as exc:
        if "unknown command" not in str(exc).lower():
            return  # it knows the command (e.g. refused on a replica): the claims will say more
    except redis.RedisError as exc:
        raise StateError(f"redis: {exc}") from exc
    try:
        version = client.info("server").get("redis_version", "unknown")
    except redis.RedisError as exc:
        raise StateError(f"redis: {exc}") from exc
    raise ConfigurationError(
        f"DISPATCHER_CLAIM_DURABILITY=aof needs WAITAOF (Redis 7.2+); this Redis is "
        f"{version}: use `replica` (WAIT) or upgrade"
    )
