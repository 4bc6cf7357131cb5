"""Claiming and recording a batch rewrite the common record as a string, every other shape with
cjson: both must give the same record, for every shape a contact record can take (issue 13)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from dispatcher.lifecycle import CampaignStatus
from dispatcher.store import StateStore, now_ms

PHONE = "15550000001"
OTHER = "15550000002"


def _campaign(store: StateStore, raw: str) -> str:
    """Campaign c1 with batch 1 = [PHONE, OTHER]; PHONE's record replaced by `raw`."""
    store.create_campaign("c1", "test", "{}")
    store.add_contacts("c1", 2, [(PHONE, "", ""), (OTHER, "", "")])
    store.complete_submission("c1", CampaignStatus.RUNNING, {})
    store.client.hset(store.campaign_keys("c1").contacts, PHONE, raw)
    return "c1"


def _record(store: StateStore, phone: str = PHONE) -> dict[str, Any]:
    raw = store.client.hget(store.campaign_keys("c1").contacts, phone)
    assert raw is not None
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


# Every shape a record of batch 1 can have when its batch is claimed: written by add_contacts
# (with or without a zone and a ref, the ref holding text that looks like JSON keys), re-batched
# by take_retries after earlier attempts (cjson's own key order, with `a`, `c`, `hist`, `r`).
CLAIMABLE = [
    '{"s":"pending","b":1}',
    '{"s":"pending","b":1,"z":"America/New_York","x":"r-1"}',
    '{"s":"pending","b":1,"x":"\\"a\\":5,\\"c\\":\\"9\\",\\"s\\":\\"x\\""}',
    '{"s":"pending","b":1,"a":2,"c":"7","hist":[{"c":"7","s":"no_answer"}]}',
    '{"a":1,"s":"pending","b":1,"hist":[{"c":"7","s":"busy","h":17}]}',
    '{"s":"pending","b":1,"hist":[{"c":"7","s":"busy"}],"r":"daily dial cap reached; deferred"}',
    '{"b":1,"s":"pending","x":"r-2"}',
    '{"s":"pending","b":1,"c":"7","x":"r-3"}',
    '{"s": "pending", "b": 1}',
]


@pytest.mark.parametrize("raw", CLAIMABLE)
def test_a_claimed_and_sent_record_is_the_decoded_one_changed(store: StateStore, raw: str) -> None:
    cid = _campaign(store, raw)
    before = json.loads(raw)
    claim = store.claim_batch(cid, 1, 60_000, "tok", daily_cap=3)
    assert claim.outcome == "claimed"
    assert claim.phones == (PHONE, OTHER)
    assert _record(store) == {**before, "s": "sending", "a": before.get("a", 0) + 1}
    assert store.counts(cid) == {"sending": 2}
    sent = store.mark_sent(cid, 1, "tok", "901", claim.phones, now_ms() + 60_000)
    assert (sent.moved, sent.late) == (2, False)
    assert _record(store) == {**before, "s": "sent", "a": before.get("a", 0) + 1, "c": "901"}
    assert _record(store, OTHER) == {"s": "sent", "b": 1, "a": 1, "c": "901"}
    assert store.counts(cid) == {"sent": 2}
    assert cid in store.active_campaigns()


@pytest.mark.parametrize(
    "raw",
    [
        '{"s":"pending","b":12}',  # another batch whose number starts with this one's
        '{"s":"pending","b":10,"x":"r"}',
        '{"s":"pending"}',  # waiting in the retry set, not batched yet
        '{"s":"sent","b":1,"c":"3","a":1}',
        '{"s":"pending","b":"1x"}',
    ],
)
def test_a_record_not_pending_in_this_batch_is_left_alone(store: StateStore, raw: str) -> None:
    cid = _campaign(store, raw)
    claim = store.claim_batch(cid, 1, 60_000, "tok")
    assert claim.phones == (OTHER,)
    assert store.client.hget(store.campaign_keys(cid).contacts, PHONE) == raw.encode()
    store.mark_sent(cid, 1, "tok", "901", [PHONE, OTHER], now_ms() + 60_000)
    assert store.client.hget(store.campaign_keys(cid).contacts, PHONE) == raw.encode()


def test_a_phone_listed_twice_in_a_batch_is_claimed_once(store: StateStore) -> None:
    cid = _campaign(store, '{"s":"pending","b":1}')
    store.client.rpush(store.campaign_keys(cid).batch_phones(1), PHONE)
    claim = store.claim_batch(cid, 1, 60_000, "tok", daily_cap=5)
    assert claim.phones == (PHONE, OTHER)
    assert _record(store)["a"] == 1
    assert store.counts(cid) == {"sending": 2}
    today = store.client.keys(f"{store.keys.prefix}*dial*")
    assert today
    assert store.client.hget(today[0], PHONE) == b"1"
    sent = store.mark_sent(cid, 1, "tok", "901", [PHONE, OTHER, PHONE], now_ms() + 60_000)
    assert sent.moved == 2
    assert store.counts(cid) == {"sent": 2}


def test_the_daily_cap_counts_every_claim_and_defers_the_capped(store: StateStore) -> None:
    cid = _campaign(store, '{"s":"pending","b":1}')
    key = store.keys.dial_counts(time.strftime("%Y%m%d", time.gmtime()))
    store.client.hset(key, OTHER, 2)
    claim = store.claim_batch(cid, 1, 60_000, "tok", daily_cap=2)
    assert claim.phones == (PHONE,)
    assert store.client.hget(key, PHONE) == b"1"
    assert store.client.pttl(key) > 0
    assert _record(store, OTHER) == {"s": "pending", "r": "daily dial cap reached; deferred"}
    assert store.counts(cid) == {"sending": 1, "pending": 1}


def test_a_late_success_keeps_unknown_and_learns_its_call(store: StateStore) -> None:
    cid = _campaign(store, '{"s":"pending","b":1}')
    claim = store.claim_batch(cid, 1, 60_000, "tok")
    assert store.expire_lease(cid, 1, "lease ran out") is None  # not yet run out
    store.client.hset(store.campaign_keys(cid).batch(1), "lease_until", 0)
    store.client.zadd(store.campaign_keys(cid).leases, {"1": 0})
    assert store.expire_lease(cid, 1, "lease ran out") is not None
    sent = store.mark_sent(cid, 1, "tok", "901", claim.phones, now_ms() + 60_000)
    assert (sent.moved, sent.late) == (0, True)
    record = _record(store)
    assert (record["s"], record["c"], record["late"]) == ("unknown", "901", 1)
    assert store.counts(cid) == {"unknown": 2}


def test_the_claim_checks_the_epoch_marker(store: StateStore) -> None:
    cid = _campaign(store, '{"s":"pending","b":1}')
    epoch, _ = store.establish_epoch("test")
    assert store.claim_batch(cid, 1, 60_000, "a", epoch_id="another").outcome == "untrusted"
    store.flag_epoch_lost(epoch.id, "flushed", "test")
    assert store.claim_batch(cid, 1, 60_000, "a", epoch_id=epoch.id).outcome == "untrusted"
    store.client.delete(store.keys.epoch)
    assert store.claim_batch(cid, 1, 60_000, "a", epoch_id=epoch.id).outcome == "untrusted"
    assert store.counts(cid) == {"pending": 2}  # nothing was claimed
    fresh, _ = store.establish_epoch("test")
    assert store.claim_batch(cid, 1, 60_000, "a", epoch_id=fresh.id).outcome == "claimed"
