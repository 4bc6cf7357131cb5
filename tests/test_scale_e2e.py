"""Horizontal scale, proven: 3 worker processes and the web app as its own process, over HTTP.

The campaign is submitted through the HTTP API; the sandbox (the provider) posts webhooks to the
web app, which reconciles them while the workers create and poll. Every contact must end in a
terminal state, the global pace must hold across the processes, nobody may be dialled twice, and
webhooks must have been received and applied.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import TERMINAL_STATES
from tests.fixtures.campaigns import assert_paced, wait_until_finished, wait_while_progressing
from tests.fixtures.workers import WorkerPool, wait_for, worker_env

pytestmark = pytest.mark.slow

DISPATCHER = str(Path(sys.executable).with_name("dispatcher"))
TOKEN = "scale-test-token-0123456789"
RATE_PER_S = 25
CONTACTS = 3000

SPEC = {
    "name": "scale",
    "call": {"dutyPhone": 1, "record": {"text": "Hello from the scale test"}},
    "batch_size": 25,
}


class WebProcess:
    """`dispatcher serve` as a subprocess."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        args = [DISPATCHER, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout_s: float = 30) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"the web process exited:\n{self.log()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, timeout_s, interval_s=0.1), self.log()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def web_port() -> int:
    return free_port()


@pytest.fixture
def env(settings: Settings, sandbox: Any, web_port: int) -> dict[str, str]:
    """One environment for the web app and every worker, as a deployment would have."""
    return worker_env(
        settings,
        sandbox.url,
        # The production default jitter allowance (0.05 s); every request is logged (DEBUG), so
        # the pace is judged from the workers' own start times (see `assert_paced`).
        provider_rate_per_s=RATE_PER_S,
        log_level="DEBUG",
        public_base_url=f"http://127.0.0.1:{web_port}",
        webhook_secret="scale-test-webhook-secret",
        api_tokens=json.dumps([TOKEN]),
        webhook_allowed_sources=json.dumps(["127.0.0.1"]),
    )


@pytest.fixture
def web(env: dict[str, str], web_port: int, tmp_path: Path) -> Iterator[WebProcess]:
    process = WebProcess(env, web_port, tmp_path / "web.log")
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def phones(n: int) -> list[str]:
    return [f"1{202 + i // 10_000:03d}555{i % 10_000:04d}" for i in range(n)]


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_three_workers_and_the_web_app_reconcile_a_campaign_submitted_over_http(
    env: dict[str, str], web: WebProcess, sandbox: Any, worker_pool: WorkerPool
) -> None:
    worker_pool.start(env, count=3, threads=4)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=web.url, headers=auth, timeout=60) as http:
        check_campaign(http, sandbox, worker_pool, web)


def check_campaign(
    http: httpx.Client, sandbox: Any, worker_pool: WorkerPool, web: WebProcess
) -> None:
    response = http.post("/campaigns", json={"spec": SPEC, "contacts": phones(CONTACTS)})
    assert response.status_code == 201, response.text
    campaign_id = response.json()["campaign_id"]
    assert response.json()["accepted"] == CONTACTS

    def finished() -> bool:
        status: str = http.get(f"/campaigns/{campaign_id}").json()["status"]
        return status == "finished"

    def counts() -> object:
        return tuple(sorted(http.get(f"/campaigns/{campaign_id}").json()["counts"].items()))

    done = wait_while_progressing(finished, counts, interval_s=0.5)
    progress = http.get(f"/campaigns/{campaign_id}").json()
    assert done, (progress, worker_pool.logs()[-3000:], web.log()[-3000:])

    # every contact reconciled, and the counters agree with the contacts
    assert progress["total"] == progress["done"] == CONTACTS
    assert set(progress["counts"]) <= set(TERMINAL_STATES)
    assert progress["counts"].get("unknown", 0) == 0
    rows = http.get(f"/campaigns/{campaign_id}/results", params={"format": "jsonl"})
    states = [json.loads(line)["state"] for line in rows.text.splitlines()]
    assert len(states) == CONTACTS
    assert set(states) <= set(TERMINAL_STATES)

    # the global pace held across three processes, and nobody was dialled twice
    stats = sandbox.stats()
    creates = stats["creates_per_phone"]
    assert len(creates) == CONTACTS
    assert max(creates.values()) == 1
    # The web app asks the provider too (the account check on submit): its requests count.
    assert_paced(lambda: worker_pool.logs() + "\n" + web.log(), stats, RATE_PER_S)

    # the provider's webhooks reached the web app and were applied
    assert stats["webhooks"]["succeeded"] > 0
    metrics = http.get("/metrics").text
    assert metric(metrics, "dispatcher_webhook_receipts_total", kind="call", outcome="applied") > 0
    assert metric(metrics, "dispatcher_contacts", campaign_id=campaign_id) == CONTACTS
    applied = metric(metrics, "dispatcher_webhook_receipts_total", kind="call", outcome="applied")
    print(  # the figures, for `pytest -s`
        f"scale: {CONTACTS} contacts, peak {stats['peak_rps']}/s of {RATE_PER_S}, "
        f"requests {stats['requests']}, webhooks {stats['webhooks']}, applied {applied:.0f}"
    )


def test_a_worker_serves_dramatiq_and_dispatcher_metrics_on_its_exposition_port(
    settings: Settings, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    from dispatcher.contacts import read_iterable
    from dispatcher.producer import submit_campaign
    from dispatcher.queue import make_broker, send
    from dispatcher.spec import parse_spec
    from dispatcher.store import StateStore

    assert settings.redis_url is not None
    store = StateStore.connect(settings.redis_url, settings.key_prefix)
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = worker_env(settings, sandbox.url, provider_rate_per_s=50, worker_prometheus="true")
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        dramatiq_prom_db=str(multiproc),
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(port),
    )
    worker_pool.start(env, count=1, threads=4)
    broker = make_broker(settings, store.client)
    report = submit_campaign(
        store,
        lambda actor, args, delay_ms: send(broker, settings.queue_name, actor, args, delay_ms),
        parse_spec({**SPEC, "batch_size": 20}),
        read_iterable(phones(200), "US"),
    )
    campaign_id = report.campaign_id
    assert campaign_id is not None
    assert wait_until_finished(store, campaign_id), store.counts(campaign_id)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    creates = metric(text, "dispatcher_provider_requests_total", endpoint="apiCalls/create")
    assert creates == 10
    assert metric(text, "dramatiq_messages_total", actor_name="send_batch") >= 10
    assert metric(text, "dispatcher_pacing_wait_seconds_count", actor="send_batch") >= 10
    assert metric(text, "dispatcher_poll_lag_seconds_count", source="poll") > 0
    assert phones(1)[0][:7] not in text  # no phone numbers in labels
    store.client.close()
