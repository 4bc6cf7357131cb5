"""Serving the sandbox with uvicorn, in the foreground (the command) or in a thread (the demo)."""

from __future__ import annotations

import logging

import uvicorn

from dispatcher.sandbox.app import create_app
from dispatcher.sandbox.arrivals import StampingHttpProtocol
from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.errors import ConnectionDropped

__all__ = ["build_server"]


class _HideDroppedConnections(logging.Filter):
    """uvicorn logs an app exception as an error; a deliberate `drop` fault is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


def build_server(config: SandboxConfig, *, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for a new sandbox app (not started)."""
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
    server_config = uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        log_config=None,  # logging is configured by the entry point (dispatcher.logs)
        access_log=False,  # one line per request would cost more than the request itself
        lifespan="on",
        http=StampingHttpProtocol,  # arrivals stamped by the kernel (see arrivals.py)
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )
    return uvicorn.Server(server_config)
