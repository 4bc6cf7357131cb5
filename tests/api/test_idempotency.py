"""`Idempotency-Key` on POST /campaigns: a retried submission answers the original, over HTTP."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from typing import Any

import httpx
import pytest
import redis

from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, TOKEN, ApiServer, phones, queued
from tests.fixtures.workers import WorkerPool, wait_for, worker_env


def post(client: httpx.Client, key: str, contacts: list[Any], **spec: Any) -> httpx.Response:
    body = {"spec": {**SPEC, **spec}, "contacts": contacts}
    return client.post("/campaigns", json=body, headers={"Idempotency-Key": key})


def record_key(settings: Settings, key: str) -> str:
    return f"{settings.key_prefix}:idem:{hashlib.sha256(key.encode()).hexdigest()[:40]}"


def test_the_same_key_and_content_answer_the_original_report_and_enqueue_nothing_more(
    client: httpx.Client, api_settings: Settings, redis_client: redis.Redis, store: StateStore
) -> None:
    first = post(client, "order-1", phones(6))
    assert first.status_code == 201, first.text
    assert first.json()["replayed"] is False
    messages = queued(redis_client, api_settings)
    again = post(client, "order-1", phones(6))
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "replayed": True}
    assert queued(redis_client, api_settings) == messages
    assert store.list_campaigns() == [first.json()["campaign_id"]]


def test_the_same_contacts_as_a_csv_upload_are_the_same_submission(client: httpx.Client) -> None:
    first = post(client, "order-csv", [{"phone": p} for p in phones(3)])
    upload = "phone\n" + "".join(f"{p}\n" for p in phones(3))
    again = client.post(
        "/campaigns",
        data={"spec": json.dumps(SPEC)},
        files={"file": ("contacts.csv", upload.encode(), "text/csv")},
        headers={"Idempotency-Key": "order-csv"},
    )
    assert again.status_code == 201, again.text
    assert again.json()["campaign_id"] == first.json()["campaign_id"]


def test_the_same_key_with_other_content_is_a_conflict(
    client: httpx.Client, store: StateStore
) -> None:
    first = post(client, "order-2", phones(4))
    other_contacts = post(client, "order-2", phones(5))
    assert other_contacts.status_code == 409
    assert other_contacts.json()["error"] == "idempotency_key_reused"
    assert "other contacts" in other_contacts.json()["message"]
    other_spec = post(client, "order-2", phones(4), name="renamed")
    assert other_spec.status_code == 409
    assert "another spec" in other_spec.json()["message"]
    assert store.list_campaigns() == [first.json()["campaign_id"]]


def test_a_key_whose_first_submission_is_still_being_read_is_told_to_retry(
    client: httpx.Client, api_settings: Settings, store: StateStore
) -> None:
    store.reserve_record(record_key(api_settings, "order-3"), "c0ffee", 30_000, {})
    response = post(client, "order-3", phones(2))
    assert response.status_code == 409
    assert response.json()["error"] == "submission_in_progress"
    assert response.headers["retry-after"] == "1"
    assert store.list_campaigns() == []


def test_a_refused_submission_frees_its_key(client: httpx.Client) -> None:
    refused = post(client, "order-4", ["not a phone"])
    assert refused.status_code == 422
    accepted = post(client, "order-4", phones(2))
    assert accepted.status_code == 201
    assert accepted.json()["replayed"] is False


def test_an_unusable_key_is_refused(client: httpx.Client) -> None:
    response = post(client, "x" * 300, phones(1))
    assert response.status_code == 422


def _start_slow_upload(api_server: ApiServer, key: str, body: bytes) -> socket.socket:
    """A client that sends the headers and half the body, then stalls (as over a slow link)."""
    sock = socket.create_connection(("127.0.0.1", api_server.port))
    head = (
        "POST /campaigns HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nIdempotency-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[: len(body) // 2])
    return sock


@pytest.mark.slow
def test_a_submit_retried_after_the_client_gave_up_makes_one_campaign_and_one_dial_per_phone(
    client: httpx.Client,
    api_server: ApiServer,
    api_settings: Settings,
    redis_client: redis.Redis,
    store: StateStore,
    sandbox: Any,
    worker_pool: WorkerPool,
) -> None:
    numbers = phones(600)
    body = json.dumps({"spec": {**SPEC, "batch_size": 50}, "contacts": numbers}).encode()
    stalled = _start_slow_upload(api_server, "order-slow", body)
    # The server reserved the key as soon as the headers came, while the body is still coming.
    assert wait_for(lambda: redis_client.exists(record_key(api_settings, "order-slow")), 10)
    meanwhile = client.post(
        "/campaigns",
        content=body,
        headers={"Idempotency-Key": "order-slow", "Content-Type": "application/json"},
    )
    assert meanwhile.status_code == 409
    assert meanwhile.json()["error"] == "submission_in_progress"
    stalled.close()  # the first client times out and gives up mid-upload

    # Its retries (same key) go on until one is answered; the first gives up before its answer.
    gave_up = []

    def retry(first_timeout: httpx.Timeout | None = None) -> httpx.Response:
        timeout = first_timeout
        for _ in range(100):
            try:
                response = client.post(
                    "/campaigns",
                    content=body,
                    headers={"Idempotency-Key": "order-slow", "Content-Type": "application/json"},
                    timeout=timeout or httpx.Timeout(30.0),
                )
            except httpx.ReadTimeout:
                gave_up.append(1)  # the server goes on with it; the key tells the next try
                timeout = None
                continue
            if response.status_code != 409:
                return response
            time.sleep(0.1)
        raise AssertionError("no answer")

    created = retry(httpx.Timeout(30.0, read=0.001))
    assert created.status_code == 201, created.text
    assert gave_up
    again = retry()
    assert again.status_code == 201
    assert again.json()["replayed"] is True
    assert again.json()["campaign_id"] == created.json()["campaign_id"]
    campaign_id = created.json()["campaign_id"]
    assert store.list_campaigns() == [campaign_id]

    worker_pool.start(worker_env(api_settings, sandbox.url, provider_rate_per_s=50), threads=4)
    assert wait_for(lambda: store.status(campaign_id).value == "finished", 120), (
        store.counts(campaign_id),
        worker_pool.logs()[-3000:],
    )
    creates = sandbox.stats()["creates_per_phone"]
    assert sorted(creates) == sorted(numbers)
    assert max(creates.values()) == 1
