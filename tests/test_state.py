from __future__ import annotations

from typing import Any

import pytest

from dispatcher.errors import CampaignNotFound
from dispatcher.lifecycle import CampaignStatus
from dispatcher.store import TERMINAL_STATES, StateStore, now_ms


def _campaign(store: StateStore, phones: list[str], batch_size: int = 2) -> str:
    store.create_campaign("c1", "test", "{}")
    store.add_contacts("c1", batch_size, [(p, "", "") for p in phones])
    store.complete_submission("c1", CampaignStatus.RUNNING, {})
    return "c1"


def _sum_matches(store: StateStore, campaign_id: str) -> None:
    counts = store.counts(campaign_id)
    states: dict[str, int] = {}
    for record in store.iter_contacts(campaign_id):
        states[record.state] = states.get(record.state, 0) + 1
    assert counts == states


def test_contacts_are_deduplicated_blocked_and_batched(store: StateStore) -> None:
    store.dnc_add(["15550000003"])
    store.create_campaign("c1", "test", "{}")
    codes = store.add_contacts(
        "c1",
        2,
        [("15550000001", "", ""), ("15550000002", '{"n":"x"}', ""), ("15550000001", "", "")],
    )
    codes += store.add_contacts("c1", 2, [("15550000003", "", ""), ("15550000004", "", "")])
    assert codes == [1, 1, 0, 2, 1]
    assert store.batch_count("c1") == 2
    assert store.batch_phones("c1", 1) == ["15550000001", "15550000002"]
    assert store.batch_phones("c1", 2) == ["15550000004"]
    assert store.counts("c1") == {"pending": 3, "blocked": 1}
    record = store.contact("c1", "15550000002")
    assert record is not None
    assert record.data == {"n": "x"}
    _sum_matches(store, "c1")


def test_a_batch_is_claimed_once(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001", "15550000002"])
    first = store.claim_batch(cid, 1, 60_000, "a")
    second = store.claim_batch(cid, 1, 60_000, "b")
    assert first.outcome == "claimed"
    assert first.phones == ("15550000001", "15550000002")
    assert second.outcome == "sending"
    assert second.lease_until_ms > now_ms()
    assert store.counts(cid) == {"sending": 2}


def test_claim_rechecks_the_dnc_list(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001", "15550000002"])
    store.dnc_add(["15550000002"])
    claim = store.claim_batch(cid, 1, 60_000, "a")
    assert claim.phones == ("15550000001",)
    assert store.counts(cid) == {"sending": 1, "blocked": 1}
    _sum_matches(store, cid)


def test_a_batch_whose_contacts_are_all_blocked_is_done_without_a_send(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001"])
    store.dnc_add(["15550000001"])
    assert store.claim_batch(cid, 1, 60_000, "a").outcome == "empty"
    assert store.status(cid) is CampaignStatus.FINISHED


def test_sent_then_reconciled_finishes_the_campaign(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001", "15550000002"])
    claim = store.claim_batch(cid, 1, 60_000, "a")
    store.mark_sent(cid, 1, "a", "77", claim.phones, now_ms())
    assert store.counts(cid) == {"sent": 2}
    assert store.claim_due_calls(cid, 60_000, 10) == [("77", 1)]
    assert store.claim_due_calls(cid, 60_000, 10) == []  # leased
    result = store.reconcile(
        cid, "77", [("15550000001", "completed", {"h": 16}), ("15550000002", "", {})], now_ms()
    )
    assert (result.changed, result.finished) == (1, False)
    result = store.reconcile(cid, "77", [("15550000002", "busy", {"h": 17})], None)
    assert (result.changed, result.finished) == (1, True)
    assert store.status(cid) is CampaignStatus.FINISHED
    assert store.next_poll_due_ms(cid) is None
    _sum_matches(store, cid)


def test_reconcile_is_idempotent(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001"])
    claim = store.claim_batch(cid, 1, 60_000, "a")
    store.mark_sent(cid, 1, "a", "5", claim.phones, now_ms())
    for _ in range(3):
        store.reconcile(cid, "5", [("15550000001", "no_answer", {"h": 19})], None)
    # A later, different report does not change a terminal contact.
    store.reconcile(cid, "5", [("15550000001", "completed", {"h": 16})], None)
    record = store.contact(cid, "15550000001")
    assert record is not None
    assert record.state == "no_answer"
    assert record.fields["h"] == 19
    assert store.counts(cid) == {"no_answer": 1}


def test_release_gives_a_batch_back_only_to_its_claimer(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001"])
    claim = store.claim_batch(cid, 1, 60_000, "mine")
    assert store.release_batch(cid, 1, "not-mine", claim.phones, deadline_ms=now_ms()) == ""
    assert store.release_batch(cid, 1, "mine", claim.phones, deadline_ms=now_ms()) == "pending"
    assert store.counts(cid) == {"pending": 1}
    assert store.claim_batch(cid, 1, 60_000, "again").outcome == "claimed"


def test_finish_batch_ends_open_contacts_with_a_reason(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001", "15550000002"])
    store.claim_batch(cid, 1, 60_000, "a")
    moved, finished = store.finish_batch(cid, 1, "unknown", "connection dropped", "unknown")
    assert (moved, finished) == (2, True)
    record = store.contact(cid, "15550000001")
    assert record is not None
    assert (record.state, record.fields["r"]) == ("unknown", "connection dropped")
    assert store.batch_status(cid, 1)["status"] == "unknown"


def test_status_changes_only_from_the_allowed_statuses(store: StateStore) -> None:
    cid = _campaign(store, ["15550000001"])
    before = store.set_status(cid, CampaignStatus.PAUSED, [CampaignStatus.RUNNING])
    assert before is CampaignStatus.RUNNING
    before = store.set_status(cid, CampaignStatus.RUNNING, [CampaignStatus.SCHEDULED])
    assert before is CampaignStatus.PAUSED
    assert store.status(cid) is CampaignStatus.PAUSED
    with pytest.raises(CampaignNotFound):
        store.set_status("nope", CampaignStatus.PAUSED, [CampaignStatus.RUNNING])


def test_deleting_a_campaign_leaves_no_key(store: StateStore, redis_client: Any) -> None:
    cid = _campaign(store, [f"1555000{i:04d}" for i in range(7)])
    store.claim_batch(cid, 1, 60_000, "a")
    store.delete_campaign(cid)
    assert list(redis_client.scan_iter(match=f"{store.keys.prefix}:{{c:{cid}}}*")) == []
    with pytest.raises(CampaignNotFound):
        store.meta(cid)


def test_terminal_states_match_the_outcome_vocabulary() -> None:
    from dispatcher.outcomes import TERMINAL

    assert set(TERMINAL_STATES) == {s.value for s in TERMINAL}
