"""Export end to end: `dispatcher export` writes each contact's outcome as the provider reported
it (hang-up cause, IVR digit and answers, cost, recording, timestamps) and its earlier attempts.

Every exported value is checked against the sandbox's own `apiCalls/get` answer for that call.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from dispatcher.controls import Controls
from dispatcher.queue import make_enqueue
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.campaigns import (
    assert_consistent,
    phones,
    provider_details,
    run_cli,
    submit,
    wait_until_finished,
)
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow

CALL = {
    "dutyPhone": 1,
    "needRecording": 1,
    "record": {"text": "Your order is ready. Press 1 to collect it today.", "gender": 0},
    "ivrs": [{"digit": 1, "smsText": "See you today."}],
}
OUTCOME_COLUMNS = {
    "hangup_cause": "hangupCause",
    "ivr_digit": "ivrDigit",
    "ivr_answers": "ivrAnswers",
    "cost": "cost",
    "record_path": "recordFilePath",
    "started_at": "startedAt",
    "answered_at": "answeredAt",
    "finished_at": "finishedAt",
    "provider_status": "status",
}


def provider_calls(sandbox: Any, call_ids: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(api call id, phone) -> the sandbox's details of that phone's call."""
    details = provider_details(sandbox.url, call_ids)
    return {(str(d["id"]), c["phone"]): c for d in details for c in d["calls"]}


def same(exported: str, reported: Any) -> bool:
    """A CSV cell against the provider's JSON value."""
    if reported is None:
        return exported == ""
    if isinstance(reported, int | float) and not isinstance(reported, bool):
        return float(exported) == float(reported)
    return exported == str(reported)


def test_the_cli_export_carries_each_outcome_as_the_provider_reported_it_and_earlier_attempts(
    settings: Settings, store: StateStore, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    sandbox.configure(outcomes={"no_answer": 1.0})
    worker_pool.start(worker_env(settings, sandbox.url, provider_rate_per_s=30), count=1, threads=4)
    rows = [{"phone": p, "name": f"Customer {i}"} for i, p in enumerate(phones(6))]
    retry = {"no_answer": {"max_attempts": 2, "interval_s": 0.5}}
    cid = submit(settings, store, 6, contacts=rows, batch_size=3, call=CALL, retry=retry)
    campaign_id = cid.campaign_id
    assert campaign_id is not None
    # First dials unanswered; paused while they are reconciled, then the redials are answered
    # and press 1.
    controls = Controls(store, make_enqueue(settings, store.client))
    assert wait_for(lambda: len(sandbox.stats()["creates_per_phone"]) == 6, 30)
    controls.pause(campaign_id)
    assert wait_for(lambda: all(r.fields.get("hist") for r in store.iter_contacts(campaign_id)), 30)
    sandbox.configure(outcomes={"completed": 1.0}, ivr_press_probability=1.0)
    controls.resume(campaign_id)
    assert wait_until_finished(store, campaign_id), store.counts(campaign_id)
    assert assert_consistent(store, campaign_id, 6) == {"completed": 6}

    out = tmp_path / "results.csv"
    done = run_cli(settings, "export", campaign_id, "-o", str(out))
    assert done.returncode == 0, done.stderr
    with out.open(newline="", encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert sorted(r["phone"] for r in exported) == phones(6)
    assert {"phone", "state", "attempts", "api_call_id", "earlier_attempts", "data"} <= set(
        exported[0]
    )
    assert set(OUTCOME_COLUMNS) <= set(exported[0])

    first_ids = {json.loads(r["earlier_attempts"])[0]["c"] for r in exported}
    calls = provider_calls(sandbox, {r["api_call_id"] for r in exported} | set(map(str, first_ids)))
    for row in exported:
        reported = calls[(row["api_call_id"], row["phone"])]
        assert row["state"] == "completed"
        assert row["attempts"] == "2"
        for column, field in OUTCOME_COLUMNS.items():
            assert same(row[column], reported[field]), (column, row[column], reported[field])
        assert float(row["cost"]) > 0
        assert row["record_path"]
        assert row["ivr_digit"] == "1"
        assert int(row["started_at"]) <= int(row["answered_at"]) <= int(row["finished_at"])
        # The first, unanswered dial is kept as an earlier attempt, as the provider reported it.
        [earlier] = json.loads(row["earlier_attempts"])
        first = calls[(str(earlier["c"]), row["phone"])]
        assert str(earlier["c"]) != row["api_call_id"]
        assert (earlier["s"], earlier["h"], earlier["fin"]) == (
            "no_answer",
            first["hangupCause"],
            first["finishedAt"],
        )
        assert json.loads(row["data"]) == {"name": f"Customer {phones(6).index(row['phone'])}"}
