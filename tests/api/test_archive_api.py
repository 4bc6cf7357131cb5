"""An archived campaign over HTTP: the same results, the same page; its webhooks are refused."""

from __future__ import annotations

import httpx

from dispatcher.archive import archive_campaigns
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, phones
from tests.api.test_webhooks import API_CALL_ID, details, url


def ended_campaign(client: httpx.Client, store: StateStore, n: int) -> str:
    """A campaign of `n` contacts (a `name` column on every third) that finished."""
    contacts = [{"phone": p, "name": f"n{i}"} if i % 3 == 0 else p for i, p in enumerate(phones(n))]
    response = client.post("/campaigns", json={"spec": SPEC, "contacts": contacts})
    assert response.status_code == 201, response.text
    campaign_id: str = response.json()["campaign_id"]
    for batch_no, _ in store.batches(campaign_id):
        state = "completed" if batch_no % 3 else "no_answer"
        store.finish_batch(campaign_id, batch_no, state, "test", state, only_if="pending")
    store.deactivate(campaign_id)
    assert store.status(campaign_id).value == "finished"
    return campaign_id


def test_results_and_the_campaign_page_are_the_same_once_archived(
    client: httpx.Client, store: StateStore
) -> None:
    cid = ended_campaign(client, store, 2100)  # 3 buckets, results in chunks of 500 rows
    csv_before = client.get(f"/campaigns/{cid}/results").text
    jsonl_before = client.get(f"/campaigns/{cid}/results", params={"format": "jsonl"}).text
    page_before = client.get(f"/campaigns/{cid}").json()

    assert archive_campaigns(store, 0, [cid]).campaigns[0].outcome == "archived"

    csv_after = client.get(f"/campaigns/{cid}/results").text
    jsonl_after = client.get(f"/campaigns/{cid}/results", params={"format": "jsonl"}).text
    header, *rows = csv_after.splitlines()
    assert header == csv_before.splitlines()[0]
    assert len(rows) == 2100
    assert sorted(rows) == sorted(csv_before.splitlines()[1:])
    assert sorted(jsonl_after.splitlines()) == sorted(jsonl_before.splitlines())
    assert client.get(f"/campaigns/{cid}").json() == page_before


def test_webhooks_and_ivr_answers_for_an_archived_campaign_are_refused_with_410(
    client: httpx.Client, anonymous: httpx.Client, store: StateStore
) -> None:
    cid = ended_campaign(client, store, 4)
    archive_campaigns(store, 0, [cid])
    before = {r.phone: r for r in store.iter_contacts(cid)}

    ivr = anonymous.post(url(cid), json={"call": {"phone": phones(1)[0], "answer": "1"}})
    assert ivr.status_code == 410
    assert ivr.json()["error"] == "campaign_archived"
    call = anonymous.post(url(cid), json=details(phones(2), "completed"))
    assert call.status_code == 410
    assert call.json()["error"] == "campaign_archived"
    assert API_CALL_ID  # the details name an api call the campaign never had: nothing to apply
    assert {r.phone: r for r in store.iter_contacts(cid)} == before
