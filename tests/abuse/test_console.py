"""The console under attack: its routes and the JSON routes its forms call, over real HTTP, and
what it renders, in a real browser.

Each case asserts the answer and that nothing was written: no key under the test's prefix for
requests made without a campaign, the same keys and values as before for requests against one.
The console's token is a bearer header the page adds itself, never a cookie, so a cross-site form
or a cross-origin script cannot act with it; the CORS preflight such a script needs is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.abuse.conftest import ADMIN_TOKEN, SCOPE_TOKENS, AppFactory
from tests.abuse.corpus import SPEC, keys_under, snapshot
from tests.abuse.test_http_api import CID, ApiCase
from tests.fixtures.browser import Tab

EVIL = "https://evil.example"
FORM = (("content-type", "application/x-www-form-urlencoded"), ("origin", EVIL))

#: Requests to the console's own routes and those its pages read: nothing may be written.
CONSOLE_CASES: dict[str, ApiCase] = {
    "me-without-a-token": ApiCase("GET", "/me", 401, "unauthorized", token=""),
    "me-with-a-wrong-token": ApiCase(
        "GET", "/me", 401, "unauthorized", headers=(("authorization", "Bearer nope"),)
    ),
    "me-with-the-token-as-a-cookie": ApiCase(
        "GET", "/me", 401, "unauthorized", token="",
        headers=(("cookie", f"token={ADMIN_TOKEN}; dispatcher.console.token={ADMIN_TOKEN}"),),
    ),
    "activity-without-a-token": ApiCase(
        "GET", f"/campaigns/{CID}/activity", 401, "unauthorized", token=""
    ),
    "activity-zero-minutes": ApiCase(
        "GET", f"/campaigns/{CID}/activity?minutes=0", 422, "invalid_request"
    ),
    "activity-more-minutes-than-kept": ApiCase(
        "GET", f"/campaigns/{CID}/activity?minutes=1441", 422, "invalid_request"
    ),
    "activity-of-a-key-name": ApiCase(
        "GET", "/campaigns/dispatcher:dnc/activity", 422, "invalid_request"
    ),
    "events-limit-huge": ApiCase(
        "GET", f"/campaigns/{CID}/events?limit=100000", 422, "invalid_request"
    ),
    "events-of-an-unknown-campaign": ApiCase(
        "GET", f"/campaigns/{CID}/events", 404, "campaign_not_found", token="read"
    ),
    "dnc-search-a-glob": ApiCase("GET", "/dnc/search?q=*", 422, "invalid_request"),
    "dnc-search-a-glob-class": ApiCase("GET", "/dnc/search?q=%5B0-9%5D", 422, "invalid_request"),
    "dnc-search-an-escape": ApiCase("GET", "/dnc/search?q=1%5C", 422, "invalid_request"),
    "dnc-search-too-many-digits": ApiCase(
        "GET", f"/dnc/search?q={'1' * 16}", 422, "invalid_request"
    ),
    "dnc-search-a-cursor-that-is-not-ours": ApiCase(
        "GET", "/dnc/search?q=555&cursor=-1", 422, "invalid_request"
    ),
    "dnc-search-without-a-token": ApiCase(
        "GET", "/dnc/search?q=555", 401, "unauthorized", token=""
    ),
    "dnc-import-with-a-read-token": ApiCase(
        "POST", "/dnc", 403, "insufficient_scope", json={"phones": ["+12025550143"]}, token="read"
    ),
    "dry-run-with-a-read-token": ApiCase(
        "POST", "/campaigns?dry_run=true", 403, "insufficient_scope",
        json={"spec": SPEC, "contacts": ["+12025550143"]}, token="read",
    ),
    "cross-site-form-pause": ApiCase(
        "POST", f"/campaigns/{CID}/pause", 401, "unauthorized", content=b"reason=x", headers=FORM,
        token="",
    ),
    "cross-site-form-dnc-removal-with-a-cookie": ApiCase(
        "DELETE", "/dnc", 401, "unauthorized", content=b"phones=12025550143", token="",
        headers=(*FORM, ("cookie", f"token={ADMIN_TOKEN}")),
    ),
    "cross-site-form-submit": ApiCase(
        "POST", "/campaigns", 401, "unauthorized", content=b"spec=x", headers=FORM, token=""
    ),
    "asset-path-traversal": ApiCase("GET", "/ui/assets/..%2F..%2Fsettings.py", 404, "not_found"),
    "asset-not-in-the-table": ApiCase("GET", "/ui/assets/pages.py", 404, "not_found"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CONSOLE_CASES))
def test_a_hostile_console_request_gets_its_answer_and_lands_nothing(
    name: str, api: httpx.Client, settings: Settings, redis_client: redis.Redis
) -> None:
    case = CONSOLE_CASES[name]
    headers = dict(case.headers)
    if case.token in SCOPE_TOKENS:
        headers.setdefault("authorization", f"Bearer {SCOPE_TOKENS[case.token]}")
    elif not case.token:
        api.headers.pop("authorization")
    response = api.request(
        case.method, case.path, json=case.json, content=case.content, headers=headers or None
    )
    assert response.status_code == case.status, response.text
    body = response.json()
    assert (body["error"], bool(body.get("message"))) == (case.code, True), body
    assert "access-control-allow-origin" not in response.headers
    assert keys_under(redis_client, settings.key_prefix) == []


@pytest.fixture
def campaign(api: httpx.Client) -> str:
    """A running campaign (no workers: it stays running)."""
    answer = api.post(
        "/campaigns", json={"spec": SPEC, "contacts": ["+12025550143", "+12025550144"]}
    )
    assert answer.status_code == 201
    campaign_id: str = answer.json()["campaign_id"]
    return campaign_id


@pytest.mark.parametrize(
    ("token", "action", "body", "status", "code"),
    [
        ("read", "pause", {"reason": "a read token tries"}, 403, "insufficient_scope"),
        ("read", "cancel", None, 403, "insufficient_scope"),
        (
            "read",
            "reschedule",
            {"start_at": "2030-01-01T09:00:00+00:00"},
            403,
            "insufficient_scope",
        ),
        ("", "cancel", None, 401, "unauthorized"),
        ("operate", "pause", {"reason": "x" * 501}, 422, "invalid_request"),
        ("operate", "pause", {"reason": "ok", "status": "finished"}, 422, "invalid_request"),
        ("operate", "resume", None, 409, "transition_refused"),
        (
            "operate",
            "reschedule",
            {"start_at": "2030-01-01T09:00:00+00:00"},
            409,
            "transition_refused",
        ),
    ],
)
def test_a_control_the_token_or_the_campaign_does_not_allow_changes_nothing(
    api: httpx.Client,
    campaign: str,
    settings: Settings,
    redis_client: redis.Redis,
    token: str,
    action: str,
    body: Any,
    status: int,
    code: str,
) -> None:
    before = snapshot(redis_client, settings.key_prefix)
    headers = {"authorization": f"Bearer {SCOPE_TOKENS[token]}"} if token else {}
    if not token:
        api.headers.pop("authorization")
    answer = api.post(f"/campaigns/{campaign}/{action}", json=body, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert snapshot(redis_client, settings.key_prefix) == before


def test_a_cross_origin_script_is_refused_its_preflight(api: httpx.Client, campaign: str) -> None:
    # A script on another origin must ask before sending the Authorization header or JSON: the
    # API answers no CORS header at all, so the browser never sends the real request.
    answer = api.options(
        f"/campaigns/{campaign}/cancel",
        headers={
            "origin": EVIL,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert answer.status_code == 405
    assert not [h for h in answer.headers if h.startswith("access-control-")]
    assert api.get(f"/campaigns/{campaign}").json()["status"] == "running"


# --- what the pages render ---------------------------------------------------------------------


#: Markup that would run if a page parsed text as HTML: it would set a flag, open an alert and
#: cancel the campaign with the signed-in token.
def _payload(campaign_path: str) -> str:
    grab = (
        "fetch('" + campaign_path + "/cancel',{method:'POST',headers:{Authorization:'Bearer '+"
        "sessionStorage.getItem('dispatcher.console.token')}});window.__pwned=1;alert(1)"
    )
    return f'<img src=x onerror="{grab}"><script>{grab}</script><svg onload="{grab}">'


def test_markup_in_names_reasons_and_errors_is_shown_as_text_and_runs_nothing(
    serve: AppFactory,
    settings: Settings,
    redis_client: redis.Redis,
    tab: Tab,
    tmp_path: Path,
) -> None:
    api = serve()
    store = StateStore(redis_client, settings.key_prefix)
    name = "<b>Reminders</b><img src=x onerror=alert(1)>"
    answer = api.post(
        "/campaigns", json={"spec": {**SPEC, "name": name}, "contacts": ["+12025550143"]}
    )
    campaign_id = answer.json()["campaign_id"]
    path = f"/campaigns/{campaign_id}"
    hostile = _payload(path)[:500]
    assert api.post(f"{path}/pause", json={"reason": hostile}).status_code == 200
    store.add_event(campaign_id, {"kind": "rejected", "batch_no": 1, "error": _payload(path)})
    before = snapshot(redis_client, settings.key_prefix)

    page = tab.page
    base = str(api.base_url).rstrip("/")
    page.goto(f"{base}/ui/")
    page.fill("#token", SCOPE_TOKENS["operate"])
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector(f"#campaign-rows tr[data-campaign-id='{campaign_id}']")
    row = page.locator(f"#campaign-rows tr[data-campaign-id='{campaign_id}']")
    assert row.locator("a.name").text_content() == name
    assert row.locator(".reason").text_content() == hostile
    page.click(f"#campaign-rows tr[data-campaign-id='{campaign_id}'] a.name")
    page.wait_for_selector("#events li[data-kind=rejected]")
    page.wait_for_function(
        "(name) => document.querySelector('#campaign-name').textContent === name", arg=name
    )
    assert page.locator("#pause-reason-text").text_content() == hostile
    assert page.locator("#events li[data-kind=rejected] [data-key=error]").text_content() == (
        f"error: {_payload(path)}"
    )
    assert page.locator("main img, main script, main svg, main b").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    tab.screenshot("abuse-markup", tmp_path)
    assert tab.dialogs == []
    assert snapshot(redis_client, settings.key_prefix) == before
    assert api.get(path).json()["status"] == "paused"


def test_the_console_s_forms_refuse_bad_input_and_write_nothing(
    serve: AppFactory, settings: Settings, redis_client: redis.Redis, tab: Tab, tmp_path: Path
) -> None:
    api = serve()
    page = tab.page
    page.goto(f"{str(api.base_url).rstrip('/')}/ui/#/submit")
    page.fill("#token", SCOPE_TOKENS["operate"])
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#spec")
    contacts = tmp_path / "c.csv"
    contacts.write_text("phone\n+1 202 555 0143\n", encoding="utf-8")
    page.set_input_files("#contacts-file", str(contacts))

    page.fill("#spec", "{not json")  # refused in the page: nothing is sent
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-report .error")
    assert "not JSON" in (page.locator("#dry-run-report").text_content() or "")

    too_long = {**SPEC, "call": {**SPEC["call"], "ivrs": [{"digit": 1, "smsText": "x" * 71}]}}
    page.fill("#spec", json.dumps(too_long))
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-report [data-code=invalid_spec]")
    fields = page.locator("#dry-run-report li").evaluate_all(
        "items => items.map(i => i.dataset.field)"
    )
    assert fields == ["spec.call.ivrs.0.smsText"]
    assert page.locator("#submit").is_disabled()

    page.goto(f"{str(api.base_url).rstrip('/')}/ui/#/dnc")
    page.wait_for_selector("#dnc-numbers")
    page.fill("#dnc-numbers", "+1 202 555 0143\nnot a phone\n")
    page.click("#dnc-add")
    page.wait_for_selector("#dnc-edit-status [data-code=invalid_request]")
    assert "number 2 (not a phone)" in (page.locator("#dnc-edit-status").text_content() or "")
    assert page.locator("#dnc-remove").is_disabled()  # an operate token cannot remove numbers
    assert tab.errors == []
    assert tab.dialogs == []
    assert keys_under(redis_client, settings.key_prefix) == []
