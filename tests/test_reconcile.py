from __future__ import annotations

from typing import Any

import pytest

from dispatcher.effebot.responses import CallDetails
from dispatcher.lifecycle import CampaignStatus
from dispatcher.progress import compute_progress
from dispatcher.reconcile import plan_updates, reconcile_call
from dispatcher.settings import Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore, now_ms


def details(*calls: dict[str, Any], call_id: int = 9) -> CallDetails:
    return CallDetails.model_validate({"id": call_id, "calls": list(calls)})


def test_final_and_open_calls_are_told_apart() -> None:
    updates, final = plan_updates(
        details(
            {
                "phone": "1",
                "status": "completed",
                "hangupCause": 16,
                "answeredAt": 10,
                "finishedAt": 20,
            },
            {"phone": "2", "status": "dialing"},
        )
    )
    assert [(u.phone, u.state) for u in updates] == [("1", "completed"), ("2", "")]
    assert not final
    assert updates[0].detail == {"st": "completed", "h": 16, "ans": 10, "fin": 20}


def test_unknown_status_with_finished_at_is_final_and_kept_raw() -> None:
    updates, final = plan_updates(
        details({"phone": "1", "status": "weird-new-thing", "hangupCause": 17, "finishedAt": 5})
    )
    assert final
    assert updates[0].state == "busy"
    assert updates[0].detail["st"] == "weird-new-thing"


def test_details_without_calls_are_not_final() -> None:
    assert plan_updates(details()) == ([], False)


@pytest.fixture
def store(settings: Settings, redis_client: Any) -> StateStore:
    s = StateStore(redis_client, settings.key_prefix)
    spec = parse_spec({"name": "t", "call": {"dutyPhone": 1, "record": {"text": "Hi"}}})
    s.create_campaign("c", "t", spec.to_json())
    s.add_contacts("c", 10, [("11", "", ""), ("12", "", "")])
    s.complete_submission("c", CampaignStatus.RUNNING, {})
    claim = s.claim_batch("c", 1, 60_000, "t")
    s.mark_sent("c", 1, "t", "9", claim.phones, now_ms())
    return s


def test_to_block_puts_the_number_on_the_dnc_list(store: StateStore) -> None:
    d = details(
        {"phone": "11", "status": "completed", "finishedAt": 5, "toBlock": 1, "ivrDigit": 2},
        {"phone": "12", "status": "no_answer", "finishedAt": 5, "hangupCause": 19},
    )
    assert reconcile_call(store, "c", d, next_due_ms=now_ms(), source="test")
    assert store.dnc_contains("11")
    assert not store.dnc_contains("12")
    record = store.contact("c", "11")
    assert record is not None
    assert (record.state, record.fields["d"], record.fields["tb"]) == ("completed", 2, 1)
    assert store.next_poll_due_ms("c") is None


def test_a_call_not_final_stays_scheduled(store: StateStore) -> None:
    due = now_ms() + 60_000
    d = details({"phone": "11", "status": "dialing"}, {"phone": "12", "status": "planned"})
    assert not reconcile_call(store, "c", d, next_due_ms=due, source="test")
    assert store.next_poll_due_ms("c") == due
    assert store.counts("c") == {"sent": 2}


def test_progress_rate_and_eta() -> None:
    meta = {"id": "c", "name": "n", "status": "running", "submitted_at": "0", "created_at": "0"}
    progress = compute_progress(meta, {"completed": 50, "sent": 50}, now_ms=10_000)
    assert (progress.total, progress.done, progress.open) == (100, 50, 50)
    assert progress.rate_per_s == 5.0
    assert progress.eta_s == 10.0
    idle = compute_progress(meta, {"pending": 10}, now_ms=10_000)
    assert idle.rate_per_s is None
    assert idle.eta_s is None
