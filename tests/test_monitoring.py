"""deploy/prometheus and deploy/grafana: well-formed, naming only metrics a running stack exports.

The rule file and the dashboard are parsed (YAML, JSON), each PromQL expression with a PromQL
parser (promql-parser, the Python binding of the Rust parser Prometheus-compatible tools use), and
every metric an expression names must have samples in `/metrics` of a real stack: the web app
(`dispatcher serve`), a worker process with its Prometheus exposition on, and the sandbox, driven
through what the alerts are about (a campaign that runs and finishes, a low balance that pauses
one, a message dead-lettered).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dispatcher.metrics import FleetCollector
from dispatcher.redis_server import free_port
from dispatcher.settings import Settings
from dispatcher.store import StateStore
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from tests.test_scale_e2e import WebProcess

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dispatcher.json"
TOKEN = "monitoring-test-token-0123456789"
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
#: Grafana's variables, replaced by a value of the right kind before parsing.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$campaign": "c1"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return found


def panel_queries() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def without_grafana_variables(expr: str) -> str:
    for name, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    return expr


def metric_names(expr: str) -> set[str]:
    """Every metric an expression selects (raises ValueError when it does not parse)."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def test_the_parser_refuses_what_prometheus_would_refuse() -> None:
    for broken in ("sum(rate(x[5m])", "rate(x)", "x{a=}", "max by (q) x > "):
        with pytest.raises(ValueError, match=r"."):
            promql_parser.parse(broken)
    assert metric_names("histogram_quantile(0.9, sum by (le) (rate(a_bucket[5m]))) > b") == {
        "a_bucket",
        "b",
    }


def test_the_alert_rules_are_well_formed() -> None:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        assert group["name"]
        assert group["rules"]
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert metric_names(rule["expr"]), rule["alert"]
        assert DURATION.match(rule.get("for", "0s")), rule
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_the_alert_rules_cover_what_should_wake_someone() -> None:
    named = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    assert {
        "dispatcher_workers_alive",  # no worker alive while campaigns run
        "dispatcher_provider_requests_total",  # provider error ratio
        "dispatcher_campaign_auto_paused",  # a campaign auto-paused
        "dispatcher_provider_balance",  # balance low
        "dispatcher_poll_lag_seconds_bucket",  # poll lag above a bound
        "dispatcher_dead_letters",  # dead letters present
        "dispatcher_redis_memory_max_bytes",  # Redis memory near its limit
    } <= named


def test_the_dashboard_is_importable_and_every_query_parses() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    assert board["schemaVersion"] >= 36
    assert "id" not in board or board["id"] is None  # an id would overwrite another dashboard
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            for used in re.findall(r"\$\{?(\w+)", target["expr"]):
                assert used in variables or f"${used}" in GRAFANA_VARIABLES, used
            assert metric_names(without_grafana_variables(target["expr"])), target
    covered = {n for q in panel_queries() for n in metric_names(without_grafana_variables(q))}
    assert {
        "dispatcher_contacts",
        "dispatcher_dials_total",
        "dispatcher_campaign_pace_dials_per_minute",
        "dispatcher_provider_requests_total",
        "dispatcher_provider_rate_limit_per_second",
        "dispatcher_provider_request_duration_seconds_bucket",
        "dispatcher_pacing_wait_seconds_bucket",
        "dispatcher_poll_lag_seconds_bucket",
        "dispatcher_webhook_receipts_total",
        "dispatcher_queue_messages",
        "dispatcher_dead_letters",
        "dispatcher_workers_alive",
    } <= covered


# --- the running stack ---------------------------------------------------------------------------


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of a Prometheus text exposition."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, float(sample.value)))
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    for found, number in samples(text).get(name, []):
        if found == labels:
            return number
    return None


class Stack:
    """The web app and one worker process around one Redis prefix and the sandbox."""

    def __init__(self, web: WebProcess, worker_port: int) -> None:
        self.web = web
        self.worker_url = f"http://127.0.0.1:{worker_port}/metrics"
        self.http = httpx.Client(
            base_url=web.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        self.seen: set[str] = set()

    def scrape(self) -> tuple[str, str]:
        """Both expositions; remembers every sample name seen (Prometheus keeps series too)."""
        web = self.http.get("/metrics").text
        worker = httpx.get(self.worker_url, timeout=10).text
        for text in (web, worker):
            self.seen |= set(samples(text))
        return web, worker

    def worker_answers(self) -> bool:
        try:
            return httpx.get(self.worker_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def status(self, campaign_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get(f"/campaigns/{campaign_id}").json()
        return found


def test_every_metric_an_alert_or_a_panel_names_is_exported_by_a_running_stack(
    settings: Settings, sandbox: Any, worker_pool: WorkerPool, tmp_path: Path
) -> None:
    web_port, worker_port = free_port(), free_port()
    env = worker_env(
        settings,
        sandbox.url,
        provider_rate_per_s=50,
        public_base_url=f"http://127.0.0.1:{web_port}",
        webhook_secret="monitoring-test-webhook-secret",
        api_tokens=json.dumps([TOKEN]),
        webhook_allowed_sources=json.dumps(["127.0.0.1"]),
        metrics_cache_s=0,  # each scrape reads Redis afresh: the checks follow changes closely
        min_balance=100,
        balance_check_interval_s=1,
    )
    web = WebProcess(env, web_port, tmp_path / "web.log")
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    worker = {
        **env,
        "DISPATCHER_WORKER_PROMETHEUS": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "dramatiq_prom_db": str(multiproc),
        "dramatiq_prom_host": "127.0.0.1",
        "dramatiq_prom_port": str(worker_port),
    }
    try:
        web.wait_ready()
        worker_pool.start(worker, count=1, threads=4)
        stack = Stack(web, worker_port)
        with stack.http:
            check_stack(stack, settings, sandbox, worker_pool)
    finally:
        web.stop()


def check_stack(stack: Stack, settings: Settings, sandbox: Any, worker_pool: WorkerPool) -> None:
    spec = {
        "name": "monitoring",
        "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
        "batch_size": 5,
        "dials_per_minute": 1200,
    }
    phones = [f"1202555{i:04d}" for i in range(40)]
    created = stack.http.post("/campaigns", json={"spec": spec, "contacts": phones})
    assert created.status_code == 201, created.text
    first = created.json()["campaign_id"]
    assert wait_for(stack.worker_answers, 30), worker_pool.logs()[-3000:]
    web, _ = stack.scrape()  # while it runs: its pace is reported
    assert value(web, "dispatcher_campaign_pace_dials_per_minute", campaign_id=first) == 1200
    assert wait_for(lambda: stack.status(first)["status"] == "finished", 60), (
        stack.status(first),
        worker_pool.logs()[-3000:],
    )

    # A message for an actor no worker knows (a newer version's, mid-roll) is dead-lettered.
    from dispatcher.queue import make_broker, send

    assert settings.redis_url is not None
    store = StateStore.connect(settings.redis_url, settings.key_prefix)
    send(make_broker(settings, store.client), settings.queue_name, "no_such_actor", ("x",))
    # The balance falls under DISPATCHER_MIN_BALANCE: the guard pauses a scheduled campaign.
    sandbox.configure(balance=50)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    second = stack.http.post(
        "/campaigns", json={"spec": {**spec, "start_at": later}, "contacts": phones[:3]}
    ).json()["campaign_id"]

    def settled() -> bool:
        web, _ = stack.scrape()
        return (
            stack.status(second)["status"] == "paused"
            and value(web, "dispatcher_dead_letters", queue=settings.queue_name) == 1
        )

    assert wait_for(settled, 60), (stack.status(second), worker_pool.logs()[-3000:])
    web, worker = stack.scrape()
    assert value(web, "dispatcher_campaign_auto_paused", campaign_id=second) == 1
    assert value(web, "dispatcher_workers_alive") == 1
    assert value(web, "dispatcher_provider_balance") == 50
    assert value(web, "dispatcher_provider_balance_minimum") == 100
    assert value(web, "dispatcher_campaigns", status="finished") == 1
    assert value(worker, "dispatcher_dials_total") == len(phones)

    named = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    named |= {n for q in panel_queries() for n in metric_names(without_grafana_variables(q))}
    missing = named - stack.seen
    assert missing == set(), sorted(stack.seen)
    store.client.close()


def test_workers_alive_counts_worker_processes_from_their_heartbeats_alone(
    settings: Settings, sandbox: Any, worker_pool: WorkerPool
) -> None:
    # No DISPATCHER_WORKER_PROMETHEUS: liveness comes from dramatiq's heartbeats in Redis.
    assert settings.redis_url is not None
    fast = settings.model_copy(update={"broker_heartbeat_timeout_ms": 2000})
    store = StateStore.connect(settings.redis_url, settings.key_prefix)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store, fast))

    def alive() -> float | None:
        return value(generate_latest(registry).decode(), "dispatcher_workers_alive")

    assert alive() == 0
    env = worker_env(settings, sandbox.url, broker_heartbeat_timeout_ms=2000)
    first, second = worker_pool.start(env, count=2, threads=2)
    assert wait_for(lambda: alive() == 2, 30), worker_pool.logs()[-2000:]
    second.stop()
    assert wait_for(lambda: alive() == 1, 30)
    first.kill()  # SIGKILL: no goodbye, the heartbeat just goes stale
    assert wait_for(lambda: alive() == 0, 30)
    store.client.close()
