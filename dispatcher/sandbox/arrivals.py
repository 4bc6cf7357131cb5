"""Arrival stamps read from the kernel, so a busy event loop does not bunch them.

The sandbox answers every request on one event loop. When that loop is late (the machine is
loaded, or another request is being handled), requests that reached the socket evenly spaced are
handled back to back, and a stamp taken in the app would put them all at the same instant: the
peak request rate it reports would be the loop's, not the clients'. So the HTTP protocol stamps
each request when it starts parsing it, from the socket's `TCP_INFO`: `tcpi_last_data_recv` says
how many milliseconds ago the kernel received the connection's latest data (the request being
parsed; an HTTP/1.1 client waits for an answer before it sends the next request on a connection).
The stamp is `time.monotonic()` minus that age, exact to the kernel's tick (1-4 ms). Where
`TCP_INFO` cannot be read (not Linux, not TCP) the stamp is `time.monotonic()` when parsing starts.

The app reads it from the ASGI scope: `scope["extensions"]["dispatcher.arrival"]["monotonic"]`.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ARRIVAL_EXTENSION", "StampingHttpProtocol", "arrival_s", "kernel_stamp_s"]

ARRIVAL_EXTENSION = "dispatcher.arrival"
# struct tcp_info (linux/tcp.h): 8 one-byte fields, then u32 fields of which tcpi_last_data_recv
# is the 12th (rto, ato, snd_mss, rcv_mss, unacked, sacked, lost, retrans, fackets,
# last_data_sent, last_ack_sent, last_data_recv).
_LAST_DATA_RECV = struct.Struct("=I")
_LAST_DATA_RECV_OFFSET = 8 + 11 * 4
_TCP_INFO_BYTES = _LAST_DATA_RECV_OFFSET + _LAST_DATA_RECV.size
_TCP_INFO = getattr(socket, "TCP_INFO", None)


def kernel_stamp_s(sock: Any) -> float:
    """When the kernel received the socket's latest data, on the `time.monotonic()` clock."""
    if sock is not None and _TCP_INFO is not None:
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_BYTES)
        except (OSError, AttributeError, TypeError):
            pass
        else:
            now = time.monotonic()
            if len(info) >= _TCP_INFO_BYTES:
                (age_ms,) = _LAST_DATA_RECV.unpack_from(info, _LAST_DATA_RECV_OFFSET)
                return now - float(age_ms) / 1000.0
            return now
    return time.monotonic()


class StampingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, stamping each request with its kernel arrival time."""

    _socket: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._socket = transport.get_extra_info("socket")
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        # Called from data_received while the parser reads the request's first bytes.
        stamp = kernel_stamp_s(self._socket)
        super().on_message_begin()
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        extensions = dict(scope.get("extensions") or {})
        extensions[ARRIVAL_EXTENSION] = {"monotonic": stamp}
        scope["extensions"] = extensions


def arrival_s(scope: Any) -> float:
    """A request's arrival on the `time.monotonic()` clock: the kernel's stamp, else now."""
    extension = (scope.get("extensions") or {}).get(ARRIVAL_EXTENSION)
    if isinstance(extension, dict):
        stamp = extension.get("monotonic")
        if isinstance(stamp, float):
            return stamp
    return time.monotonic()
