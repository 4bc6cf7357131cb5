"""Writing a submission's contacts: `add_contacts` chunks pipelined on one connection.

A submission is two kinds of work of about the same size: reading and normalising rows (this
process) and adding them (the `add_contacts` script, in Redis). Done one after the other they add
up; done by a second thread they still do, because that thread needs the GIL back after every
reply and waits up to the interpreter's switch interval (5 ms) for the reading thread to let go
of it — about a chunk's own cost in Redis. So one thread does both on one connection: it sends a
chunk and, while Redis runs it, reads the next one; the next send comes before the previous reply
is read, so Redis always has the next chunk queued. Chunks still run in order, one script call
each (so no call blocks Redis longer than one chunk).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import redis
from redis.connection import Connection

from dispatcher.errors import StateError
from dispatcher.store import scripts
from dispatcher.store.base import text
from dispatcher.store.contacts import ContactStore

__all__ = ["ChunkWriter"]

#: Chunks sent and not yet answered at most: the one Redis runs and the one queued behind it.
IN_FLIGHT = 2


class ChunkWriter:
    """Adds contact chunks to one campaign; `send` answers the codes of chunks Redis finished.

    Codes per contact as `ContactStore.add_contacts`: 0 duplicate, 1 accepted, 2 blocked. Use as a
    context manager: the connection goes back to the pool when every answer was read, and is
    dropped otherwise (its replies would be out of step).
    """

    def __init__(self, store: ContactStore, campaign_id: str, batch_size: int) -> None:
        self._store = store
        self._campaign_id = campaign_id
        self._batch_size = batch_size
        script = store._script("add_contacts")
        self._sha = script.sha
        self._source = scripts.load("add_contacts", store.events_maxlen)
        self._pool = store.client.connection_pool
        self._conn: Connection | None = None
        self._waiting: deque[tuple[Any, ...]] = deque()

    def __enter__(self) -> ChunkWriter:
        try:
            # Loaded up front so the pipelined calls can name it by hash (the source is ~3 kB).
            self._store.client.script_load(self._source)
            self._conn = self._pool.get_connection()
        except redis.RedisError as exc:
            raise StateError(f"redis: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving early (an error while reading rows), the chunks already sent are waited for, so
        that nothing of them lands after the caller deletes the draft on another connection."""
        conn = self._conn
        if conn is None:
            return
        try:
            self.drain()
        except StateError:
            conn.disconnect()  # type: ignore[no-untyped-call] # its replies are out of step; Redis drops what it had not run
        finally:
            self._waiting.clear()
            self._conn = None
            self._pool.release(conn)

    def send(self, items: Sequence[tuple[str, ...]]) -> list[list[int]]:
        """Send one chunk; answers the codes of every chunk that had to be read to make room."""
        command = ("EVALSHA", self._sha, *self._command(items))
        self._call(lambda conn: conn.send_command(*command))
        self._waiting.append(command)
        answered = []
        while len(self._waiting) > IN_FLIGHT - 1:
            answered.append(self._read())
        return answered

    def drain(self) -> list[list[int]]:
        """The codes of every chunk still unanswered, in the order they were sent."""
        answered = []
        while self._waiting:
            answered.append(self._read())
        return answered

    def _command(self, items: Sequence[tuple[str, ...]]) -> tuple[Any, ...]:
        keys, args = self._store.add_contacts_arguments(self._campaign_id, self._batch_size, items)
        return (len(keys), *keys, *args)

    def _read(self) -> list[int]:
        command = self._waiting.popleft()
        try:
            reply = self._call(lambda conn: conn.read_response())
        except redis.exceptions.NoScriptError:
            # Redis lost its scripts (restarted, or SCRIPT FLUSH) after the load above: every
            # call sent since fails the same way and is answered here, in order, with its source.
            reply = self._store.client.eval(self._source, *command[2:])
        except redis.RedisError as exc:
            raise StateError(f"redis: {exc}") from exc
        return [int(code) for code in text(reply)]

    def _call(self, step: Any) -> Any:
        if self._conn is None:
            raise StateError("the chunk writer is not open")
        try:
            return step(self._conn)
        except redis.exceptions.ResponseError:
            raise
        except redis.RedisError as exc:
            raise StateError(f"redis: {exc}") from exc
