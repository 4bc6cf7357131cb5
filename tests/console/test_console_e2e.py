"""An operator's session in a real browser: sign in, submit a campaign from a file (dry run first),
watch it progress with real `dramatiq workers.app` processes against the sandbox, pause it with a
reason, resume it, and find on the page what the API says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console, text_of, wait_text
from tests.fixtures.browser import Tab
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow

CONTACTS = 45
PACE_PER_MINUTE = 120  # 2 dials a second: the campaign runs long enough to be paused mid-way
SPEC = {
    "name": "Browser test: reminders",
    "batch_size": 1,
    "dials_per_minute": PACE_PER_MINUTE,
    "call": {"dutyPhone": 1, "record": {"text": "Hello from the browser test"}},
}
REASON = "checking the script with the client <b>first</b>"


def contacts_file(tmp_path: Path) -> Path:
    """45 valid numbers, one duplicate and two rows that are not numbers."""
    rows = ["phone,name"] + [f"+1 201 555 {i:04d},Person {i}" for i in range(CONTACTS)]
    rows += ["+1 201 555 0000,Again", "12345,Short", "not a phone,Nobody"]
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def number(tab: Tab, selector: str) -> int:
    return int(text_of(tab, selector).replace(",", ""))


def done_on_page(tab: Tab) -> int:
    return int(tab.page.locator("#summary progress").get_attribute("value") or 0)


def test_an_operator_submits_watches_pauses_and_resumes_a_campaign_in_the_browser(
    console: Console, tab: Tab, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    page = tab.page
    worker_pool.start(worker_env(console.settings, sandbox.url), count=1, threads=4)
    source = contacts_file(tmp_path)

    console.sign_in(tab, "operate")
    page.wait_for_selector("#campaign-rows td.empty")
    assert "No campaigns yet" in text_of(tab, "#campaign-rows")

    # The form: the dry run's report first, as the API reports it; nothing written.
    page.click("nav a[data-nav=submit]")
    page.fill("#spec", json.dumps(SPEC, indent=2))
    page.set_input_files("#contacts-file", str(source))
    assert page.locator("#submit").is_disabled()
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-card")
    expected = console.api.post(
        "/campaigns",
        params={"dry_run": "true"},
        data={"spec": json.dumps(SPEC)},
        files={"file": ("contacts.csv", source.read_bytes(), "text/csv")},
    ).json()
    assert number(tab, "#dry-would-dial") == expected["would_dial"] == CONTACTS
    assert number(tab, "#dry-duplicates") == expected["duplicates"] == 1
    assert number(tab, "#dry-rejected") == expected["rejected"] == 2
    assert number(tab, "#dry-batches") == expected["batches"] == CONTACTS
    assert page.locator("#dry-rejected-rows tbody tr").count() == 2
    assert console.api.get("/campaigns").json() == []
    tab.screenshot("console-submit", tmp_path)

    page.click("#submit")
    page.wait_for_url(re.compile(r"#/campaigns/[0-9a-f]{16}$"))
    campaign_id = page.url.rsplit("/", 1)[1]
    path = f"/campaigns/{campaign_id}"
    wait_text(tab, "#campaign-name", SPEC["name"])
    assert "120 dials/min" in text_of(tab, "#pace-limit")

    # It progresses on the page; then the operator pauses it with a reason.
    # The worker process may still be starting on a loaded machine: a generous wait.
    page.wait_for_function(
        "() => Number(document.querySelector('#summary progress')?.value) >= 6", timeout=90_000
    )
    page.click("#pause")
    page.fill("#pause-reason-input", REASON)
    page.click("#pause-confirm")
    page.wait_for_selector("#campaign-status [data-status=paused]")
    status = console.api.get(path).json()
    assert (status["status"], status["pause_reason"]) == ("paused", REASON)
    assert text_of(tab, "#pause-reason-text") == REASON  # as text: the <b> is not markup
    assert page.locator("#pause-reason b").count() == 0
    page.wait_for_selector("#events li[data-kind=paused]")
    assert text_of(tab, "#events li[data-kind=paused] [data-key=reason]") == f"reason: {REASON}"
    assert page.locator("#resume").is_enabled()
    assert page.locator("#pause").is_disabled()
    held = status["total"] - status["open"]
    assert held < CONTACTS, "the campaign ended before it could be paused"
    tab.screenshot("console-paused", tmp_path)

    page.click("#resume")
    page.wait_for_selector(
        "#campaign-status [data-status=running], #campaign-status [data-status=finished]"
    )
    assert console.api.get(path).json()["pause_reason"] is None
    assert wait_for(lambda: console.api.get(path).json()["status"] == "finished", 120)
    page.wait_for_selector("#campaign-status [data-status=finished]", timeout=30_000)

    # What the page shows is what the API says.
    status = console.api.get(path).json()
    shown = {
        row.get_attribute("data-state"): int(row.locator("td.n").text_content().replace(",", ""))
        for row in page.locator("#counts tr[data-state]").all()
    }
    assert shown == status["counts"]
    assert number(tab, "#total") == status["total"] == CONTACTS
    assert done_on_page(tab) == status["done"] == CONTACTS
    outcomes_shown = {
        row.get_attribute("data-outcome"): int(row.locator("td.n").text_content())
        for row in page.locator("#outcome-data tr").all()
    }
    assert outcomes_shown == status["counts"]

    # Dials and outcomes per minute: on the page as in the API, and true to the provider.
    activity = console.api.get(f"{path}/activity").json()
    api_dials = sum(m["dials"] for m in activity["minutes"])
    page_dials = sum(
        int(row.get_attribute("data-dials") or 0) for row in page.locator("#activity-data tr").all()
    )
    page_outcomes = sum(
        int(pair.get_attribute("data-n") or 0)
        for pair in page.locator("#activity-data .pair").all()
    )
    created = sum(sandbox.stats()["creates_per_phone"].values())
    assert page_dials == api_dials == created == CONTACTS
    assert page_outcomes == sum(sum(m["outcomes"].values()) for m in activity["minutes"])
    assert page_outcomes == CONTACTS
    assert page.locator("#events li[data-kind=resumed]").count() == 1

    tab.screenshot("console-campaign", tmp_path)
    page.click("nav a[data-nav=campaigns]")
    page.wait_for_selector(f"#campaign-rows tr[data-campaign-id='{campaign_id}']")
    row = page.locator(f"#campaign-rows tr[data-campaign-id='{campaign_id}']")
    assert row.get_attribute("data-status") == "finished"
    assert row.locator("progress").get_attribute("value") == str(CONTACTS)
    tab.screenshot("console-campaigns", tmp_path)
    assert tab.errors == []
    assert tab.dialogs == []
