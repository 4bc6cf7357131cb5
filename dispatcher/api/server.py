"""Serving the API with uvicorn: `dispatcher serve`, and a server object tests can run in a thread.

uvicorn's access log is off (the request-log middleware writes one structured line per request)
and so is its own `X-Forwarded-For` handling: the webhook receiver decides which proxies to
believe, from settings, in one place. On SIGTERM uvicorn stops accepting connections and lets
requests in flight finish for up to `GRACEFUL_SHUTDOWN_S`.
"""

from __future__ import annotations

import threading
from typing import Any

import uvicorn

from dispatcher.api.app import create_app
from dispatcher.logs import get_logger
from dispatcher.settings import Settings

__all__ = ["GRACEFUL_SHUTDOWN_S", "build_server", "serve"]

log = get_logger(__name__)

#: Requests in flight get this long after SIGTERM (keep below terminationGracePeriodSeconds).
GRACEFUL_SHUTDOWN_S = 20


def build_server(app: Any, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` (not started)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return uvicorn.Server(config)


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the API until SIGTERM/SIGINT (and `/metrics` on `metrics_port` when that is set)."""
    app = create_app(settings)
    server = build_server(app, host, port)
    metrics: tuple[uvicorn.Server, threading.Thread] | None = None
    if app.state.metrics_app is not None and settings.metrics_port is not None:
        # A second listener in a thread: uvicorn installs signal handlers only in the main
        # thread, so SIGTERM stops the API's server and this one is stopped after it.
        metrics_server = build_server(app.state.metrics_app, host, settings.metrics_port)
        thread = threading.Thread(target=metrics_server.run, name="metrics", daemon=True)
        thread.start()
        metrics = (metrics_server, thread)
        log.info("api.metrics_started", host=host, port=settings.metrics_port)
    log.info("api.started", host=host, port=port)
    try:
        server.run()
    finally:
        if metrics is not None:
            metrics[0].should_exit = True
            metrics[1].join(timeout=GRACEFUL_SHUTDOWN_S)
    log.info("api.stopped")
