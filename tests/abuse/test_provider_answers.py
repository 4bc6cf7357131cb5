"""Provider answers that are malformed JSON, miss fields, have unexpected types, are HTML error
pages or huge, served by a tiny real HTTP server.

The client raises the right kind of error with a message naming the problem (never the API key);
the worker code that meets them (send a batch, poll a campaign) ends or reschedules the contacts
without letting an exception escape; a `Retry-After` of days is cut to `max_retry_after_s`; one real
`dramatiq workers.app` process fed nothing but bad answers keeps running and finishes the campaign.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis

from dispatcher.contacts import read_iterable
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.errors import (
    AmbiguousError,
    EffebotError,
    OperatorActionRequired,
    RejectedError,
    RetrySafeError,
)
from dispatcher.effebot.requests import CreateCallRequest
from dispatcher.effebot.transport import make_http_client
from dispatcher.lifecycle import CampaignStatus
from dispatcher.pacing import GlobalPacer
from dispatcher.producer import submit_campaign
from dispatcher.queue import make_broker, send
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore, now_ms
from tests.abuse.corpus import SPEC, with_changes
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from workers.batches import send_batch
from workers.context import WorkerContext
from workers.polling import poll_campaign


@dataclass(frozen=True)
class Answer:
    """What the bad provider answers on one endpoint."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    b"</center><hr><center>nginx</center></body></html>"
)
HUGE = b'{"id": 1, "padding": "' + b"x" * (11 * 1024 * 1024) + b'"}'


class BadProvider(ThreadingHTTPServer):
    """A real HTTP server answering whatever `answers[path]` says (path without the query)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, Answer] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: BadProvider

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.hits[path] = self.server.hits.get(path, 0) + 1
        answer = self.server.answers.get(path, Answer(404, b'{"status":"error","message":"no"}'))
        self.send_response(answer.status)
        self.send_header("content-type", answer.content_type)
        self.send_header("content-length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        # The client may stop reading a huge body, as it should.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[BadProvider]:
    server = BadProvider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class ProviderCase:
    """A bad answer, the kind of error it must be, and words its message must contain."""

    endpoint: str
    answer: Answer
    kind: type[EffebotError]
    message: str


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


PROVIDER_CASES: dict[str, ProviderCase] = {
    "create-malformed-json": ProviderCase(
        "/apiCalls/create", Answer(200, b'{"id": 12, "phone": ['), AmbiguousError, "not JSON"
    ),
    "create-empty-body": ProviderCase(
        "/apiCalls/create", Answer(200, b""), AmbiguousError, "not JSON"
    ),
    "create-missing-id": ProviderCase(
        "/apiCalls/create", Answer(200, _json({"createdAt": 1})), AmbiguousError, "id"
    ),
    "create-id-of-the-wrong-type": ProviderCase(
        "/apiCalls/create", Answer(200, _json({"id": "twelve"})), AmbiguousError, "id"
    ),
    "create-a-list-instead-of-an-object": ProviderCase(
        "/apiCalls/create", Answer(200, _json([1, 2])), AmbiguousError, "unexpected answer"
    ),
    "create-html-502": ProviderCase(
        "/apiCalls/create",
        Answer(502, HTML_502, content_type="text/html"),
        AmbiguousError,
        "502",
    ),
    "create-html-with-200": ProviderCase(
        "/apiCalls/create",
        Answer(200, b"<html><body>Maintenance</body></html>", content_type="text/html"),
        AmbiguousError,
        "not JSON",
    ),
    "create-huge-body": ProviderCase(
        "/apiCalls/create", Answer(200, HUGE), AmbiguousError, "bigger than"
    ),
    "create-429-with-a-garbage-retry-after": ProviderCase(
        "/apiCalls/create",
        Answer(429, b"slow down", content_type="text/plain", headers=(("retry-after", "soon"),)),
        RetrySafeError,
        "429",
    ),
    "create-401-html": ProviderCase(
        "/apiCalls/create",
        Answer(401, b"<h1>Unauthorized</h1>", content_type="text/html"),
        RejectedError,
        "401",
    ),
    "create-200-status-error-without-a-reason": ProviderCase(
        "/apiCalls/create",
        Answer(200, _json({"status": "error", "message": "something went wrong"})),
        AmbiguousError,
        "may or may not have been applied",
    ),
    "create-200-status-error-with-fields": ProviderCase(
        "/apiCalls/create",
        Answer(200, _json({"status": "error", "errors": {"phones.0": ["is blocked"]}})),
        RejectedError,
        "phones.0: is blocked",
    ),
    "create-200-status-error-about-the-balance": ProviderCase(
        "/apiCalls/create",
        Answer(200, _json({"status": "error", "message": "Not enough money on the balance"})),
        OperatorActionRequired,
        "balance",
    ),
    "get-strings-instead-of-objects": ProviderCase(
        "/apiCalls/get", Answer(200, _json(["1", "2"])), AmbiguousError, "expected JSON objects"
    ),
    "get-calls-of-the-wrong-type": ProviderCase(
        "/apiCalls/get", Answer(200, _json([{"id": 1, "calls": "none"}])), AmbiguousError, "calls"
    ),
    "get-truncated-json": ProviderCase(
        "/apiCalls/get", Answer(200, b'[{"id": 1, "calls": [{"pho'), AmbiguousError, "not JSON"
    ),
    "get-html-503": ProviderCase(
        "/apiCalls/get",
        Answer(503, b"<html><body>Service Unavailable</body></html>", content_type="text/html"),
        AmbiguousError,
        "503",
    ),
    "get-huge-body": ProviderCase(
        "/apiCalls/get", Answer(200, HUGE), AmbiguousError, "bigger than"
    ),
    "get-a-number": ProviderCase(
        "/apiCalls/get", Answer(200, b"42"), AmbiguousError, "expected a JSON array"
    ),
}

REQUEST = CreateCallRequest(
    phones=["12025550143", "12025550144"], dutyPhone=1, record={"text": "Hi"}
)


@pytest.mark.parametrize("name", sorted(PROVIDER_CASES))
def test_a_bad_provider_answer_is_the_right_kind_of_error_naming_the_problem(
    name: str, provider: BadProvider
) -> None:
    case = PROVIDER_CASES[name]
    provider.answers[case.endpoint] = case.answer
    with httpx.Client(timeout=10.0) as http:
        client = EffebotClient(http, base_url=provider.url, api_key=SANDBOX_API_KEY)
        call = client.create if case.endpoint.endswith("create") else client.get_calls
        argument: Any = REQUEST if case.endpoint.endswith("create") else [1]
        with pytest.raises(EffebotError) as caught:
            call(argument)
    error = caught.value
    assert isinstance(error, case.kind), repr(error)
    text = str(error)
    assert case.message.lower() in text.lower(), text
    assert "<html" not in text.lower()
    assert len(text) < 500
    assert SANDBOX_API_KEY not in text


# --- the worker code meeting bad answers ----------------------------------------------------------


@pytest.fixture
def context(
    settings: Settings, redis_client: redis.Redis, provider: BadProvider
) -> Iterator[WorkerContext]:
    worker_settings = with_changes(
        settings, effebot_base_url=provider.url, effebot_api_key=SANDBOX_API_KEY, read_timeout_s=5.0
    )
    store = StateStore(redis_client, settings.key_prefix)
    http = make_http_client(worker_settings)
    yield WorkerContext(
        settings=worker_settings,
        store=store,
        client=EffebotClient.from_settings(worker_settings, http),
        pacer=GlobalPacer(redis_client, settings.key_prefix),
        broker=make_broker(worker_settings, redis_client),
    )
    http.close()


def submit_two(ctx: WorkerContext) -> str:
    broker = ctx.broker

    def enqueue(actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        send(broker, ctx.settings.queue_name, actor, args, delay_ms)

    report = submit_campaign(
        ctx.store, enqueue, parse_spec(SPEC), read_iterable(["+12025550143", "+12025550144"], "US")
    )
    assert report.campaign_id is not None
    return report.campaign_id


CREATE_CASES = sorted(n for n, c in PROVIDER_CASES.items() if c.endpoint.endswith("create"))
GET_CASES = sorted(n for n, c in PROVIDER_CASES.items() if c.endpoint.endswith("get"))
# The first class that matches wins: an operator's refusal keeps its contacts pending (paused).
EXPECTED_STATE = {
    OperatorActionRequired: "pending",
    AmbiguousError: "unknown",
    RejectedError: "failed",
    RetrySafeError: "pending",
}


@pytest.mark.parametrize("name", CREATE_CASES)
def test_sending_a_batch_into_a_bad_answer_ends_or_returns_its_contacts_and_raises_nothing(
    name: str, provider: BadProvider, context: WorkerContext
) -> None:
    case = PROVIDER_CASES[name]
    provider.answers[case.endpoint] = case.answer
    campaign_id = submit_two(context)
    send_batch(context, campaign_id, 1)
    states = {r.state for r in context.store.iter_contacts(campaign_id)}
    assert states == {EXPECTED_STATE[next(k for k in EXPECTED_STATE if issubclass(case.kind, k))]}
    assert provider.hits[case.endpoint] == 1  # never sent twice


@pytest.mark.parametrize("name", GET_CASES)
def test_polling_into_a_bad_answer_reschedules_the_calls_and_raises_nothing(
    name: str, provider: BadProvider, context: WorkerContext
) -> None:
    case = PROVIDER_CASES[name]
    provider.answers["/apiCalls/create"] = Answer(200, _json({"id": 7, "phone": ["x"]}))
    provider.answers[case.endpoint] = case.answer
    campaign_id = submit_two(context)
    send_batch(context, campaign_id, 1)
    assert context.store.counts(campaign_id) == {"sent": 2}
    keys = context.store.campaign_keys(campaign_id)
    context.store.client.zadd(keys.poll, {"7": 0})  # due now
    poll_campaign(context, campaign_id)
    assert provider.hits[case.endpoint] == 1
    assert context.store.counts(campaign_id) == {"sent": 2}
    assert context.store.next_poll_due_ms(campaign_id) is not None  # asked again later


def test_a_retry_after_of_days_is_cut_to_the_setting(
    provider: BadProvider, context: WorkerContext
) -> None:
    ten_days_s = 10 * 24 * 3600
    provider.answers["/apiCalls/create"] = Answer(
        429, b"slow down", content_type="text/plain", headers=(("retry-after", str(ten_days_s)),)
    )
    campaign_id = submit_two(context)
    send_batch(context, campaign_id, 1)
    assert context.store.counts(campaign_id) == {"pending": 2}  # given back, not lost
    keys = context.store.campaign_keys(campaign_id)
    pickup_ms = context.store.client.zscore(keys.batch_due, "1")
    assert pickup_ms is not None
    cap_ms = context.settings.max_retry_after_s * 1000
    # Sent again after the cap (with a little slack for this test's own run time), not in 10 days.
    assert pickup_ms <= now_ms() + cap_ms
    assert pickup_ms >= now_ms() + cap_ms - 60_000


@pytest.mark.slow
def test_a_real_worker_fed_only_bad_answers_keeps_running_and_finishes_the_campaign(
    settings: Settings, redis_client: redis.Redis, provider: BadProvider, worker_pool: WorkerPool
) -> None:
    provider.answers["/apiCalls/create"] = Answer(200, HTML_502, content_type="text/html")
    env = worker_env(settings, provider.url, provider_rate_per_s=100)
    (worker,) = worker_pool.start(env, count=1, threads=2)
    store = StateStore(redis_client, settings.key_prefix)
    broker = make_broker(settings, redis_client)

    def enqueue(actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        send(broker, settings.queue_name, actor, args, delay_ms)

    phones = [f"+1202555{n:04d}" for n in range(10)]
    report = submit_campaign(store, enqueue, parse_spec(SPEC), read_iterable(phones, "US"))
    assert report.campaign_id is not None
    cid = report.campaign_id

    def finished() -> bool:
        return store.status(cid) is CampaignStatus.FINISHED

    # Switch the bad answer under the running worker: HTML, truncated JSON, a huge body.
    assert wait_for(lambda: provider.hits.get("/apiCalls/create", 0) >= 1, 30)
    provider.answers["/apiCalls/create"] = Answer(200, b'{"id": 3, "pho')
    assert wait_for(lambda: provider.hits.get("/apiCalls/create", 0) >= 3, 30)
    provider.answers["/apiCalls/create"] = Answer(200, HUGE)
    assert wait_for(finished, 60), (store.counts(cid), worker_pool.logs()[-3000:])
    assert store.counts(cid) == {"unknown": 10}
    assert provider.hits["/apiCalls/create"] == 5  # one per batch, none repeated
    assert worker.process is not None
    assert worker.process.poll() is None  # still running
    assert "Traceback" not in worker_pool.logs()
