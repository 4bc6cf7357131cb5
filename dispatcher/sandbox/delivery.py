"""Webhook delivery off the API's event loop: a thread with its own loop and connection pool.

The scheduler (`webhooks.py`) decides *what* to send and when, in the API's loop, where the state
lives; it renders each payload there and hands it over. This sender POSTs it from a daemon thread
running its own event loop, at most `concurrency` at once, over kept-alive connections
(`plainhttp`: plain HTTP/1.1 on asyncio streams; `https://` through an `httpx.AsyncClient`), and
hands each result back to the API's loop (`on_done`). So
however many webhooks fall due, and however slowly the receiver answers, the API's loop only
renders and hands over; the waiting, the connections and the retries' timing happen elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from dispatcher.logs import get_logger
from dispatcher.sandbox.plainhttp import PlainHttpPool, ProtocolError

__all__ = ["DeliveryResult", "WebhookSender"]

log = get_logger(__name__)

#: (the delivery's token, HTTP status or None when no answer came)
DeliveryResult = tuple[object, int | None]


class WebhookSender:
    """POSTs JSON payloads from its own thread; reports each result to the caller's loop."""

    def __init__(self, concurrency: int, timeout_s: float) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._client: httpx.AsyncClient | None = None
        self._plain = PlainHttpPool()
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Start the thread and its loop (returns once they are ready)."""
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        limits = httpx.Limits(
            max_connections=self._concurrency, max_keepalive_connections=self._concurrency
        )
        self._client = httpx.AsyncClient(timeout=self._timeout_s, limits=limits)
        self._slots = asyncio.Semaphore(self._concurrency)
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def submit(
        self,
        url: str,
        payload: dict[str, Any],
        token: object,
        on_done: Callable[[DeliveryResult], None],
        done_loop: asyncio.AbstractEventLoop,
    ) -> None:
        """Queue one POST (thread-safe); `on_done((token, status))` runs in `done_loop` after."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # stopped: the sandbox is shutting down
        loop.call_soon_threadsafe(self._spawn, url, payload, token, on_done, done_loop)

    def _spawn(
        self,
        url: str,
        payload: dict[str, Any],
        token: object,
        on_done: Callable[[DeliveryResult], None],
        done_loop: asyncio.AbstractEventLoop,
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._post(url, payload, token, on_done, done_loop)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(
        self,
        url: str,
        payload: dict[str, Any],
        token: object,
        on_done: Callable[[DeliveryResult], None],
        done_loop: asyncio.AbstractEventLoop,
    ) -> None:
        # Both are set before the loop runs.
        assert self._client is not None
        assert self._slots is not None
        status: int | None = None
        async with self._slots:
            try:
                if PlainHttpPool.handles(url):
                    body = json.dumps(payload, separators=(",", ":")).encode()
                    status = await self._plain.post(url, body, self._timeout_s)
                else:
                    response = await self._client.post(url, json=payload)
                    status = response.status_code
            except (
                httpx.HTTPError,
                OSError,
                TimeoutError,
                ProtocolError,
                asyncio.IncompleteReadError,
                ValueError,
            ) as exc:
                log.debug("sandbox.webhook_error", error=type(exc).__name__)
        with contextlib.suppress(RuntimeError):  # the API's loop closed while this was sent
            done_loop.call_soon_threadsafe(on_done, (token, status))

    def stop(self) -> None:
        """Cancel deliveries in flight, close the pool, stop the loop and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    async def _shutdown(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._plain.aclose()
        if self._client is not None:
            await self._client.aclose()
