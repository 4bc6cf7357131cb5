"""The one `httpx.Client` a process shares for every provider request.

Workers open it in a dramatiq middleware after boot and close it at shutdown; the CLI opens it
around a command. `EffebotClient` only borrows it, so connections are pooled across every request
of the process instead of a TCP (and TLS) handshake per call.
"""

from __future__ import annotations

import httpx

from dispatcher.settings import Settings

__all__ = ["KEEPALIVE_EXPIRY_S", "make_http_client"]

KEEPALIVE_EXPIRY_S = 4.0


def make_http_client(settings: Settings) -> httpx.Client:
    """An httpx client with explicit timeouts and pool limits from the settings."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_s,
        read=settings.read_timeout_s,
        write=settings.write_timeout_s,
        pool=settings.pool_timeout_s,
    )
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
        # Drop idle connections before a server with a 5 s keep-alive (uvicorn's default) closes
        # them: reusing one the server is closing looks like a dropped connection, an ambiguous
        # failure that would mark a create `unknown` for no reason.
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    return httpx.Client(
        timeout=timeout,
        limits=limits,
        headers={"accept": "application/json"},
        # A redirect on a POST would silently turn into a GET or replay the body: never follow.
        follow_redirects=False,
    )
