"""POST/GET /campaigns and the streamed results, over real HTTP."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import redis

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, phones, queued


def submit_json(client: httpx.Client, contacts: list[Any], **params: Any) -> httpx.Response:
    return client.post("/campaigns", json={"spec": SPEC, "contacts": contacts}, params=params)


def test_an_inline_json_submission_answers_the_report_and_enqueues_one_message_per_batch(
    client: httpx.Client, api_settings: Settings, redis_client: redis.Redis
) -> None:
    contacts = [*phones(5), "not a phone", {"phone": phones(1)[0]}]
    response = submit_json(client, contacts)
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["status"] == "running"
    assert (report["accepted"], report["rejected"], report["duplicates"]) == (5, 1, 1)
    assert report["rejected_rows"][0]["row"] == 6
    assert report["batches"] == 3
    assert queued(redis_client, api_settings) == 3


def test_an_uploaded_csv_is_submitted_like_the_cli_does(
    client: httpx.Client, store: StateStore
) -> None:
    body = "phone,first_name\n" + "".join(f"{p},Ann\n" for p in phones(4))
    response = client.post(
        "/campaigns",
        data={"spec": json.dumps(SPEC)},
        files={"file": ("contacts.csv", body.encode(), "text/csv")},
    )
    assert response.status_code == 201, response.text
    campaign_id = response.json()["campaign_id"]
    record = store.contact(campaign_id, phones(1)[0])
    assert record is not None
    assert record.data == {"first_name": "Ann"}


def test_an_uploaded_jsonl_file_is_read_as_json_lines_by_its_name(client: httpx.Client) -> None:
    body = "".join(json.dumps({"phone": p}) + "\n" for p in phones(3))
    response = client.post(
        "/campaigns",
        data={"spec": json.dumps(SPEC)},
        files={"file": ("contacts.jsonl", body.encode(), "application/octet-stream")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 3


def test_an_invalid_spec_is_422_naming_the_field_and_nothing_is_stored_or_enqueued(
    client: httpx.Client, api_settings: Settings, redis_client: redis.Redis, store: StateStore
) -> None:
    spec = {**SPEC, "call": {"dutyPhone": 1, "record": {"text": "x" * 1025}}}
    response = client.post("/campaigns", json={"spec": spec, "contacts": phones(3)})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_spec"
    assert body["errors"][0]["field"] == "spec.call.record.text"
    assert store.list_campaigns() == []
    assert queued(redis_client, api_settings) == 0


def test_a_strict_submission_with_a_bad_row_is_refused_with_the_rows_and_leaves_nothing(
    client: httpx.Client, api_settings: Settings, redis_client: redis.Redis, store: StateStore
) -> None:
    response = submit_json(client, [*phones(2), "12"], strict="true")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "submission_refused"
    assert body["report"]["campaign_id"] is None
    assert body["report"]["rejected_rows"][0]["row"] == 3
    assert store.list_campaigns() == []
    assert queued(redis_client, api_settings) == 0


def test_a_csv_without_a_phone_column_is_422(client: httpx.Client, store: StateStore) -> None:
    response = client.post(
        "/campaigns",
        data={"spec": json.dumps(SPEC)},
        files={"file": ("contacts.csv", b"name\nAnn\n", "text/csv")},
    )
    assert response.status_code == 422
    assert "phone" in response.json()["message"]
    assert store.list_campaigns() == []


def test_a_body_over_the_upload_limit_is_413_even_without_a_content_length(
    client: httpx.Client, app: Any, store: StateStore
) -> None:
    limit = app.state.services.settings.max_upload_bytes
    chunk = b"phone\n" + b"12015550000\n" * 1000

    def body() -> Any:
        sent = 0
        while sent <= limit:
            yield chunk
            sent += len(chunk)

    response = client.post(
        "/campaigns",
        content=body(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert store.list_campaigns() == []


def test_a_body_that_is_neither_json_nor_multipart_is_415(client: httpx.Client) -> None:
    response = client.post("/campaigns", content=b"phone\n1", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415


def test_listing_and_reading_a_campaign_show_counts_and_status(client: httpx.Client) -> None:
    campaign_id = submit_json(client, phones(4)).json()["campaign_id"]
    listed = client.get("/campaigns", params={"limit": 5}).json()
    assert [c["campaign_id"] for c in listed] == [campaign_id]
    progress = client.get(f"/campaigns/{campaign_id}").json()
    assert progress["status"] == "running"
    assert progress["counts"] == {"pending": 4}
    assert (progress["total"], progress["done"], progress["pause_reason"]) == (4, 0, None)


def test_an_unknown_campaign_is_404(client: httpx.Client) -> None:
    for path in ("/campaigns/0123456789abcdef", "/campaigns/0123456789abcdef/results"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "campaign_not_found"


def test_results_stream_every_contact_as_csv_or_json_lines(client: httpx.Client) -> None:
    numbers = phones(1200)
    campaign_id = submit_json(
        client, [{"phone": p, "ref": str(i), "name": f"n{i}"} for i, p in enumerate(numbers)]
    )
    cid = campaign_id.json()["campaign_id"]
    as_csv = client.get(f"/campaigns/{cid}/results")
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert sorted(r["phone"] for r in rows) == sorted(numbers)
    assert {r["state"] for r in rows} == {"pending"}
    assert {r["ref"] for r in rows} == {str(i) for i in range(1200)}
    as_jsonl = client.get(f"/campaigns/{cid}/results", params={"format": "jsonl"})
    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert len(lines) == 1200
    # The caller's `ref` is a column of its own; other fields stay in `data`.
    assert {line["ref"] for line in lines} == {str(i) for i in range(1200)}
    assert {line["data"]["name"] for line in lines} == {f"n{i}" for i in range(1200)}


def test_the_request_id_is_honoured_and_returned(client: httpx.Client) -> None:
    response = client.get("/campaigns", headers={"X-Request-ID": "caller-chosen-42"})
    assert response.headers["x-request-id"] == "caller-chosen-42"
    fresh = client.get("/campaigns", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["x-request-id"] != "bad id with spaces"
    assert len(fresh.headers["x-request-id"]) == 32


def test_a_dry_run_reports_what_would_happen_and_writes_nothing(
    client: httpx.Client, api_settings: Settings, redis_client: redis.Redis, store: StateStore
) -> None:
    response = submit_json(client, [*phones(5), "bad"], dry_run="true")
    assert response.status_code == 200, response.text
    estimate = response.json()
    assert estimate["dry_run"] is True
    assert (estimate["would_dial"], estimate["rejected"], estimate["batches"]) == (5, 1, 3)
    assert store.list_campaigns() == []
    assert queued(redis_client, api_settings) == 0
