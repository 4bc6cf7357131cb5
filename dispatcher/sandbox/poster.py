"""The webhook poster: a process of its own that POSTs what the sandbox hands it through a pipe.

`delivery.WebhookSender` starts it as `python -m dispatcher.sandbox.poster` and writes requests
to its stdin; it answers each on its stdout, in the order they finish. Being a process, its HTTP
work (connections, writes, reading answers) holds no lock the sandbox's API needs: before, both
shared one GIL, and at 100+ webhooks a second the sender took most of it.

Frames, big-endian:

* in:  request id (u64), URL length (u32), body length (u32), then the URL and the JSON body;
* out: request id (u64), HTTP status (i32; -1 when no answer came).

At most `--concurrency` POSTs are in flight (the sandbox hands over no more than that anyway),
each with `--timeout-s`; `http://` URLs go through `plainhttp` with kept-alive connections, others
through an `httpx.AsyncClient` made on first use. The end of stdin (the sandbox stopped, or died)
ends the process: what is in flight is cancelled, nothing outlives its sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import struct
from typing import TYPE_CHECKING

from dispatcher.sandbox.plainhttp import PlainHttpPool

if TYPE_CHECKING:
    import httpx

__all__ = ["NO_ANSWER", "REQUEST_HEAD", "RESULT", "main"]

#: A request's head: id, URL length, body length.
REQUEST_HEAD = struct.Struct("!QII")
#: A result: id, status.
RESULT = struct.Struct("!Qi")
#: The status sent back when no answer came (refused, timed out, not HTTP).
NO_ANSWER = -1


class Poster:
    """Reads requests from `reader`, POSTs them, writes results to `out`."""

    def __init__(self, concurrency: int, timeout_s: float, out: asyncio.WriteTransport) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._out = out
        self._plain = PlainHttpPool()
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Until the end of the input: start one task per request, in the order they came."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                head = await reader.readexactly(REQUEST_HEAD.size)
                request_id, url_length, body_length = REQUEST_HEAD.unpack(head)
                url = (await reader.readexactly(url_length)).decode()
                body = await reader.readexactly(body_length)
                task = loop.create_task(self._post(request_id, url, body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        except asyncio.IncompleteReadError:
            pass  # the sandbox closed its end: stop
        finally:
            await self._close()

    async def _post(self, request_id: int, url: str, body: bytes) -> None:
        status = NO_ANSWER
        async with self._slots:
            # Whatever goes wrong (refused, timed out, not HTTP, an httpx error), the sandbox
            # must hear of it, or it would wait for this delivery forever: no answer came.
            with contextlib.suppress(Exception):
                status = await self._send(url, body)
        if not self._out.is_closing():
            self._out.write(RESULT.pack(request_id, status))

    async def _send(self, url: str, body: bytes) -> int:
        if PlainHttpPool.handles(url):
            return await self._plain.post(url, body, self._timeout_s)
        if self._client is None:
            import httpx  # only for https://: most runs never pay for its import

            limits = httpx.Limits(
                max_connections=self._concurrency, max_keepalive_connections=self._concurrency
            )
            self._client = httpx.AsyncClient(timeout=self._timeout_s, limits=limits)
        headers = {"content-type": "application/json"}
        response = await self._client.post(url, content=body, headers=headers)
        return response.status_code

    async def _close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._plain.aclose()
        if self._client is not None:
            await self._client.aclose()


async def _run(concurrency: int, timeout_s: float, in_fd: int, out_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    source = os.fdopen(in_fd, "rb", buffering=0)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), source)
    sink = os.fdopen(out_fd, "wb", buffering=0)
    out, _ = await loop.connect_write_pipe(asyncio.Protocol, sink)
    try:
        await Poster(concurrency, timeout_s, out).serve(reader)
    finally:
        out.close()


def main(argv: list[str] | None = None) -> None:
    """The process's entry point (`python -m dispatcher.sandbox.poster`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--timeout-s", type=float, required=True)
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group: the sandbox decides when this ends (by closing
    # stdin), so it finishes its own shutdown first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Results go to a copy of stdout; stdout itself is pointed at stderr, so nothing printed by
    # accident (a library's warning) can corrupt the results.
    results_fd = os.dup(1)
    os.dup2(2, 1)
    asyncio.run(_run(args.concurrency, args.timeout_s, 0, results_fd))


if __name__ == "__main__":
    main()
