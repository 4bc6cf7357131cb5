"""Parsing JSON request bodies off the event loop, a few at a time.

`json.loads` of a 50 MB submission takes the better part of a second and holds the GIL-bound event
loop the whole time: every other request (the provider's webhooks, probes) would wait. Bodies past
a small size are parsed in a worker thread instead, and a capacity limiter lets only a few such
parses run at once, which also bounds the memory that parsed documents can take together.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["INLINE_BYTES", "PARSE_THREADS", "JsonParser", "NotJson", "loads"]

#: Bodies up to this size are parsed on the loop: a thread hop would cost more than the parse.
INLINE_BYTES = 64 * 1024
#: Big bodies parsed at the same time, per process.
PARSE_THREADS = 2


class NotJson(ValueError):
    """The body is not a JSON document we will read (syntax, encoding, or nested too deep)."""


def loads(body: bytes | str) -> Any:
    """`json.loads`, with every way a body can fail to be JSON raised as `NotJson`."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotJson(str(exc)) from None
    except RecursionError:
        # `[[[[...` a few thousand deep exhausts the parser's recursion: not a document we read.
        raise NotJson("nested too deep") from None


class JsonParser:
    """Parses bodies with `loads`: small ones inline, big ones in at most `threads` threads."""

    def __init__(self, threads: int = PARSE_THREADS, loads: Callable[[bytes], Any] = loads) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self._loads = loads
        # Created on first use, inside the event loop that serves the app.
        self._limiter: anyio.CapacityLimiter | None = None

    async def parse(self, body: bytes) -> Any:
        """The parsed document; `NotJson` when it is not one."""
        if len(body) <= INLINE_BYTES:
            return self._loads(body)
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(self._loads, body, limiter=self._limiter)
