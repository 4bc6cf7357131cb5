"""Exports that spreadsheets cannot run, JSON parsed off the event loop, and /metrics cached,
guarded by a token or moved to a port of its own."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.api.jsonbody import INLINE_BYTES, JsonParser, NotJson
from dispatcher.api.metrics_cache import MetricsCache
from dispatcher.export import FORMULA_STARTS, csv_cells
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.api.conftest import SPEC, TOKEN, ApiServer, make_settings
from tests.api.test_webhooks import sent_campaign, url
from tests.fixtures.workers import worker_env
from tests.test_scale_e2e import WebProcess

# --- exports -------------------------------------------------------------------------------------

HOSTILE = '=HYPERLINK("http://evil.example","click")'


def _reconciled_with_hostile_strings(client: httpx.Client, store: StateStore) -> tuple[str, str]:
    cid, numbers = sent_campaign(client, store, n=1)
    call = {"phone": numbers[0], "status": HOSTILE, "finishedAt": 100, "ivrAnswers": "@SUM(A1)"}
    assert client.post(url(cid), json={"id": 777, "calls": [call]}).status_code == 200
    for answer in ("+1", "-2+3"):
        body = {"call": {"phone": numbers[0], "answer": answer}}
        assert client.post(url(cid), json=body).status_code == 200
    return cid, numbers[0]


def test_the_csv_export_neutralises_formulas_and_writes_lists_as_json(
    client: httpx.Client, store: StateStore
) -> None:
    cid, _ = _reconciled_with_hostile_strings(client, store)
    (row,) = list(csv.DictReader(io.StringIO(client.get(f"/campaigns/{cid}/results").text)))
    assert row["provider_status"] == "'" + HOSTILE
    assert row["ivr_answers"] == "'@SUM(A1)"
    assert json.loads(row["ivr_actions"]) == ["+1", "-2+3"]  # JSON, not a Python repr
    for value in row.values():
        assert not value.startswith(FORMULA_STARTS), row


def test_the_csv_export_keeps_formulas_when_asked(client: httpx.Client, store: StateStore) -> None:
    cid, _ = _reconciled_with_hostile_strings(client, store)
    response = client.get(f"/campaigns/{cid}/results", params={"keep_formulas": "true"})
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["provider_status"] == HOSTILE
    assert row["ivr_answers"] == "@SUM(A1)"


def test_the_cli_export_neutralises_too_unless_told_not_to(
    client: httpx.Client, store: StateStore, api_settings: Settings, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from dispatcher.cli import cli

    cid, _ = _reconciled_with_hostile_strings(client, store)
    env = {
        "DISPATCHER_REDIS_URL": api_settings.redis_url,
        "DISPATCHER_KEY_PREFIX": api_settings.key_prefix,
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }
    for flags, expected in (((), "'" + HOSTILE), (("--keep-formulas",), HOSTILE)):
        out = tmp_path / "out.csv"
        result = CliRunner().invoke(cli, ["export", cid, "-o", str(out), *flags], env=env)
        assert result.exit_code == 0, result.output
        (row,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
        assert row["provider_status"] == expected


@given(st.text(), st.booleans())
def test_no_neutralised_cell_starts_like_a_formula(value: str, keep: bool) -> None:
    cell = csv_cells({"c": value}, keep_formulas=keep)["c"]
    if keep:
        assert cell == value
    else:
        assert not cell.startswith(FORMULA_STARTS)
        assert cell in (value, "'" + value)


# --- JSON off the event loop ---------------------------------------------------------------------


def test_a_big_body_is_parsed_while_the_event_loop_keeps_serving() -> None:
    big = json.dumps({"contacts": [f"1201555{n:04d}" for n in range(200_000)]}).encode()
    assert len(big) > INLINE_BYTES

    async def scenario() -> int:
        ticks = 0
        parsing = True

        async def other_requests() -> None:
            nonlocal ticks
            while parsing:
                ticks += 1
                await asyncio.sleep(0)

        other = asyncio.create_task(other_requests())
        await asyncio.sleep(0)
        before = ticks
        document = await JsonParser().parse(big)
        parsing = False
        await other
        assert len(document["contacts"]) == 200_000
        return ticks - before

    # Parsed on the loop, nothing else could run until it was done: zero ticks in between.
    assert asyncio.run(scenario()) > 0


def test_at_most_the_configured_number_of_big_bodies_are_parsed_at_once() -> None:
    running = peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def slow_loads(body: bytes) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        return json.loads(body)

    async def scenario() -> None:
        parser = JsonParser(threads=2, loads=slow_loads)
        body = b"[" + b"1," * INLINE_BYTES + b"1]"
        tasks = [asyncio.create_task(parser.parse(body)) for _ in range(5)]
        while True:  # wait until the parser is saturated, then let everything finish
            with lock:
                if running == 2:
                    break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert peak == 2


def test_a_body_nested_too_deep_is_not_json_rather_than_a_crash() -> None:
    with pytest.raises(NotJson, match="nested too deep"):
        asyncio.run(JsonParser().parse(b"[" * 200_000))


# --- /metrics ------------------------------------------------------------------------------------


def test_scrapes_within_the_cache_window_share_one_rendering() -> None:
    now = [0.0]
    renders: list[bytes] = []

    def render() -> bytes:
        renders.append(f"scrape {len(renders)}".encode())
        return renders[-1]

    cache = MetricsCache(render, ttl_s=5.0, clock=lambda: now[0])
    assert [cache.get() for _ in range(10)] == [b"scrape 0"] * 10
    now[0] = 5.0
    assert cache.get() == b"scrape 1"


def test_metrics_are_cached_so_a_new_campaign_shows_only_after_the_window(
    client: httpx.Client, api_server: ApiServer, settings: Settings, store: StateStore
) -> None:
    from dispatcher.api import create_app

    api_server.switch.app = create_app(make_settings(settings, metrics_cache_s=0.5), store=store)
    first = client.get("/metrics").text
    body = {"spec": SPEC, "contacts": ["12015550100"]}
    cid = client.post("/campaigns", json=body).json()["campaign_id"]
    assert cid not in client.get("/metrics").text  # the cached copy
    assert cid not in first
    deadline = time.monotonic() + 10
    while cid not in client.get("/metrics").text:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_with_a_metrics_token_metrics_need_it(
    api_server: ApiServer, settings: Settings, store: StateStore
) -> None:
    from dispatcher.api import create_app

    guarded = make_settings(settings, metrics_token="scrape-token-0123456789")
    api_server.switch.app = create_app(guarded, store=store)
    with httpx.Client(base_url=api_server.url, timeout=10) as http:
        assert http.get("/metrics").status_code == 401
        wrong = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert wrong.status_code == 401  # an API token is not the metrics token
        right = http.get("/metrics", headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert right.status_code == 200
        assert "dispatcher_state_up" in right.text


@pytest.mark.slow
def test_serve_can_put_metrics_on_a_port_of_their_own(settings: Settings, tmp_path: Path) -> None:
    api_port, metrics_port = free_port(), free_port()
    env = worker_env(
        settings,
        "http://127.0.0.1:9",
        api_tokens=json.dumps([TOKEN]),
        metrics_port=metrics_port,
        metrics_token="scrape-token-0123456789",
    )
    web = WebProcess(env, api_port, tmp_path / "web.log")
    try:
        web.wait_ready()
        assert httpx.get(f"{web.url}/metrics").status_code == 404
        scrape = f"http://127.0.0.1:{metrics_port}/metrics"
        assert httpx.get(scrape).status_code == 401
        answer = httpx.get(scrape, headers={"Authorization": "Bearer scrape-token-0123456789"})
        assert answer.status_code == 200
        assert "dispatcher_state_up 1.0" in answer.text
    finally:
        web.stop()
    # uvicorn ends the process with the signal it was stopped by, once it has shut down.
    assert web.process.returncode in (0, -signal.SIGTERM), web.log()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
