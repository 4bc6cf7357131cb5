"""Each injected fault behaves as specified: what is applied, what the client sees, the log."""

from __future__ import annotations

import time

import httpx
import pytest

from dispatcher.sandbox.testing import SandboxProcess
from tests.sandbox.helpers import call_body, get_calls, post


def test_an_injected_5xx_is_not_applied(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(error_rate=1.0)
    statuses = {post(client, "/apiCalls/create", call_body()).status_code for _ in range(10)}
    assert statuses <= {500, 502, 503}
    sandbox.configure(error_rate=0.0)
    assert get_calls(client, *range(1, 11)) == []
    stats = sandbox.stats()
    assert stats["creates_per_phone"] == {}
    assert len(stats["faults"]) == 10
    assert all(f["kind"] == "error" and not f["applied"] for f in stats["faults"])
    assert stats["faults"][0]["phones"] == ["15550000001"]


def test_some_injected_5xx_have_an_html_body(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(error_rate=1.0)
    kinds = {
        post(client, "/apiCalls/userInfo").headers["content-type"].split(";")[0] for _ in range(20)
    }
    assert kinds == {"text/html", "application/json"}


def test_a_dropped_request_is_applied_and_the_connection_cut(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, "/apiCalls/create", call_body(phone=None, phones=["15550000001", "2"]))
    sandbox.configure(drop_rate=0.0)
    [details] = get_calls(client, 1)
    assert [c["phone"] for c in details["calls"]] == ["15550000001", "2"]
    stats = sandbox.stats()
    assert stats["creates_per_phone"] == {"15550000001": 1, "2": 1}
    [fault] = stats["faults"]
    assert fault == {
        "kind": "drop",
        "endpoint": "/apiCalls/create",
        "applied": True,
        "status_code": 200,
        "api_call_id": 1,
        "phones": ["15550000001", "2"],
    }


def test_a_hung_request_is_applied_and_answered_late(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(hang_rate=1.0, hang_s=30.0)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/apiCalls/create", json=call_body(), timeout=0.5)
    sandbox.configure(hang_rate=0.0)
    assert [d["id"] for d in get_calls(client, 1)] == [1]
    [fault] = sandbox.stats()["faults"]
    assert (fault["kind"], fault["applied"], fault["api_call_id"]) == ("hang", True, 1)


def test_a_hung_request_answers_after_hang_s(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(hang_rate=1.0, hang_s=0.3)
    started = time.monotonic()
    assert post(client, "/apiCalls/userInfo").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_above_the_rate_limit_requests_get_429_with_retry_after_and_are_not_applied(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(rate_limit_per_s=3)
    responses = [post(client, "/apiCalls/create", call_body()) for _ in range(5)]
    assert [r.status_code for r in responses[:3]] == [200, 200, 200]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "five requests in well under a second exceed 3/s"
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    sandbox.configure(rate_limit_per_s=None)
    assert len(get_calls(client, *range(1, 6))) == 5 - len(limited)
    faults = sandbox.stats()["faults"]
    assert [f["kind"] for f in faults] == ["rate_limited"] * len(limited)
    assert not any(f["applied"] for f in faults)


def test_a_share_of_requests_gets_429_whatever_the_pace(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(rate_limited_rate=0.5)
    responses = [post(client, "/apiCalls/create", call_body()) for _ in range(60)]
    limited = [r for r in responses if r.status_code == 429]
    # 60 draws at one half: fewer than 10 or more than 50 429s has odds below one in a million.
    assert 10 <= len(limited) <= 50
    assert {r.headers["retry-after"] for r in limited} == {"1"}
    sandbox.configure(rate_limited_rate=0.0)
    assert len(get_calls(client, *range(1, 61))) == 60 - len(limited)
    faults = sandbox.stats()["faults"]
    assert [f["kind"] for f in faults] == ["rate_limited"] * len(limited)
    assert not any(f["applied"] for f in faults)


def test_the_rate_limit_admits_again_after_the_window(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(rate_limit_per_s=1)
    # Requests one after the other until two land within a second (the first pair does, unless
    # the machine stalls this test for a second).
    statuses = [post(client, "/apiCalls/userInfo") for _ in range(2)]
    while statuses[-1].status_code != 429:
        assert len(statuses) < 20, [r.status_code for r in statuses]
        statuses.append(post(client, "/apiCalls/userInfo"))
    assert statuses[0].status_code == 200
    time.sleep(int(statuses[-1].headers["retry-after"]) + 0.05)
    assert post(client, "/apiCalls/userInfo").status_code == 200


def test_latency_is_added_to_api_requests(client: httpx.Client, sandbox: SandboxProcess) -> None:
    sandbox.configure(latency_ms=200)
    started = time.monotonic()
    post(client, "/apiCalls/userInfo")
    assert time.monotonic() - started >= 0.2


def test_faults_never_apply_to_the_sandbox_routes(sandbox: SandboxProcess) -> None:
    sandbox.configure(error_rate=1.0, rate_limit_per_s=1, latency_ms=500)
    started = time.monotonic()
    for _ in range(5):
        sandbox.stats()
    assert time.monotonic() - started < 2.5
    assert sandbox.stats()["faults"] == []


def test_an_unknown_config_knob_is_refused(sandbox: SandboxProcess) -> None:
    with pytest.raises(Exception, match="not runtime-configurable"):
        sandbox.configure(api_keys=["other"])
    with pytest.raises(Exception, match="422"):
        sandbox.configure(error_rate=2.0)
