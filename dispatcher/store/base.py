"""What every part of the state store shares: the client, key names, error translation, decoding
and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

import redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from dispatcher.errors import StateError
from dispatcher.store import scripts
from dispatcher.store.durability import NO_DURABILITY, Durability
from dispatcher.store.keys import CampaignKeys, Keys

__all__ = ["ScriptBatch", "StoreBase", "now_ms", "text", "translate"]

P = ParamSpec("P")
R = TypeVar("R")


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client answers bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def now_ms() -> int:
    """Wall-clock milliseconds: the unit every timestamp in Redis is kept in."""
    return int(time.time() * 1000)


def translate(fn: Callable[P, R]) -> Callable[P, R]:
    """Let no redis error out of a store method: they become `StateError`."""

    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise StateError(f"redis: {exc}") from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


class ScriptBatch:
    """Script calls sent in one round trip (a non-transactional pipeline of EVALSHAs).

    redis-py's own way (`script(..., client=pipe)`) sends `SCRIPT EXISTS` before every pipeline,
    a second round trip each time. Here the EVALSHAs go out as they are; a call the server answers
    `NOSCRIPT` (Redis restarted, `SCRIPT FLUSH`) is sent again as `EVAL`, which runs it and caches
    it. Nothing runs twice: a `NOSCRIPT` reply means the server ran nothing for that call, and only
    those calls are sent again (every other reply stands). The store's clients retry nothing after
    a lost reply (`store.connection`), so a pipeline is never resent whole either. The calls must
    not depend on one another's order, since a call sent again runs after the others.

    Transactions (`MULTI`) keep redis-py's way (`SubmissionStore.apply_part`): inside `EXEC` a
    `NOSCRIPT` would leave the transaction's other commands applied, so there the scripts must
    be known to the server before it starts.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pipe = client.pipeline(transaction=False)
        self._calls: list[tuple[Script, int, tuple[Any, ...]]] = []

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Queue one call of `script` (a `register_script` of this client)."""
        argv = (*keys, *args)
        self._pipe.evalsha(script.sha, len(keys), *argv)
        self._calls.append((script, len(keys), argv))

    def execute(self) -> list[Any]:
        """Run the queued calls; their replies in order (the first error is raised)."""
        if not self._calls:
            return []
        calls, self._calls = self._calls, []
        replies: list[Any] = self._pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            again = self._client.pipeline(transaction=False)
            for i in missing:
                script, numkeys, argv = calls[i]
                # EVAL runs the call and caches the script for the EVALSHAs that come next.
                again.execute_command("EVAL", script.script, numkeys, *argv)  # type: ignore[no-untyped-call] # redis-py
            for i, reply in zip(missing, again.execute(raise_on_error=False), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies


class StoreBase:
    """The client and key names every concern of the store works with."""

    client: redis.Redis
    keys: Keys
    _scripts: dict[str, Script]
    events_maxlen: int = scripts.EVENTS_MAXLEN
    durability: Durability = NO_DURABILITY

    def campaign_keys(self, campaign_id: str) -> CampaignKeys:
        return self.keys.campaign(campaign_id)

    def _created_before(
        self, cutoff_ms: int, examine_max: int, page: int = 500
    ) -> Iterator[list[str]]:
        """Ids of campaigns created before `cutoff_ms`, oldest first, a page at a time; at most
        `examine_max` of them (what retention and archiving look through)."""
        offset = 0
        while offset < examine_max:
            raw: Any = self.client.zrangebyscore(
                self.keys.campaigns, "-inf", cutoff_ms, offset, min(page, examine_max - offset)
            )
            if not raw:
                return
            offset += len(raw)
            yield [text(v) for v in raw]

    def _script(self, name: str) -> Script:
        """Script `name` registered on this client (EVALSHA; loaded on first use)."""
        found = self._scripts.get(name)
        if found is None:
            source = scripts.load(name, self.events_maxlen)
            found = self._scripts[name] = self.client.register_script(source)
        return found

    def _script_batch(self) -> ScriptBatch:
        """Script calls for one round trip, without `SCRIPT EXISTS` first (see `ScriptBatch`)."""
        return ScriptBatch(self.client)
