"""GET /metrics, and the pure parts of metrics and source addresses."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
from hypothesis import assume, given
from hypothesis import strategies as st

from dispatcher.api.sources import client_address, networks, source_allowed
from dispatcher.effebot.responses import CallDetails
from dispatcher.metrics import poll_lag_s
from dispatcher.webhook_tokens import webhook_token
from tests.api.conftest import SPEC, WEBHOOK_SECRET, phones


def test_metrics_show_contacts_by_state_per_campaign_and_webhook_receipts(
    client: httpx.Client,
) -> None:
    cid = client.post("/campaigns", json={"spec": SPEC, "contacts": phones(3)}).json()
    token = webhook_token(WEBHOOK_SECRET, cid["campaign_id"])
    client.post(f"/webhooks/effebot/{token}", json={"neither": True})
    text = client.get("/metrics").text
    assert f'dispatcher_contacts{{campaign_id="{cid["campaign_id"]}",state="pending"}} 3.0' in text
    assert 'dispatcher_webhook_receipts_total{kind="unknown",outcome="invalid_request"}' in text
    assert 'dispatcher_http_requests_total{method="POST",route="/campaigns",status="201"}' in text
    assert "dispatcher_http_request_duration_seconds_bucket" in text
    for phone in phones(3):
        assert phone not in text


def test_poll_lag_is_measured_from_the_last_finished_phone_and_only_when_all_finished() -> None:
    details = CallDetails.model_validate(
        {"id": 1, "calls": [{"phone": "1", "finishedAt": 1000}, {"phone": "2", "finishedAt": 1010}]}
    )
    assert poll_lag_s(details, now_s=1015.0) == 5.0
    open_call = CallDetails.model_validate(
        {"id": 1, "calls": [{"phone": "1", "finishedAt": 1000}, {"phone": "2"}]}
    )
    assert poll_lag_s(open_call, now_s=1015.0) is None
    assert poll_lag_s(CallDetails.model_validate({"id": 1, "calls": []}), 1.0) is None


TRUSTED = networks(["10.0.0.0/8", "127.0.0.1"])
addresses = st.ip_addresses(v=4).map(str)


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert client_address("203.0.113.9", "209.97.136.240", TRUSTED) == "203.0.113.9"


def test_behind_trusted_proxies_the_last_untrusted_hop_is_the_client() -> None:
    forwarded = "1.2.3.4, 209.97.136.240, 10.1.1.1"
    assert client_address("127.0.0.1", forwarded, TRUSTED) == "209.97.136.240"


def trusted(address: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network("10.0.0.0/8") or (
        address == "127.0.0.1"
    )


@given(st.lists(addresses, max_size=5), addresses)
def test_a_client_can_never_choose_its_address_by_writing_forwarded_for(
    spoofed: list[str], peer: str
) -> None:
    assume(not trusted(peer))
    assert client_address(peer, ", ".join(spoofed), TRUSTED) == peer


@given(st.lists(addresses, min_size=1, max_size=5))
def test_behind_a_trusted_proxy_the_answer_is_the_rightmost_untrusted_hop(hops: list[str]) -> None:
    found = client_address("127.0.0.1", ", ".join(hops), TRUSTED)
    untrusted = [hop for hop in hops if not trusted(hop)]
    assert found == (untrusted[-1] if untrusted else hops[0])


def test_an_empty_allow_list_allows_everyone_and_a_listed_range_only_its_members() -> None:
    assert source_allowed("8.8.8.8", ())
    allowed = networks(["209.97.136.240"])
    assert source_allowed("209.97.136.240", allowed)
    assert not source_allowed("209.97.136.241", allowed)
    assert not source_allowed(None, allowed)
    assert not source_allowed("not-an-ip", allowed)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of `name` with exactly `labels`, if present."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def test_metrics_show_queue_depths_campaign_statuses_and_no_worker_for_a_producer(
    client: httpx.Client, api_settings: Any
) -> None:
    queue = api_settings.queue_name
    created = client.post("/campaigns", json={"spec": SPEC, "contacts": phones(3)}).json()
    text = client.get("/metrics").text
    # 3 contacts in batches of 2: two send_batch messages wait, nobody consumes them.
    assert sample(text, "dispatcher_queue_messages", queue=queue, state="ready") == 2
    assert sample(text, "dispatcher_queue_messages", queue=f"{queue}-poll", state="ready") == 0
    assert sample(text, "dispatcher_dead_letters", queue=queue) == 0
    assert sample(text, "dispatcher_campaigns", status="running") == 1
    assert sample(text, "dispatcher_campaigns", status="paused") == 0
    # The API enqueued (so its broker heartbeats), but it is not a worker.
    assert sample(text, "dispatcher_workers_alive") == 0
    assert sample(text, "dispatcher_provider_rate_limit_per_second") == 10
    assert (sample(text, "dispatcher_redis_memory_used_bytes") or 0) > 0
    assert sample(text, "dispatcher_redis_memory_max_bytes") is not None
    assert sample(text, "dispatcher_provider_balance") is None  # no DISPATCHER_MIN_BALANCE
    paused = client.post(f"/campaigns/{created['campaign_id']}/pause", json={"reason": "lunch"})
    assert paused.status_code == 200, paused.text
    text = client.get("/metrics").text
    assert sample(text, "dispatcher_campaigns", status="paused") == 1
    # An operator's pause is not a guard's.
    assert "dispatcher_campaign_auto_paused{" not in text
