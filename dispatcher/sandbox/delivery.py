"""Webhook delivery from a process of its own (`poster`), fed through a pipe.

The scheduler (`webhooks.py`) decides *what* to send and when, in the API's loop, where the state
lives; it renders each payload there and hands it over. This sender encodes it (JSON) and writes it
to the poster process's stdin; the poster POSTs it (at most `concurrency` at once, over kept-alive
connections) and writes the status back, which this sender reads in the same loop and reports
through `on_done`. Both pipe ends are non-blocking and served by the loop's own reader and writer
callbacks: no thread, and the API's loop only renders, encodes and hands over. The HTTP work runs
under another interpreter's GIL, so deliveries and the API stop slowing each other down (in one
process, the sender took most of the GIL at 100+ webhooks a second).

The poster lives and dies with the sandbox: `stop` closes its stdin and waits for it (then
terminates it); if the sandbox dies, the poster reads the end of its stdin and exits. If the poster
exits on its own, the deliveries it held are reported unanswered (the scheduler retries them as it
retries any failure) and the next delivery starts a new poster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from dispatcher.logs import get_logger
from dispatcher.sandbox.poster import NO_ANSWER, REQUEST_HEAD, RESULT

__all__ = ["DeliveryResult", "WebhookSender"]

log = get_logger(__name__)

#: (the delivery's token, HTTP status or None when no answer came)
DeliveryResult = tuple[object, int | None]

#: How long `stop` waits for the poster to exit after its stdin closed, before terminating it.
STOP_WAIT_S = 5.0


class WebhookSender:
    """POSTs JSON payloads from a poster process; reports each result in the caller's loop."""

    def __init__(
        self, concurrency: int, timeout_s: float, on_done: Callable[[DeliveryResult], None]
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._concurrency = concurrency
        self._timeout_s = timeout_s
        self._on_done = on_done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._in_fd = -1  # the poster's stdin (we write)
        self._out_fd = -1  # the poster's stdout (we read)
        self._outgoing = bytearray()
        self._writing = False  # a writer callback (or a flush) is pending
        self._incoming = bytearray()
        self._pending: dict[int, object] = {}  # request id -> token
        self._next_id = 0
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The poster's process id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        """Start the poster; call from the loop that will hear the results."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._spawn()

    def _spawn(self) -> None:
        assert self._loop is not None  # set by start()
        args = [
            sys.executable, "-m", "dispatcher.sandbox.poster",
            "--concurrency", str(self._concurrency), "--timeout-s", str(self._timeout_s),
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True
        )
        assert process.stdin is not None  # PIPE
        assert process.stdout is not None  # PIPE
        # Keep the raw descriptors (the file objects would close them when collected).
        self._in_fd = os.dup(process.stdin.fileno())
        self._out_fd = os.dup(process.stdout.fileno())
        process.stdin.close()
        process.stdout.close()
        os.set_blocking(self._in_fd, False)
        os.set_blocking(self._out_fd, False)
        self._process = process
        self._loop.add_reader(self._out_fd, self._read)
        log.debug("sandbox.poster_started", pid=process.pid)

    def submit(self, url: str, payload: dict[str, Any], token: object) -> None:
        """Queue one POST; `on_done((token, status))` runs in this loop once it is answered."""
        if self._loop is None or self._stopping:
            return  # not started, or stopped: the sandbox is shutting down
        if self._in_fd < 0:
            self._spawn()  # the last poster exited on its own
        self._next_id += 1
        request_id = self._next_id
        self._pending[request_id] = token
        body = json.dumps(payload, separators=(",", ":")).encode()
        target = url.encode()
        self._outgoing += REQUEST_HEAD.pack(request_id, len(target), len(body))
        self._outgoing += target
        self._outgoing += body
        if not self._writing:
            # One write for everything queued in this turn of the loop.
            self._writing = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._in_fd < 0:
            self._writing = False
            return
        try:
            while self._outgoing:
                written = os.write(self._in_fd, self._outgoing)
                del self._outgoing[:written]
        except BlockingIOError:
            assert self._loop is not None
            self._loop.add_writer(self._in_fd, self._write_ready)
            return
        except OSError:  # the poster is gone: its reader hears the end and cleans up
            self._outgoing.clear()
        self._writing = False

    def _write_ready(self) -> None:
        assert self._loop is not None
        self._loop.remove_writer(self._in_fd)
        self._flush()

    def _read(self) -> None:
        try:
            chunk = os.read(self._out_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost()
            return
        self._incoming += chunk
        size = RESULT.size
        whole = len(self._incoming) - len(self._incoming) % size
        results = [RESULT.unpack_from(self._incoming, at) for at in range(0, whole, size)]
        del self._incoming[:whole]
        for request_id, status in results:
            token = self._pending.pop(request_id, None)
            if token is not None:
                self._on_done((token, None if status == NO_ANSWER else status))

    def _lost(self) -> None:
        """The poster's stdout ended: it exited. What it held is reported unanswered."""
        process = self._process
        self._close_pipes()
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=1)
        self._process = None
        if self._stopping:
            return
        log.warning(
            "sandbox.poster_exited",
            returncode=None if process is None else process.returncode,
            deliveries_lost=len(self._pending),
        )
        pending, self._pending = self._pending, {}
        for token in pending.values():
            self._on_done((token, None))

    def _close_pipes(self) -> None:
        loop = self._loop
        if self._out_fd >= 0:
            if loop is not None:
                loop.remove_reader(self._out_fd)
            os.close(self._out_fd)
            self._out_fd = -1
        if self._in_fd >= 0:
            if loop is not None:
                loop.remove_writer(self._in_fd)
            os.close(self._in_fd)
            self._in_fd = -1
        self._outgoing.clear()
        self._incoming.clear()
        self._writing = False

    async def stop(self) -> None:
        """Close the poster's stdin (it cancels what is in flight and exits) and wait for it."""
        self._stopping = True
        process, self._process = self._process, None
        self._close_pipes()
        self._pending.clear()
        if process is None:
            return
        try:
            await asyncio.to_thread(process.wait, STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
