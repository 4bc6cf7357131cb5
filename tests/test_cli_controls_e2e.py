"""The command line's campaign controls, end to end: `dispatcher submit`, `pause`, `status`,
`resume`, `reschedule` and `cancel` as subprocesses, against real workers and the sandbox.

(What a pause does to a campaign that is dialling is proven in test_controls_e2e.py; here the
commands are driven where no timing can race them.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dispatcher.lifecycle import CampaignStatus
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import (
    SPEC,
    assert_consistent,
    phones,
    run_cli,
    wait_until_finished,
)
from tests.fixtures.workers import WorkerPool, worker_env

pytestmark = pytest.mark.slow


def cli_json(settings: Settings, *args: str) -> dict[str, Any]:
    done = run_cli(settings, *args, "--json")
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def submit_files(tmp_path: Path, n: int) -> tuple[str, str]:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**SPEC, "batch_size": 4}))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n" + "\n".join(phones(n)) + "\n")
    return str(spec), str(contacts)


def test_pause_resume_and_reschedule_from_the_command_line_drive_a_campaign_to_its_end(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=20), count=1, threads=4)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    report = cli_json(settings, "submit", *submit_files(tmp_path, 40), "--start-at", later)
    cid = report["campaign_id"]
    assert report["accepted"] == 40
    assert store.status(cid) is CampaignStatus.SCHEDULED

    # Paused before it starts (no race with the dials), with the reason `status` shows.
    assert cli_json(settings, "pause", cid, "--reason", "operator says wait")["status"] == "paused"
    status = cli_json(settings, "status", cid)
    assert status["status"] == "paused"
    assert "operator says wait" in json.dumps(status)

    # Resumed, it waits for its start again; rescheduled to now, it runs to the end.
    assert cli_json(settings, "resume", cid)["status"] == "scheduled"
    assert store.status(cid) is CampaignStatus.SCHEDULED
    assert sandbox.stats()["creates_per_phone"] == {}
    now = datetime.now(UTC).isoformat()
    assert cli_json(settings, "reschedule", cid, now)["status"] == "scheduled"
    assert wait_until_finished(store, cid), store.counts(cid)
    assert_consistent(store, cid, 40)
    assert sandbox.stats()["creates_per_phone"] == dict.fromkeys(phones(40), 1)


def test_cancel_from_the_command_line_ends_every_unsent_contact(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    report = cli_json(settings, "submit", *submit_files(tmp_path, 12), "--start-at", later)
    cid = report["campaign_id"]
    worker_pool.start(worker_env(settings, sandbox.url), count=1, threads=2)
    assert cli_json(settings, "cancel", cid)["status"] == "cancelled"
    assert store.status(cid) is CampaignStatus.CANCELLED
    assert assert_consistent(store, cid, 12) == {"cancelled": 12}
    refused = run_cli(settings, "pause", cid)
    assert refused.returncode == 1
    assert "cancelled" in refused.stderr + refused.stdout
    assert sandbox.stats()["creates_per_phone"] == {}
