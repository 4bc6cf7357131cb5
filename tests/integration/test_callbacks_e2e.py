"""Webhooks to a caller: a receiver that fails its first deliveries still gets every result."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dispatcher.contacts import read_iterable
from dispatcher.producer import submit_campaign
from dispatcher.queue import make_enqueue
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import TERMINAL_STATES, StateStore
from tests.fixtures.workers import WorkerPool, worker_env
from tests.integration.foreign import start_foreign

pytestmark = pytest.mark.slow


def test_a_receiver_that_fails_at_first_gets_every_result_once_signed_and_in_order(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    port = free_port()
    receiver = start_foreign(
        "webhook_receiver.py",
        "--port", str(port), "--secret", secret, "--fail-first", "3", "--exit-after-finished",
        cwd=tmp_path,
    )  # fmt: skip
    try:
        assert receiver.stdout is not None
        assert "listening" in receiver.stdout.readline()
        env = worker_env(
            settings,
            sandbox.url,
            provider_rate_per_s=50,
            callback_secret=secret,
            callback_backoff_max_s=0.5,
            callback_max_contacts=7,
        )
        worker_pool.start(env, threads=4)
        numbers = [f"1201555{i:04d}" for i in range(30)]
        spec = parse_spec(
            {
                "name": "callbacks",
                "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
                "batch_size": 10,
                "metadata": {"order": 7},
                "callback_url": f"http://127.0.0.1:{port}/hooks/dispatcher",
            }
        )
        contacts = read_iterable(
            [{"phone": p, "ref": f"r{i}"} for i, p in enumerate(numbers)], "US"
        )
        report = submit_campaign(store, make_enqueue(settings, store.client), spec, contacts)
        assert report.campaign_id is not None
        out, err = receiver.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        receiver.kill()
        out, err = receiver.communicate()
        pytest.fail(
            f"no campaign.finished: {out[-2000:]} {err[-2000:]} {worker_pool.logs()[-3000:]}"
        )
    finally:
        if receiver.poll() is None:
            receiver.kill()
    lines = [json.loads(line) for line in out.splitlines()]
    assert not [line for line in lines if "bad_signature" in line], lines
    assert len([line for line in lines if "failed_on_purpose" in line]) == 3
    deliveries = [line for line in lines if "id" in line]
    assert deliveries[-1]["type"] == "campaign.finished"
    assert deliveries[-1]["data"]["counts"]
    results = [
        (d["id"], r)
        for d in deliveries
        if d["type"] == "campaign.results"
        for r in d["data"]["results"]
    ]
    # Every contact exactly once (the receiver already dropped retried ids), with the caller's ids.
    assert sorted(r["phone"] for _, r in results) == sorted(numbers)
    assert {r["ref"] for _, r in results} == {f"r{i}" for i in range(30)}
    assert {r["state"] for _, r in results} <= set(TERMINAL_STATES)
    assert all(d["data"]["metadata"] == {"order": 7} for d in deliveries)
    assert all(d["data"]["campaign_id"] == report.campaign_id for d in deliveries)
    # Many contacts per request, never more than the configured batch.
    sizes = [len(d["data"]["results"]) for d in deliveries if d["type"] == "campaign.results"]
    assert max(sizes) > 1
    assert max(sizes) <= 7
