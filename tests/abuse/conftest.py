"""The corpus's HTTP fixtures: one API server for the session, an app per test on its own prefix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.abuse.corpus import with_changes
from tests.api.conftest import ApiServer

#: A plain token (every scope) and one token per scope.
ADMIN_TOKEN = "abuse-admin-token-0123456789"
SCOPE_TOKENS = {
    "read": "abuse-read-token-0123456789",
    "operate": "abuse-operate-token-0123456789",
}
WEBHOOK_SECRET = "abuse-webhook-secret-0123456789"
#: A small upload limit, so an oversize submission is cheap to send.
UPLOAD_LIMIT_BYTES = 64 * 1024

AppFactory = Callable[..., httpx.Client]


@pytest.fixture(scope="session")
def abuse_server() -> Iterator[ApiServer]:
    server = ApiServer().start()
    yield server
    server.stop()


def api_settings(settings: Settings, **changes: Any) -> Settings:
    """The test's settings for an API app under attack (plus `changes`)."""
    values: dict[str, Any] = {
        "api_tokens": [
            ADMIN_TOKEN,
            *({"token": t, "scopes": [s]} for s, t in SCOPE_TOKENS.items()),
        ],
        "webhook_secret": WEBHOOK_SECRET,
        "public_base_url": "http://testserver",
        "max_upload_bytes": UPLOAD_LIMIT_BYTES,
        # The corpus posts from this machine; cases about sources set their own list.
        "webhook_allowed_sources": ["127.0.0.1"],
        **changes,
    }
    return with_changes(settings, **values)


@pytest.fixture
def serve(
    settings: Settings, redis_client: redis.Redis, abuse_server: ApiServer
) -> Iterator[AppFactory]:
    """Install an app built from the test's settings plus changes; a client of it (admin token)."""
    clients: list[httpx.Client] = []

    def install(**changes: Any) -> httpx.Client:
        from dispatcher.api import create_app

        app_settings = api_settings(settings, **changes)
        store = StateStore(redis_client, settings.key_prefix)
        abuse_server.switch.app = create_app(app_settings, store=store)
        client = httpx.Client(
            base_url=abuse_server.url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        )
        clients.append(client)
        return client

    yield install
    for client in clients:
        client.close()
    abuse_server.switch.app = None


@pytest.fixture
def api(serve: AppFactory) -> httpx.Client:
    """A client (admin token) of an app on this test's key prefix."""
    return serve()
