"""The event stream: every script that ends a contact publishes it, in the same step."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from dispatcher.lifecycle import CampaignStatus
from dispatcher.store import CallView, StateStore, StreamEntry


def outcomes(entries: list[StreamEntry]) -> list[dict[str, Any]]:
    found = []
    for entry in entries:
        if entry.fields["type"] == "contacts":
            found += json.loads(entry.fields["contacts"])
    return found


def statuses(entries: list[StreamEntry]) -> list[tuple[str, str, str]]:
    return [
        (e.fields["status"], e.fields["previous"], e.fields["ended"])
        for e in entries
        if e.fields["type"] == "campaign"
    ]


def submitted(store: StateStore, phones: list[str], batch_size: int = 2) -> None:
    store.create_campaign("c", "events", "{}")
    store.add_contacts("c", batch_size, [(p, "", "", f"ref-{p}") for p in phones])
    assert store.complete_submission("c", CampaignStatus.RUNNING, {})


def test_blocked_contacts_are_published_as_they_are_added_and_a_discarded_draft_too(
    store: StateStore,
) -> None:
    store.dnc_add(["11"])
    store.create_campaign("c", "events", "{}")
    assert store.add_contacts("c", 10, [("11", "", "", "mine-1"), ("12", "", "", "")]) == [2, 1]
    assert outcomes(store.read_events()) == [
        {"phone": "11", "state": "blocked", "reason": "do-not-call list", "ref": "mine-1"}
    ]
    store.delete_campaign("c")
    assert statuses(store.read_events()) == [("discarded", "draft", "1")]


def test_a_draft_that_published_nothing_leaves_nothing_when_discarded(store: StateStore) -> None:
    store.create_campaign("c", "events", "{}")
    store.add_contacts("c", 10, [("12", "", "")])
    store.delete_campaign("c")
    assert store.read_events() == []


def test_a_campaign_s_life_is_published_with_every_outcome_once_and_the_end_last(
    store: StateStore,
) -> None:
    submitted(store, ["11", "12", "13", "14", "15", "16"])
    # batch 1: claimed, the provider answers: one completed, one left out of a final answer
    claim = store.claim_batch("c", 1, 60_000, "t1")
    store.mark_sent("c", 1, "t1", "900", claim.phones, due_ms=0)
    done = {"st": "completed"}
    store.reconcile_many("c", [CallView("900", [("11", "completed", done)], 0, True)])
    # batch 2: a number put on the DNC list before the claim
    store.dnc_add(["13"])
    claim2 = store.claim_batch("c", 2, 60_000, "t2")
    assert claim2.phones == ("14",)
    # the claimed one is given back; the campaign is paused then cancelled
    store.set_status("c", CampaignStatus.PAUSED, [CampaignStatus.RUNNING])
    store.set_status("c", CampaignStatus.CANCELLED, [CampaignStatus.PAUSED])
    assert store.release_batch("c", 2, "t2", claim2.phones, deadline_ms=0) == "cancelled"
    store.finish_batch("c", 3, "cancelled", "campaign cancelled", "cancelled", only_if="pending")
    entries = store.read_events()
    states = {o["phone"]: o["state"] for o in outcomes(entries)}
    assert states == {
        "11": "completed",
        "12": "unknown",
        "13": "blocked",
        "14": "cancelled",
        "15": "cancelled",
        "16": "cancelled",
    }
    assert Counter(o["phone"] for o in outcomes(entries)).most_common(1)[0][1] == 1
    assert {o["ref"] for o in outcomes(entries)} == {f"ref-{p}" for p in states}
    assert statuses(entries) == [
        ("running", "draft", "0"),
        ("paused", "running", "0"),
        ("cancelled", "paused", "0"),
        ("cancelled", "cancelled", "1"),  # ended: every contact closed
    ]
    assert entries[-1].fields["type"] == "campaign"  # the end comes after the last outcome


def test_a_finished_campaign_publishes_finished_once_after_its_outcomes(
    store: StateStore,
) -> None:
    submitted(store, ["11", "12"])
    claim = store.claim_batch("c", 1, 60_000, "t1")
    store.mark_sent("c", 1, "t1", "900", claim.phones, due_ms=0)
    update = [("11", "no_answer", {}), ("12", "completed", {})]
    store.reconcile_many("c", [CallView("900", update, 0, True)])
    store.reconcile_many("c", [CallView("900", update, 0, True)])  # applied again: nothing new
    store.finish_if_done("c")
    entries = store.read_events()
    assert [e.fields["type"] for e in entries] == ["campaign", "contacts", "campaign"]
    assert statuses(entries)[-1] == ("finished", "running", "1")


def test_waiting_retries_closed_by_a_cancel_are_published(store: StateStore) -> None:
    submitted(store, ["11"])
    claim = store.claim_batch("c", 1, 60_000, "t1")
    store.mark_sent("c", 1, "t1", "900", claim.phones, due_ms=0)
    policy = json.dumps({"no_answer": [3, 1000]})
    store.reconcile_many("c", [CallView("900", [("11", "no_answer", {})], 0, True)], policy)
    assert outcomes(store.read_events()) == []  # waiting for another attempt: not final
    store.set_status("c", CampaignStatus.CANCELLED, [CampaignStatus.RUNNING])
    assert store.close_retries("c", "cancelled", "campaign cancelled") == 1
    assert [o["state"] for o in outcomes(store.read_events())] == ["cancelled"]


def test_a_late_success_replaces_unknown_with_a_second_outcome(store: StateStore) -> None:
    submitted(store, ["11"])
    claim = store.claim_batch("c", 1, 1, "t1")
    time.sleep(0.01)
    assert store.expire_lease("c", 1, "lease ran out") is not None
    store.mark_sent("c", 1, "t1", "900", claim.phones, due_ms=0)  # the create had worked
    store.reconcile_many("c", [CallView("900", [("11", "completed", {})], 0, True)])
    assert [o["state"] for o in outcomes(store.read_events())] == ["unknown", "completed"]
