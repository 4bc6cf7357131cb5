"""The webhook sender's plain HTTP/1.1 POST, against a real server on a local socket."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher.sandbox.plainhttp import PlainHttpPool, ProtocolError

OK_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
CLOSED = b"HTTP/1.1 503 Unavailable\r\nConnection: close\r\n\r\nbusy"


async def serve(
    answers: list[bytes], close_after: int | None = None
) -> tuple[asyncio.Server, int, list[bytes]]:
    """A server answering each request on a connection with the next canned answer."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            seen.append(head + await reader.readexactly(length))
            writer.write(answers.pop(0))
            await writer.drain()
            served += 1
            if close_after is not None and served >= close_after:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


async def stop(server: asyncio.Server, pool: PlainHttpPool) -> None:
    await pool.aclose()
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.01)  # let closed transports finish


def test_answers_by_length_and_chunked_reuse_one_connection() -> None:
    async def main() -> None:
        server, port, seen = await serve([OK_LENGTH, OK_CHUNKED, CLOSED])
        pool = PlainHttpPool()
        url = f"http://127.0.0.1:{port}/webhooks/x?y=1"
        assert await pool.post(url, b'{"a":1}', 5) == 200
        assert await pool.post(url, b'{"a":2}', 5) == 200
        assert await pool.post(url, b'{"a":3}', 5) == 503
        assert seen[0].startswith(b"POST /webhooks/x?y=1 HTTP/1.1\r\n")
        assert seen[2].endswith(b'{"a":3}')
        assert pool._idle == {("127.0.0.1", port): []}  # closed after `Connection: close`
        await stop(server, pool)

    asyncio.run(main())


def test_a_connection_the_server_closed_meanwhile_is_replaced() -> None:
    async def main() -> None:
        server, port, seen = await serve([OK_LENGTH, OK_LENGTH], close_after=1)
        pool = PlainHttpPool()
        url = f"http://127.0.0.1:{port}/"
        assert await pool.post(url, b"{}", 5) == 200
        await asyncio.sleep(0.05)  # the server has closed the kept-alive connection
        assert await pool.post(url, b"{}", 5) == 200
        assert len(seen) == 2
        await stop(server, pool)

    asyncio.run(main())


def test_what_is_not_http_is_an_error() -> None:
    async def main() -> None:
        server, port, _ = await serve([b"SMTP ready\r\n\r\n"])
        pool = PlainHttpPool()
        with pytest.raises(ProtocolError):
            await pool.post(f"http://127.0.0.1:{port}/", b"{}", 5)
        await stop(server, pool)

    asyncio.run(main())


def test_only_plain_http_urls_are_handled() -> None:
    assert PlainHttpPool.handles("http://127.0.0.1:8000/webhooks/t")
    assert not PlainHttpPool.handles("https://example.com/webhooks/t")
    assert not PlainHttpPool.handles("http:///nohost")
