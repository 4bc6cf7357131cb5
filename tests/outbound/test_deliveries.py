"""Deliveries built from stream entries, their bodies, signatures and URL checks (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from dispatcher.outbound.deliveries import Delivery, backoff_s, build_deliveries, request_body
from dispatcher.outbound.signing import Signer
from dispatcher.outbound.urls import check_callback_url, check_metadata
from dispatcher.store import StreamEntry

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def contacts(entry_id: str, cid: str, phones: list[str]) -> StreamEntry:
    outcomes = [{"phone": p, "state": "completed"} for p in phones]
    fields = {"type": "contacts", "campaign_id": cid, "contacts": json.dumps(outcomes)}
    return StreamEntry(entry_id, fields)


def status(entry_id: str, cid: str, value: str, ended: str = "0") -> StreamEntry:
    fields = {"type": "campaign", "campaign_id": cid, "status": value, "previous": "running"}
    return StreamEntry(entry_id, {**fields, "ended": ended})


def test_results_are_merged_up_to_the_cap_and_a_status_closes_the_batch() -> None:
    entries = [
        contacts("10-0", "a", ["1", "2"]),
        contacts("11-0", "b", ["9"]),
        contacts("12-0", "a", ["3", "4"]),
        status("13-0", "a", "finished", ended="1"),
        contacts("14-0", "a", ["5"]),
    ]
    built = build_deliveries(entries, lambda cid: cid == "a", lambda cid: {"completed": 5}, 3)
    assert list(built) == ["a"]
    kinds = [(d.type, [r["phone"] for r in d.results]) for d in built["a"]]
    assert kinds == [
        ("campaign.results", ["1", "2", "3"]),
        ("campaign.results", ["4"]),
        ("campaign.finished", []),
        ("campaign.results", ["5"]),
    ]
    assert built["a"][2].data == {
        "status": "finished",
        "previous": "running",
        "counts": {"completed": 5},
    }
    assert len({d.id for d in built["a"]}) == 4


def test_a_delivery_survives_its_stay_in_the_outbox_and_its_body_never_changes() -> None:
    built = build_deliveries([contacts("1700000000000-3", "a", ["1"])], bool, dict, 10)
    delivery = built["a"][0]
    again = Delivery.from_json(delivery.to_json())
    assert again == delivery
    body = json.loads(request_body(again, {"order": 7}))
    assert body == {
        "type": "campaign.results",
        "timestamp": "2023-11-14T22:13:20Z",
        "data": {
            "campaign_id": "a",
            "metadata": {"order": 7},
            "results": [{"phone": "1", "state": "completed"}],
        },
    }
    assert request_body(again, {"order": 7}) == request_body(delivery, {"order": 7})


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    body = '{"type":"campaign.results"}'
    headers = Signer(SECRET).headers("msg_1", body, datetime.now(UTC))
    assert Webhook(SECRET).verify(body, headers) == {"type": "campaign.results"}
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(body.replace("results", "status"), headers)


def test_a_secret_that_is_not_base64_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="whsec_"):
        Signer("whsec_!!!")


def test_backoff_doubles_up_to_the_bound() -> None:
    assert 0.5 <= backoff_s(1, 300) <= 1
    assert 4 <= backoff_s(4, 300) <= 8
    assert backoff_s(30, 60) <= 60


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "http:///path",
        "https://user:pw@example.org/",
        "https://example.org/#frag",
        "https://example.org:99999/",
        "https://exa mple.org/",
        "https://example.org/" + "x" * 2000,
    ],
)
def test_callback_urls_that_cannot_be_targets_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        check_callback_url(url)


def test_usable_callback_urls_and_metadata_pass() -> None:
    assert check_callback_url("https://hooks.example.org:8443/dispatcher?x=1")
    assert check_metadata({"order": 1}) == {"order": 1}
    with pytest.raises(ValueError, match="bytes"):
        check_metadata({"blob": "x" * 5000})
