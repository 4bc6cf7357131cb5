"""What every part of the state store shares: the client, key names, error translation, decoding
and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis
from redis.commands.core import Script

from dispatcher.errors import StateError
from dispatcher.store import scripts
from dispatcher.store.durability import NO_DURABILITY, Durability
from dispatcher.store.keys import CampaignKeys, Keys

__all__ = ["StoreBase", "now_ms", "text", "translate"]

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


class StoreBase:
    """The client and key names every concern of the store works with."""

    client: redis.Redis
    keys: Keys
    _scripts: dict[str, Script]
    events_maxlen: int = scripts.EVENTS_MAXLEN
    durability: Durability = NO_DURABILITY

    def campaign_keys(self, campaign_id: str) -> CampaignKeys:
        return self.keys.campaign(campaign_id)

    def _script(self, name: str) -> Script:
        """Script `name` registered on this client (EVALSHA; loaded on first use)."""
        found = self._scripts.get(name)
        if found is None:
            source = scripts.load(name, self.events_maxlen)
            found = self._scripts[name] = self.client.register_script(source)
        return found
