"""The console under test: the API's app (with the console) served by uvicorn over real HTTP, on
the test's own key prefix, and helpers to sign a browser tab in with a token of a given scope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from dispatcher.api import create_app
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.api.conftest import SCOPED_TOKENS, TOKEN, ApiServer, make_settings
from tests.fixtures.browser import Tab

#: The token for each scope the tests sign in with (`admin` is a plain token: every scope).
TOKENS = {**SCOPED_TOKENS, "admin": TOKEN}


@dataclass
class Console:
    """One test's console: where it is served, an admin API client, and the store behind it."""

    url: str
    api: httpx.Client
    store: StateStore
    settings: Settings

    def sign_in(self, tab: Tab, scope: str = "operate", hash_: str = "") -> None:
        """Open the console and sign in with the token of `scope`; wait for the campaigns."""
        page = tab.page
        page.goto(f"{self.url}/ui/{hash_}")
        page.fill("#token", TOKENS[scope])
        page.click("#sign-in button[type=submit]")
        page.wait_for_selector(f"#who-scopes[data-scopes~='{scope}']")


@pytest.fixture(scope="session")
def console_server() -> Iterator[ApiServer]:
    server = ApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def console(
    settings: Settings, redis_client: redis.Redis, console_server: ApiServer
) -> Iterator[Console]:
    """The app for this test's prefix, with tokens of every scope."""
    app_settings = make_settings(settings)
    store = StateStore(redis_client, settings.key_prefix)
    console_server.switch.app = create_app(app_settings, store=store)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=console_server.url, headers=headers, timeout=30) as api:
        yield Console(console_server.url, api, store, app_settings)
    console_server.switch.app = None


def text_of(tab: Tab, selector: str) -> str:
    """The text of an element, shown or not (inside a closed <details>, say)."""
    value: Any = tab.page.locator(selector).text_content()
    return str(value or "").strip()


def wait_text(tab: Tab, selector: str, expected: str) -> None:
    """Wait until the element's text (trimmed) is `expected`."""
    tab.page.wait_for_function(
        "([selector, text]) => document.querySelector(selector)?.textContent.trim() === text",
        arg=[selector, expected],
    )
