"""The do-not-call endpoints."""

from __future__ import annotations

import httpx

from dispatcher.store import StateStore
from tests.api.conftest import phones


def test_numbers_are_added_listed_and_removed(client: httpx.Client, store: StateStore) -> None:
    numbers = phones(3)
    added = client.post("/dnc", json={"phones": [*numbers, "+1 (201) 555-0000"]})
    assert added.json() == {"added": 3}  # the last is the first, written differently
    listed = client.get("/dnc")
    assert listed.headers["content-type"].startswith("text/plain")
    assert sorted(listed.text.split()) == sorted(numbers)
    removed = client.request("DELETE", "/dnc", json={"phones": numbers[:2]})
    assert removed.json() == {"removed": 2}
    assert list(store.dnc_iter()) == [numbers[2]]


def test_an_invalid_number_is_422_naming_it_and_nothing_is_added(
    client: httpx.Client, store: StateStore
) -> None:
    response = client.post("/dnc", json={"phones": [phones(1)[0], "12"]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["phones.1"]
    assert list(store.dnc_iter()) == []


def test_an_empty_list_is_422(client: httpx.Client) -> None:
    assert client.post("/dnc", json={"phones": []}).status_code == 422


def test_a_blocked_number_is_not_accepted_in_a_later_submission(client: httpx.Client) -> None:
    from tests.api.conftest import SPEC

    client.post("/dnc", json={"phones": phones(1)})
    report = client.post("/campaigns", json={"spec": SPEC, "contacts": phones(3)}).json()
    assert (report["accepted"], report["blocked"]) == (2, 1)
