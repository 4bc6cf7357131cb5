"""The console's pages in a real browser, against the API on this test's prefix: sign-in, what a
token's scope turns off, the confirmation before a cancel, the campaign list's filter and pages,
and the do-not-call list (search, add, remove, import)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tests.console.conftest import Console, text_of, wait_text
from tests.fixtures.browser import Tab

SPEC: dict[str, Any] = {
    "name": "console page test",
    "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
    "batch_size": 5,
}


def submit(console: Console, name: str, n: int = 3, **spec: Any) -> str:
    """A campaign submitted through the API (no workers run here: it stays running)."""
    contacts = [f"1201555{i:04d}" for i in range(n)]
    answer = console.api.post(
        "/campaigns", json={"spec": {**SPEC, "name": name, **spec}, "contacts": contacts}
    )
    assert answer.status_code == 201, answer.text
    campaign_id: str = answer.json()["campaign_id"]
    return campaign_id


def test_a_token_the_api_does_not_accept_is_refused_at_sign_in_and_not_kept(
    console: Console, tab: Tab
) -> None:
    page = tab.page
    page.goto(f"{console.url}/ui/")
    page.fill("#token", "not-a-token")
    page.click("#sign-in button[type=submit]")
    wait_text(tab, "#sign-in-status", "This token is not accepted.")
    assert page.evaluate("() => sessionStorage.length") == 0
    assert page.locator("#nav").is_hidden()


def test_a_read_only_token_sees_everything_and_every_control_is_off(
    console: Console, tab: Tab
) -> None:
    campaign_id = submit(console, "watched only")
    console.sign_in(tab, "read")
    page = tab.page
    page.wait_for_selector(f"#campaign-rows tr[data-campaign-id='{campaign_id}']")
    assert page.locator("a.button[href='#/submit']").count() == 0
    page.click(f"#campaign-rows tr[data-campaign-id='{campaign_id}'] a.name")
    page.wait_for_selector("#campaign-status [data-status=running]")
    for control in ("#pause", "#resume", "#reschedule", "#cancel"):
        assert page.locator(control).is_disabled(), control
    assert "operate scope" in (page.locator("#pause").get_attribute("title") or "")
    page.wait_for_selector("#read-only")

    page.click("nav a[data-nav=submit]")
    page.wait_for_selector("#submit-not-allowed")
    assert page.locator("#dry-run").is_disabled()
    assert page.locator("#submit").is_disabled()
    page.click("nav a[data-nav=dnc]")
    page.wait_for_selector("#dnc-q")
    for control in ("#dnc-add", "#dnc-remove", "#dnc-import"):
        assert page.locator(control).is_disabled(), control
    assert console.api.get(f"/campaigns/{campaign_id}").json()["status"] == "running"
    assert tab.errors == []


def test_a_cancel_happens_only_once_confirmed(console: Console, tab: Tab) -> None:
    campaign_id = submit(console, "to be cancelled")
    console.sign_in(tab, "operate", f"#/campaigns/{campaign_id}")
    page = tab.page
    page.wait_for_selector("#campaign-status [data-status=running]")
    page.click("#cancel")
    page.wait_for_selector("dialog#confirm[open]")
    page.click("#confirm-no")
    page.wait_for_selector("dialog#confirm", state="detached")
    assert console.api.get(f"/campaigns/{campaign_id}").json()["status"] == "running"

    page.click("#cancel")
    page.click("#confirm-yes")
    page.wait_for_selector("#campaign-status [data-status=cancelled]")
    answer = console.api.get(f"/campaigns/{campaign_id}").json()
    assert answer["status"] == "cancelled"
    assert answer["counts"] == {"cancelled": 3}
    for control in ("#pause", "#resume", "#cancel"):
        assert page.locator(control).is_disabled(), control
    page.wait_for_selector("#events li[data-kind=cancelled]")
    assert tab.errors == []


def test_the_campaign_list_filters_by_status_and_follows_the_api_s_pages(
    console: Console, tab: Tab
) -> None:
    ids = [submit(console, f"campaign {i:02d}", n=1) for i in range(56)]
    paused = ids[-3:]
    for campaign_id in paused:
        assert console.api.post(f"/campaigns/{campaign_id}/pause").status_code == 200
    console.sign_in(tab, "read")
    page = tab.page
    page.wait_for_function("() => document.querySelectorAll('#campaign-rows tr').length === 50")
    shown = page.locator("#campaign-rows tr").evaluate_all(
        "rows => rows.map(r => r.dataset.campaignId)"
    )
    first = console.api.get("/campaigns", params={"limit": 50})
    assert shown == [c["campaign_id"] for c in first.json()] == ids[::-1][:50]
    cursor = first.headers.get("x-next-cursor")
    assert cursor is not None
    # The next page is the API's, by its cursor; and back again.
    assert page.locator("#page-newer").is_disabled()
    page.click("#page-older")
    page.wait_for_function("() => document.querySelectorAll('#campaign-rows tr').length === 6")
    older = console.api.get("/campaigns", params={"limit": 50, "cursor": cursor})
    rest = page.locator("#campaign-rows tr").evaluate_all(
        "rows => rows.map(r => r.dataset.campaignId)"
    )
    assert rest == [c["campaign_id"] for c in older.json()] == ids[::-1][50:]
    assert "x-next-cursor" not in older.headers
    assert page.locator("#page-older").is_disabled()
    assert f"cursor={cursor}" in page.url
    wait_text(tab, "#page-number", "page 2")
    page.click("#page-newer")
    page.wait_for_function("() => document.querySelectorAll('#campaign-rows tr').length === 50")
    wait_text(tab, "#page-number", "page 1")

    page.select_option("#status-filter", "paused")
    page.wait_for_function("() => document.querySelectorAll('#campaign-rows tr').length === 3")
    rows = page.locator("#campaign-rows tr")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.campaignId)")) == sorted(
        paused
    )
    assert set(rows.evaluate_all("rows => rows.map(r => r.dataset.status)")) == {"paused"}
    assert "#/campaigns?status=paused" in page.url

    page.select_option("#status-filter", "")
    page.select_option("#page-size", "25")
    page.wait_for_function("() => document.querySelectorAll('#campaign-rows tr').length === 25")
    assert tab.errors == []


def test_the_do_not_call_page_searches_adds_removes_and_imports(
    console: Console, tab: Tab, tmp_path: Path
) -> None:
    console.sign_in(tab, "admin", "#/dnc")
    page = tab.page
    page.fill("#dnc-numbers", "+1 202 555 0143\n(202) 555-0144\n")
    page.click("#dnc-add")
    wait_text(tab, "#dnc-added", "2 added (0 were on the list already).")
    assert sorted(console.api.get("/dnc").text.split()) == ["12025550143", "12025550144"]

    page.fill("#dnc-q", "202-555-0143")
    page.press("#dnc-q", "Enter")
    page.wait_for_selector("#dnc-results li[data-phone='12025550143']")
    assert page.locator("#dnc-results li").count() == 1
    page.click("#dnc-results button[data-phone='12025550143']")
    page.click("#confirm-yes")
    page.wait_for_selector("#dnc-results li", state="detached")
    assert console.api.get("/dnc").text.split() == ["12025550144"]

    # A file bigger than one request, with bad lines reported by line and left out.
    rows = ["phone,name"] + [f"1303{555 + i // 10_000}{i % 10_000:04d},n" for i in range(10_400)]
    rows[7] = "not a phone,x"
    rows[10_300] = "123,y"
    source = tmp_path / "dnc.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.set_input_files("#dnc-file", str(source))
    page.click("#dnc-import")
    page.wait_for_selector("#dnc-imported", timeout=60_000)
    imported = page.locator("#dnc-imported")
    assert (imported.get_attribute("data-added"), imported.get_attribute("data-rejected")) == (
        "10398",
        "2",
    )
    lines = page.locator("#dnc-import-rejected li").all_text_contents()
    assert [line.split(":")[0] for line in lines] == ["line 8", "line 10301"]
    listed = console.api.get("/dnc").text.split()
    assert len(listed) == 10_399

    page.fill("#dnc-q", "3035550")
    page.press("#dnc-q", "Enter")
    page.wait_for_selector("#dnc-found")
    first = page.locator("#dnc-results li").count()
    assert first >= 100
    if page.locator("#dnc-more").is_visible():
        page.click("#dnc-more")
        page.wait_for_function(
            f"() => document.querySelectorAll('#dnc-results li').length > {first}"
        )
    tab.screenshot("console-dnc", tmp_path)
    assert "found" in text_of(tab, "#dnc-found")
    assert tab.errors == []


def test_a_scheduled_campaign_is_moved_from_its_page(console: Console, tab: Tab) -> None:
    campaign_id = submit(console, "later", start_at="2030-01-01T09:00:00+00:00")
    console.sign_in(tab, "operate", f"#/campaigns/{campaign_id}")
    page = tab.page
    page.wait_for_selector("#campaign-status [data-status=scheduled]")
    assert "starts 2030-01-01T09:00:00+00:00" in text_of(tab, "#campaign-meta")
    assert page.locator("#resume").is_disabled()
    page.click("#reschedule")
    page.fill("#reschedule-input", "2031-06-15T10:30")
    page.click("#reschedule-confirm")
    # The browser's own zone decides the instant, as it does for the operator.
    instant = page.evaluate("() => new Date('2031-06-15T10:30').toISOString()")
    page.wait_for_selector("#events li[data-kind=rescheduled]")
    start_at = console.api.get(f"/campaigns/{campaign_id}/activity").json()["start_at"]
    assert datetime.fromisoformat(start_at) == datetime.fromisoformat(instant)
    assert console.api.get(f"/campaigns/{campaign_id}").json()["status"] == "scheduled"
    assert tab.errors == []
