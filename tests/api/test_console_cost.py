"""What the console's pages cost Redis does not grow with a campaign's size: it never reads a
contact. Watched with MONITOR on a Redis of the test's own (so only these requests are seen)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from dispatcher.api import create_app
from dispatcher.contacts import read_iterable
from dispatcher.producer import submit_campaign
from dispatcher.redis_server import EmbeddedRedis
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, TOKEN, ApiServer

#: Per-campaign keys that hold one entry per contact (or per batch): a page must not touch them.
PER_CONTACT = (":contacts", ":data", ":bp:", ":b:", ":calls", ":poll", ":retry")


@pytest.fixture
def own_redis() -> Iterator[str]:
    # With an append-only file: the app refuses a Redis without persistence.
    with EmbeddedRedis(appendonly=True, appendfsync="everysec") as server:
        yield server.url


def watched(client: redis.Redis, requests: Any) -> list[str]:
    """The commands Redis ran while `requests()` ran (MONITOR, until a marker is seen)."""
    seen: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            while True:
                command = monitor.next_command()["command"]
                if command == "ECHO console-cost-end":
                    return
                seen.append(command)

    thread = threading.Thread(target=watch)
    thread.start()
    ready.wait(5)
    client.ping()  # MONITOR is on once the watcher's connection has answered: flush it
    requests()
    client.echo("console-cost-end")
    thread.join(10)
    # A new pooled connection's handshake is not the page's cost.
    return [c for c in seen if c.split()[0] not in ("PING", "HELLO", "CLIENT", "SELECT", "AUTH")]


def test_a_campaign_page_costs_the_same_at_10_and_at_20000_contacts(
    own_redis: str, api_server: ApiServer
) -> None:
    settings = Settings(
        redis_url=own_redis, key_prefix="cost", queue_name="cost", api_tokens=[TOKEN],
        _env_file=None,  # type: ignore[call-arg]
    )  # fmt: skip
    client = redis.Redis.from_url(own_redis)
    store = StateStore(client, "cost")
    sent: list[Any] = []
    ids = []
    for size in (10, 20_000):
        contacts = read_iterable(
            (f"1201{555 + i // 10_000}{i % 10_000:04d}" for i in range(size)), "US"
        )
        report = submit_campaign(
            store, lambda *message: sent.append(message), parse_spec(SPEC), contacts
        )
        assert report.accepted == size
        ids.append(report.campaign_id)
    for campaign_id in ids:
        store.note_dials(campaign_id, 5)
        store.add_event(campaign_id, {"kind": "paused", "reason": "r"})
    api_server.switch.app = create_app(settings, store=store)
    per_page = []
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as http:
        for campaign_id in ids:

            def page(campaign_id: str = campaign_id) -> None:
                for path in ("", "/activity?minutes=1440", "/events?limit=20"):
                    assert http.get(f"/campaigns/{campaign_id}{path}").status_code == 200
                assert http.get("/campaigns?limit=50").status_code == 200

            commands = watched(client, page)
            touched = [c for c in commands if any(part in c for part in PER_CONTACT)]
            assert touched == [], touched[:5]
            per_page.append(len(commands))
    api_server.switch.app = None
    assert per_page[0] == per_page[1], per_page
    assert per_page[1] < 40, per_page
