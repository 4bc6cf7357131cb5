"""The console in `dispatcher demo --console`: the API (and so the console) served from a thread
of the demo's process, with a new token made for this run, until the operator presses Ctrl-C."""

from __future__ import annotations

import contextlib
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from dispatcher.access.tokens import ApiToken, Scope
from dispatcher.errors import ConfigurationError
from dispatcher.logs import get_logger
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings

__all__ = ["ConsoleAccess", "serve_console", "wait_for_interrupt"]

log = get_logger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The name the demo's token shows in logs (`caller`).
DEMO_TOKEN_NAME = "demo-console"  # noqa: S105 - a label, not a secret


@dataclass(frozen=True)
class ConsoleAccess:
    """Where the console is and the token to sign in with."""

    url: str
    token: str


@contextlib.contextmanager
def serve_console(settings: Settings, host: str, port: int) -> Iterator[ConsoleAccess]:
    """Serve the API on `host:port` (0: a free port) with one more token, made now (admin)."""
    from dispatcher.api import create_app
    from dispatcher.api.server import build_server

    token = secrets.token_urlsafe(24)
    extra = ApiToken.model_validate(
        {"token": token, "scopes": [Scope.ADMIN.value], "name": DEMO_TOKEN_NAME}
    )
    app_settings = settings.model_copy(update={"api_tokens": [*settings.api_tokens, extra]})
    chosen = port or free_port()
    server = build_server(create_app(app_settings), host, chosen)
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigurationError(
                f"the console cannot listen on {host}:{chosen} (in use?): try --console-port 0"
            )
        time.sleep(0.02)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a display name only
    log.info("console.started", host=host, port=chosen)
    try:
        yield ConsoleAccess(url=f"http://{shown}:{chosen}/ui/", token=token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        log.info("console.stopped")


def wait_for_interrupt() -> None:
    """Wait for Ctrl-C (SIGINT) or SIGTERM, then return normally (so everything is stopped)."""
    # Handlers of our own: a process started in the background inherits SIGINT ignored, and
    # SIGTERM would otherwise end it without stopping what it started (Redis, the sandbox).
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
