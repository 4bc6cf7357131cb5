"""The HTTP API over real HTTP: one uvicorn server thread for the session, a new app per test.

The server serves a `SwitchApp` that forwards to whichever app the current test built (with its
own key prefix, tokens and settings), so no test pays for starting a server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from starlette.types import Receive, Scope, Send

from dispatcher.api import create_app
from dispatcher.api.server import build_server
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore

TOKEN = "token-current-0123456789"
OLD_TOKEN = "token-previous-9876543210"
#: Tokens with one scope each (the two above are plain strings: every scope).
SCOPED_TOKENS = {
    "read": "token-read-only-5555555555",
    "operate": "token-operate-6666666666",
    "admin": "token-admin-7777777777",
}
WEBHOOK_SECRET = "webhook-secret-abcdef"

SPEC: dict[str, Any] = {
    "name": "api test",
    "call": {"dutyPhone": 1, "record": {"text": "Hello from the API tests"}},
    "batch_size": 2,
}


def phones(n: int) -> list[str]:
    """Valid US numbers in provider format."""
    return [f"1201555{i:04d}" for i in range(n)]


def make_settings(base: Settings, **changes: Any) -> Settings:
    """The test's settings with API tokens and a webhook secret (plus `changes`)."""
    values: dict[str, Any] = {
        "redis_url": base.redis_url,
        "key_prefix": base.key_prefix,
        "queue_name": base.queue_name,
        "log_format": "json",
        "api_tokens": [
            TOKEN,
            OLD_TOKEN,
            *(
                {"token": token, "scopes": [scope], "name": f"{scope}-caller"}
                for scope, token in SCOPED_TOKENS.items()
            ),
        ],
        "webhook_secret": WEBHOOK_SECRET,
        "public_base_url": "http://testserver",
        # The tests post webhooks from this machine, not from the provider's address.
        "webhook_allowed_sources": ["127.0.0.1"],
        # Every scrape renders afresh, so a test sees a change at once (the cache has its own).
        "metrics_cache_s": 0,
        **changes,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return make_settings(settings)


@pytest.fixture
def store(api_settings: Settings, redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, api_settings.key_prefix)


class SwitchApp:
    """An ASGI app that forwards to the app the current test installed."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app installed for this test"
        await self.app(scope, receive, send)


class ApiServer:
    """uvicorn in a background thread of the test process."""

    def __init__(self) -> None:
        self.switch = SwitchApp()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = build_server(self.switch, "127.0.0.1", self.port)
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                return self
            self._thread.join(0.02)
        raise RuntimeError("the API server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="session")
def api_server() -> Iterator[ApiServer]:
    server = ApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(api_settings: Settings, store: StateStore, api_server: ApiServer) -> Iterator[Any]:
    """This test's app, served by the session's server."""
    built = create_app(api_settings, store=store)
    api_server.switch.app = built
    yield built
    api_server.switch.app = None


@pytest.fixture
def client(app: Any, api_server: ApiServer) -> Iterator[httpx.Client]:
    """An authenticated client of this test's app."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=api_server.url, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture
def anonymous(app: Any, api_server: ApiServer) -> Iterator[httpx.Client]:
    """A client without a token."""
    with httpx.Client(base_url=api_server.url, timeout=30) as http:
        yield http


def queued(redis_client: redis.Redis, settings: Settings) -> int:
    """Messages waiting in the test's dramatiq queue (immediate and delayed)."""
    base = f"{settings.key_prefix}-dramatiq:{settings.queue_name}"
    return int(redis_client.llen(base)) + int(redis_client.llen(f"{base}.DQ"))
