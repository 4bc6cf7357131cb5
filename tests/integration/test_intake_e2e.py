"""A service with only dramatiq and redis submits over the intake contract, reads results back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from dispatcher.intake.series import read_intake
from dispatcher.settings import Settings
from dispatcher.store import TERMINAL_STATES, StateStore
from tests.fixtures.workers import WorkerPool, worker_env
from tests.integration.foreign import run_foreign

pytestmark = pytest.mark.slow


def phones(n: int) -> list[str]:
    return [f"1201555{i:04d}" for i in range(n)]


def test_a_foreign_service_submits_two_parts_one_twice_and_reads_every_outcome(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=50), threads=4)
    external_id = f"order-{uuid.uuid4().hex[:8]}"
    numbers = phones(40)
    common = ["--redis-url", str(settings.redis_url), "--key-prefix", settings.key_prefix]
    sent = run_foreign(
        "intake_send.py",
        *common,
        "--queue-name",
        settings.queue_name,
        "--external-id",
        external_id,
        "--parts",
        "2",
        "--resend-part",
        "1",
        *numbers,
        cwd=tmp_path,
    )
    assert sent.returncode == 0, sent.stderr
    assert [json.loads(line)["sent_part"] for line in sent.stdout.splitlines()] == [1, 1, 2]

    read = run_foreign(
        "event_consumer.py",
        *common,
        "--external-id",
        external_id,
        "--timeout-s",
        "150",
        cwd=tmp_path,
        timeout_s=180,
    )
    events = [(e.entry_id, e.fields) for e in store.read_events()][-20:]
    assert read.returncode == 0, (
        read.stdout[-2000:],
        read.stderr[-2000:],
        events,
        worker_pool.logs()[-5000:],
    )
    outcomes = [json.loads(line) for line in read.stdout.splitlines()]
    assert sorted(o["phone"] for o in outcomes) == sorted(numbers)
    assert {o["state"] for o in outcomes} <= set(TERMINAL_STATES)
    assert {o["ref"] for o in outcomes} == {f"row-{i}" for i in range(40)}

    record = read_intake(store, external_id)
    assert record is not None
    assert record.state == "submitted"
    assert record.received_parts == 2
    assert record.report is not None
    assert record.report["accepted"] == 40
    assert store.list_campaigns() == [record.campaign_id]
    creates = sandbox.stats()["creates_per_phone"]
    assert sorted(creates) == sorted(numbers)
    assert max(creates.values()) == 1
