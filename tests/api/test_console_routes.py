"""The routes the console reads beside the campaigns': who the token is, a campaign's activity per
minute and its events, and the do-not-call search; and the console's own page and scripts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dispatcher.console import ASSETS, SECURITY_HEADERS
from dispatcher.store import StateStore, now_ms
from tests.api.conftest import SCOPED_TOKENS, SPEC, phones


def submit(client: httpx.Client, n: int = 4, **spec: Any) -> str:
    answer = client.post("/campaigns", json={"spec": {**SPEC, **spec}, "contacts": phones(n)})
    assert answer.status_code == 201, answer.text
    campaign_id: str = answer.json()["campaign_id"]
    return campaign_id


@pytest.mark.parametrize("scope", ["read", "operate", "admin"])
def test_me_names_the_token_and_every_scope_it_allows(anonymous: httpx.Client, scope: str) -> None:
    answer = anonymous.get("/me", headers={"Authorization": f"Bearer {SCOPED_TOKENS[scope]}"})
    assert answer.status_code == 200
    allowed = {
        "read": ["read"],
        "operate": ["operate", "read"],
        "admin": ["admin", "operate", "read"],
    }
    assert answer.json() == {"name": f"{scope}-caller", "scopes": allowed[scope]}


def test_me_for_a_plain_token_has_no_name_and_every_scope(client: httpx.Client) -> None:
    assert client.get("/me").json() == {"name": None, "scopes": ["admin", "operate", "read"]}


def test_activity_shows_dials_and_outcomes_per_minute_and_the_pace(
    client: httpx.Client, store: StateStore
) -> None:
    campaign_id = submit(client, dials_per_minute=120, batch_size=3)
    store.note_dials(campaign_id, 3)
    store.note_outcomes(campaign_id, [{"completed": 2, "busy": 1}])
    answer = client.get(f"/campaigns/{campaign_id}/activity", params={"minutes": 10})
    assert answer.status_code == 200
    body = answer.json()
    [minute] = body["minutes"]
    assert (minute["dials"], minute["outcomes"]) == (3, {"completed": 2, "busy": 1})
    assert body["from_ms"] <= minute["minute_ms"] <= body["until_ms"] <= now_ms()
    assert body["until_ms"] - body["from_ms"] < 10 * 60_000
    assert body["pace"] == {
        "dials_per_minute_limit": 120.0,
        "provider_rate_per_s": 10.0,
        "batch_size": 3,
    }
    assert body["kinds"][0] == "dials"
    assert "completed" in body["kinds"]
    assert body["start_at"] is None


def test_an_ended_campaign_s_activity_ends_when_it_ended(
    client: httpx.Client, store: StateStore
) -> None:
    campaign_id = submit(client)
    store.note_dials(campaign_id, 1)
    assert client.post(f"/campaigns/{campaign_id}/cancel").status_code == 200
    cancelled_at = int(store.meta(campaign_id)["status_at"])
    body = client.get(f"/campaigns/{campaign_id}/activity", params={"minutes": 1}).json()
    assert body["until_ms"] == cancelled_at
    assert [m["dials"] for m in body["minutes"]] in ([1], [])  # [] if the minute turned


def test_events_are_the_campaign_s_recent_ones_newest_first(client: httpx.Client) -> None:
    campaign_id = submit(client)
    path = f"/campaigns/{campaign_id}"
    assert client.post(f"{path}/pause", json={"reason": "<script>x</script>"}).status_code == 200
    assert client.post(f"{path}/resume").status_code == 200
    events = client.get(f"{path}/events").json()
    assert [e["kind"] for e in events] == ["resumed", "paused"]
    assert events[1]["reason"] == "<script>x</script>"  # JSON as stored: the page renders text
    assert len(client.get(f"{path}/events", params={"limit": 1}).json()) == 1


@pytest.mark.parametrize("route", ["activity", "events"])
def test_activity_and_events_of_an_unknown_campaign_are_404(
    client: httpx.Client, route: str
) -> None:
    answer = client.get(f"/campaigns/0123456789abcdef/{route}")
    assert (answer.status_code, answer.json()["error"]) == (404, "campaign_not_found")


def test_the_dnc_search_finds_a_whole_number_at_once(client: httpx.Client) -> None:
    assert client.post("/dnc", json={"phones": ["+12025550143"]}).json() == {"added": 1}
    for q in ("+1 (202) 555-0143", "2025550143"):
        answer = client.get("/dnc/search", params={"q": q})
        assert (answer.json(), answer.headers.get("x-next-cursor")) == (["12025550143"], None)
    assert client.get("/dnc/search", params={"q": "+1 202 555 0199"}).json() == []


def test_the_dnc_search_goes_through_a_long_list_a_bounded_part_at_a_time(
    client: httpx.Client,
) -> None:
    numbers = [f"1{303 + i // 10_000}555{i % 10_000:04d}" for i in range(30_000)]
    for start in range(0, len(numbers), 10_000):
        client.post("/dnc", json={"phones": numbers[start : start + 10_000]})
    wanted = {n for n in numbers if "7777" in n}
    found: list[str] = []
    requests = 0
    cursor = None
    while True:
        answer = client.get(
            "/dnc/search", params={"q": "7777", **({"cursor": cursor} if cursor else {})}
        )
        requests += 1
        found += answer.json()
        cursor = answer.headers.get("x-next-cursor")
        if cursor is None:
            break
    assert set(found) == wanted
    assert requests >= 2  # 30,000 numbers take more than one request's share of the list


def test_the_console_is_the_api_s_front_page(anonymous: httpx.Client) -> None:
    answer = anonymous.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (307, "/ui/")
    page = anonymous.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: the policy would refuse it


def test_every_script_the_page_names_is_served_and_nothing_else_is(
    anonymous: httpx.Client,
) -> None:
    for name, (_, media_type) in ASSETS.items():
        answer = anonymous.get(f"/ui/assets/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == media_type
        assert answer.headers["x-content-type-options"] == "nosniff"
        again = anonymous.get(
            f"/ui/assets/{name}", headers={"If-None-Match": answer.headers["etag"]}
        )
        assert (again.status_code, again.content) == (304, b"")
    for probe in (
        "index.html",
        "pages.py",
        "..%2Fpages.py",
        "vendor%2Fchart.js%2FLICENSE.md",
        "x.js",
    ):
        answer = anonymous.get(f"/ui/assets/{probe}")
        assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), probe
