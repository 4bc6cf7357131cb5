"""A minimal HTTP/1.1 POST over asyncio streams, with kept-alive connections: the webhook sender's.

httpx's pooled client costs the sandbox ~2 ms of CPU a request in pool bookkeeping; at 100+
webhooks a second that took most of the process (and its GIL) from the API it emulates. This does
only what a webhook needs: one `POST` with a JSON body to an `http://` URL, the status code back,
the answer's body read (by `Content-Length`, chunked, or to the end) and dropped, the connection
kept for the next one unless the server closes it. Anything else (`https://`) goes through httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse

__all__ = ["PlainHttpPool", "ProtocolError"]

#: Longest status line or header line read from an answer.
_MAX_LINE = 8192
_MAX_HEADERS = 100


class ProtocolError(Exception):
    """The answer was not HTTP/1.x as expected."""


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PlainHttpPool:
    """Idle kept-alive connections per (host, port); POSTs that return the status code."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    @staticmethod
    def handles(url: str) -> bool:
        """Whether `post` can send to this URL (plain http with a host)."""
        parts = urllib.parse.urlsplit(url)
        return parts.scheme == "http" and bool(parts.hostname)

    async def post(self, url: str, body: bytes, timeout_s: float) -> int:
        """POST `body` (JSON) to `url`; the answer's status code. Raises OSError, TimeoutError,
        ProtocolError or asyncio.IncompleteReadError when no answer came."""
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = (
            f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: effebot-sandbox\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        request = head.encode("latin-1") + body
        key = (host, port)
        idle = self._idle.get(key)
        conn = idle.pop() if idle else None
        if conn is not None:
            try:
                return await self._exchange(key, conn, request, timeout_s)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                # A kept-alive connection the server closed meanwhile: nothing was answered, so
                # the request goes again on a new one (a receiver must take duplicates anyway).
                if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                    raise
        conn = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        return await self._exchange(key, conn, request, timeout_s)

    async def _exchange(
        self, key: tuple[str, int], conn: _Conn, request: bytes, timeout_s: float
    ) -> int:
        reader, writer = conn
        keep = False
        try:
            status, keep = await asyncio.wait_for(_roundtrip(reader, writer, request), timeout_s)
        finally:
            if keep:
                self._idle.setdefault(key, []).append(conn)
            else:
                writer.close()
        return status

    async def aclose(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        self._idle.clear()


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bool]:
    writer.write(request)
    await writer.drain()
    status_line = await _line(reader)
    fields = status_line.split(b" ", 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/1.") or not fields[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    status = int(fields[1])
    keep = fields[0] == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for _ in range(_MAX_HEADERS):
        line = await _line(reader)
        if not line:
            break
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value:
            chunked = True
        elif name == b"connection":
            keep = (keep and value != b"close") or value == b"keep-alive"
    else:
        raise ProtocolError("too many header lines")
    if chunked:
        while True:
            size = int((await _line(reader)).split(b";")[0] or b"0", 16)
            if size == 0:
                while await _line(reader):  # trailers, up to the blank line
                    pass
                break
            await reader.readexactly(size + 2)
    elif length is not None:
        await reader.readexactly(length)
    elif status not in (204, 304) and not 100 <= status < 200:
        await reader.read()  # to the end: the server closes to mark it
        keep = False
    return status, keep


async def _line(reader: asyncio.StreamReader) -> bytes:
    """One line without its CRLF; IncompleteReadError at the end of the stream."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("a line of the answer is too long") from exc
    if len(line) > _MAX_LINE:
        raise ProtocolError("a line of the answer is too long")
    return line.rstrip(b"\r\n")
