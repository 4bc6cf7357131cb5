"""The inspection routes count what the sandbox saw: requests, creates per phone, peak rates."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.sandbox.stats import SlidingWindow
from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import KEY, call_body, post


def test_requests_are_counted_per_endpoint_and_status(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    post(client, "/apiCalls/create", call_body())
    post(client, "/apiCalls/create", call_body(phone="123456789012"))
    post(client, "/apiCalls/userInfo", {"apiKey": "wrong"})
    requests = sandbox.stats()["requests"]
    assert requests == {
        "/apiCalls/create": {"200": 1, "422": 1},
        "/apiCalls/userInfo": {"401": 1},
    }


def test_creates_per_phone_count_only_applied_creates(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    post(client, "/apiCalls/create", call_body(phone="1"))
    post(client, "/apiCalls/create", call_body(phone=None, phones=["1", "2"]))
    post(client, "/apiCalls/create", call_body(phone="3", outgoingPhone="1"))  # 422
    sandbox.configure(balance=0)
    post(client, "/apiCalls/create", call_body(phone="4"))  # 402
    assert sandbox.stats()["creates_per_phone"] == {"1": 2, "2": 1}


def test_the_peak_rate_is_the_most_requests_in_any_second_per_endpoint_and_overall(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    for _ in range(12):
        post(client, "/apiCalls/userInfo")
    post(client, "/apiCalls/getPhones")
    stats = sandbox.stats()
    # The exact arithmetic is checked on explicit times below; over HTTP the count in one second
    # depends on how fast this process sends, so only the bounds are load-independent.
    by_endpoint = stats["peak_rps_by_endpoint"]
    assert set(by_endpoint) == {"/apiCalls/userInfo", "/apiCalls/getPhones"}
    assert by_endpoint["/apiCalls/getPhones"] == 1
    assert 1 <= by_endpoint["/apiCalls/userInfo"] <= 12
    assert by_endpoint["/apiCalls/userInfo"] <= stats["peak_rps"] <= 13


def window_peak(arrivals_s: list[float]) -> int:
    window = SlidingWindow()
    for at in arrivals_s:
        window.add(at)
    return window.peak


def test_a_second_is_half_open_so_arrivals_exactly_one_second_apart_never_share_one() -> None:
    assert window_peak([0.0, 1.0, 2.0, 3.0]) == 1
    assert window_peak([0.0, 0.999, 1.0]) == 2
    assert window_peak([0.1 * i for i in range(25)]) == 10


def test_an_arrival_handled_late_is_counted_in_every_second_it_belongs_to() -> None:
    # Stamped 0.0, 0.5, 0.9, but the one stamped 0.5 is handled last.
    assert window_peak([0.0, 0.9, 0.5]) == 3
    # Handled after later arrivals: it belongs with 0.95 and 1.4, not with 0.1.
    assert window_peak([0.1, 0.95, 1.4, 1.2]) == 3
    # More than a second late: its seconds were judged already.
    assert window_peak([0.0, 0.2, 2.5, 1.0]) == 2


@settings(max_examples=200)
@given(st.lists(st.integers(0, 5_000), min_size=1, max_size=40), st.randoms())
def test_the_peak_is_the_most_arrivals_in_any_second_whatever_the_handling_order(
    stamps_ms: list[int], rng: Any
) -> None:
    # Handled in any order, as long as none is handled after an arrival a second later than it.
    arrivals = sorted(ms / 1000 for ms in stamps_ms)
    order = sorted(arrivals, key=lambda at: (int(at), rng.random()))
    expected = max(sum(1 for b in arrivals if a - 1.0 < b <= a) for a in arrivals)
    assert window_peak(order) == expected


def test_arrivals_are_stamped_by_the_kernel_not_when_the_sandbox_gets_to_them(
    sandbox: SandboxProcess,
) -> None:
    """Six requests, each sent at least 0.3 s after the previous one, reach a stopped sandbox; it
    handles them all at once when it continues, yet no second holds more than four of them."""
    process = sandbox._process  # the subprocess: SIGSTOP is what a starved event loop looks like
    assert process is not None
    url = httpx.URL(sandbox.url)
    body = json.dumps({"apiKey": KEY}).encode()
    request = (
        f"POST /apiCalls/userInfo HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    sockets: list[socket.socket] = []
    os.kill(process.pid, signal.SIGSTOP)
    try:
        # One sender, one request after the other: a late wake-up only spreads them further
        # apart, so the spacing holds on a loaded machine (threads woken late would bunch).
        for index in range(6):
            if index:
                time.sleep(0.3)
            conn = socket.create_connection((url.host, url.port), timeout=60)
            conn.sendall(request)
            sockets.append(conn)
    finally:
        os.kill(process.pid, signal.SIGCONT)
    for conn in sockets:
        with conn:
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    stats = sandbox.stats()
    assert stats["requests"]["/apiCalls/userInfo"] == {"200": 6}
    assert stats["peak_rps"] <= 4


def test_stats_report_calls_by_status_balance_and_the_simulated_time(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    post(client, "/apiCalls/create", call_body(plannedAt=4_000_000_000))
    stats = sandbox.stats()
    assert stats["calls_by_status"] == {"planned": 1}
    assert stats["balance"] == 1000.0 - 0.01
    assert stats["sim_now"] > 1_700_000_000
    assert stats["webhooks"]["sent"] == 0


def test_reset_clears_calls_records_stats_and_faults(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    record_id = post(
        client, "/apiCalls/createRecord", {"source": "text", "text": "t", "name": "n"}
    ).json()["id"]
    post(client, "/apiCalls/create", call_body(record={"id": record_id, "gender": 0}))
    sandbox.configure(error_rate=1.0)
    post(client, "/apiCalls/userInfo")
    sandbox.configure(error_rate=0.0)
    sandbox.reset()
    stats = sandbox.stats()
    assert stats["requests"] == stats["creates_per_phone"] == stats["calls_by_status"] == {}
    assert stats["faults"] == []
    assert stats["balance"] == 1000.0
    response = post(client, "/apiCalls/create", call_body(record={"id": record_id, "gender": 0}))
    assert response.status_code == 422
