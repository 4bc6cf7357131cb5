"""The bad-input corpus: every bad input gets a clear error naming the problem, and lands nothing.

Four groups, each a table of cases:

* `dispatcher submit` with bad contacts files (CSV, JSON Lines), bad spec files and bad flags or
  settings: a non-zero exit (1, or click's 2 for usage errors), a message naming the problem, no
  traceback, and not one key written to Redis (nothing half-enqueued);
* provider answers that are malformed JSON, miss fields, have unexpected types, are HTML error
  pages or huge, served by a tiny real HTTP server: the client raises the right kind of error with
  a message naming the problem, and the worker code that meets them (send a batch, poll a
  campaign) ends or reschedules the contacts without letting an exception escape;
* one real `dramatiq workers.app` process fed nothing but bad answers keeps running and finishes
  the campaign;
* bad requests to the HTTP API (auth, bodies, specs, uploads, controls, DNC, webhooks), served by
  uvicorn: a 4xx with the API's error shape and a message, and nothing written to Redis.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.contacts import read_iterable
from dispatcher.effebot.client import EffebotClient
from dispatcher.effebot.errors import (
    AmbiguousError,
    EffebotError,
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
from dispatcher.store import StateStore
from tests.fixtures.workers import WorkerPool, wait_for, worker_env
from workers.batches import send_batch
from workers.context import WorkerContext
from workers.polling import poll_campaign

SPEC: dict[str, Any] = {
    "name": "bad input",
    "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
    "batch_size": 2,
}
GOOD_CSV = "phone,name\n+1 202 555 0143,Ann\n+1 202 555 0144,Bob\n"


def with_changes(settings: Settings, **changes: Any) -> Settings:
    """The test's settings with `changes`, validated (secrets become SecretStr)."""
    return Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]


def spec_with(**call: Any) -> dict[str, Any]:
    return {**SPEC, "call": {**SPEC["call"], **call}}


# --- dispatcher submit ------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitCase:
    """One bad submission: files, flags and environment, and what the user must be told."""

    message: str
    spec: str | dict[str, Any] | list[Any] = ""
    contacts: str | bytes = GOOD_CSV
    contacts_name: str = "contacts.csv"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str | None], ...] = ()
    exit_code: int = 1
    spec_name: str = "spec.json"


SUBMIT_CASES: dict[str, SubmitCase] = {
    # contacts: the source as a whole
    "csv-empty-file": SubmitCase("empty", contacts=""),
    "csv-without-a-phone-column": SubmitCase("phone", contacts="name,email\nAnn,a@example.com\n"),
    "csv-binary-garbage": SubmitCase("utf-8", contacts=b"\xff\xfe\x00\x01\x89PNG\r\n\x1a\n\x00"),
    "contacts-file-missing": SubmitCase("missing.csv", contacts_name="-missing.csv", exit_code=2),
    "contacts-unknown-extension": SubmitCase("format", contacts_name="contacts.xlsx"),
    "contacts-is-a-directory": SubmitCase("directory", contacts_name="dir/", exit_code=2),
    # contacts: every row bad (refused), or one bad row with --strict
    "csv-every-phone-invalid": SubmitCase(
        "no contact to dial", contacts="phone\nabc\n123\n+1 555\n"
    ),
    "csv-bad-row-with-strict": SubmitCase(
        "--strict", contacts=GOOD_CSV + "not a phone,Eve\n", args=("--strict",)
    ),
    "csv-oversized-values": SubmitCase(
        "no contact to dial", contacts="phone,note\n" + "x" * 5000 + ",y\n"
    ),
    "csv-only-duplicates-of-nothing": SubmitCase("no contact to dial", contacts="phone\n\n\n"),
    "jsonl-not-json": SubmitCase(
        "no contact to dial", contacts='{"phone": "12025550143"\nnope\n', contacts_name="c.jsonl"
    ),
    "jsonl-not-objects": SubmitCase(
        "no contact to dial", contacts='["12025550143"]\n42\n', contacts_name="c.jsonl"
    ),
    "jsonl-without-phone": SubmitCase(
        "no contact to dial", contacts='{"name": "Ann"}\n', contacts_name="c.jsonl"
    ),
    "jsonl-phone-of-the-wrong-type": SubmitCase(
        "no contact to dial", contacts='{"phone": true}\n{"phone": [1]}\n', contacts_name="c.jsonl"
    ),
    "jsonl-bad-line-with-strict": SubmitCase(
        "--strict",
        contacts='{"phone": "+12025550143"}\n{"phone": "x"}\n',
        contacts_name="c.jsonl",
        args=("--strict",),
    ),
    # the spec file
    "spec-not-json": SubmitCase("spec", spec="{not json"),
    "spec-not-toml": SubmitCase("spec", spec="name = [unclosed", spec_name="spec.toml"),
    "spec-a-list": SubmitCase("spec", spec=[SPEC]),
    "spec-missing-file": SubmitCase("nope.json", spec_name="-nope.json", exit_code=2),
    "spec-unknown-field": SubmitCase("colour", spec={**SPEC, "colour": "red"}),
    "spec-without-call-or-template": SubmitCase("call", spec={"name": "x"}),
    "spec-sms-text-too-long": SubmitCase(
        "call.ivrs.0.smsText", spec=spec_with(ivrs=[{"digit": 1, "smsText": "x" * 71}])
    ),
    "spec-record-text-too-long": SubmitCase(
        "call.record", spec=spec_with(record={"text": "x" * 1025})
    ),
    "spec-ivr-digit-out-of-range": SubmitCase(
        "call.ivrs.0.digit", spec=spec_with(ivrs=[{"digit": 10}])
    ),
    "spec-both-caller-fields": SubmitCase(
        "give one, not both", spec=spec_with(outgoingPhone="15550000000")
    ),
    "spec-record-id-and-text": SubmitCase(
        "call.record", spec=spec_with(record={"id": 1, "text": "hi"})
    ),
    "spec-lang-too-long": SubmitCase("call.lang", spec=spec_with(lang="english")),
    "spec-batch-size-zero": SubmitCase("batch_size", spec={**SPEC, "batch_size": 0}),
    "spec-start-at-without-zone": SubmitCase(
        "start_at", spec={**SPEC, "start_at": "2030-01-01T09:00:00"}
    ),
    # flags
    "flag-batch-size-not-a-number": SubmitCase(
        "--batch-size", args=("--batch-size", "many"), exit_code=2
    ),
    "flag-batch-size-too-big": SubmitCase("batch_size", args=("--batch-size", "5000")),
    "flag-format-unknown": SubmitCase("--format", args=("--format", "xml"), exit_code=2),
    "flag-start-at-not-a-date": SubmitCase("start_at", args=("--start-at", "tomorrow-ish")),
    "flag-negative-pace": SubmitCase("dials_per_minute", args=("--dials-per-minute", "-5")),
    "flag-unknown-option": SubmitCase("--frobnicate", args=("--frobnicate",), exit_code=2),
    # settings
    "setting-not-a-number": SubmitCase(
        "DISPATCHER_PROVIDER_RATE_PER_S:", env=(("DISPATCHER_PROVIDER_RATE_PER_S", "fast"),)
    ),
    "setting-redis-url-not-redis": SubmitCase(
        "DISPATCHER_REDIS_URL:", env=(("DISPATCHER_REDIS_URL", "http://localhost:6379"),)
    ),
    "setting-redis-url-unset": SubmitCase(
        "DISPATCHER_REDIS_URL", env=(("DISPATCHER_REDIS_URL", None),)
    ),
    "setting-redis-unreachable": SubmitCase(
        "redis", env=(("DISPATCHER_REDIS_URL", "redis://127.0.0.1:1/0"),)
    ),
}


def _materialise(tmp_path: Path, case: SubmitCase) -> tuple[str, str]:
    spec_path = tmp_path / case.spec_name.lstrip("-")
    if not case.spec_name.startswith("-"):
        content = case.spec if case.spec != "" else SPEC
        spec_path.write_text(content if isinstance(content, str) else json.dumps(content))
    contacts_path = tmp_path / case.contacts_name.lstrip("-").rstrip("/")
    if case.contacts_name.endswith("/"):
        contacts_path.mkdir()
    elif not case.contacts_name.startswith("-"):
        data = case.contacts
        contacts_path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(spec_path), str(contacts_path)


def keys_under(client: redis.Redis, prefix: str) -> list[bytes]:
    """Every key the dispatcher could have written: its prefix and the broker's namespace."""
    return sorted(client.scan_iter(match=f"{prefix}*", count=1000))


@pytest.mark.parametrize("name", sorted(SUBMIT_CASES))
def test_a_bad_submission_exits_non_zero_names_the_problem_and_lands_nothing(
    name: str, tmp_path: Path, settings: Settings, redis_client: redis.Redis
) -> None:
    case = SUBMIT_CASES[name]
    spec_path, contacts_path = _materialise(tmp_path, case)
    env: dict[str, str | None] = {
        "DISPATCHER_REDIS_URL": settings.redis_url,
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_QUEUE_NAME": settings.queue_name,
        "DISPATCHER_LOG_LEVEL": "WARNING",
        **dict(case.env),
    }
    result = CliRunner().invoke(cli, ["submit", spec_path, contacts_path, *case.args], env=env)
    output = result.output
    assert result.exit_code == case.exit_code, output
    # click turns its own exits into SystemExit; anything else escaped the CLI's error handling.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in output
    assert case.message.lower() in output.lower(), output
    assert keys_under(redis_client, settings.key_prefix) == []


def test_the_corpus_has_at_least_thirty_bad_inputs() -> None:
    assert len(SUBMIT_CASES) + len(PROVIDER_CASES) + len(API_CASES) >= 30


# --- provider answers ---------------------------------------------------------------------------


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
EXPECTED_STATE = {AmbiguousError: "unknown", RejectedError: "failed", RetrySafeError: "pending"}


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


# --- the HTTP API ---------------------------------------------------------------------------------

API_TOKEN = "bad-input-token-0123456789"
WEBHOOK_SECRET = "bad-input-webhook-secret"


class _Switch:
    """An ASGI app forwarding to the app of the current test (one server for the module)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def api_server() -> Iterator[tuple[_Switch, str]]:
    from dispatcher.api.server import build_server
    from dispatcher.redis_server import free_port

    switch, port = _Switch(), free_port()
    server = build_server(switch, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, 10, 0.02)
    yield switch, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def api(
    settings: Settings, redis_client: redis.Redis, api_server: tuple[_Switch, str]
) -> Iterator[httpx.Client]:
    """A client of an API app on this test's key prefix, with a small upload limit."""
    from dispatcher.api import create_app

    api_settings = with_changes(
        settings,
        api_tokens=[API_TOKEN],
        webhook_secret=WEBHOOK_SECRET,
        max_upload_bytes=64 * 1024,
        webhook_allowed_sources=["127.0.0.1"],
    )
    switch, url = api_server
    switch.app = create_app(api_settings, store=StateStore(redis_client, settings.key_prefix))
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        yield client


@dataclass(frozen=True)
class ApiCase:
    """One bad HTTP request and the answer it must get."""

    method: str
    path: str
    status: int
    code: str
    json: Any = None
    content: bytes | None = None
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    headers: tuple[tuple[str, str], ...] = ()


def _token(campaign_id: str) -> str:
    from dispatcher.webhook_tokens import webhook_token

    return webhook_token(WEBHOOK_SECRET, campaign_id)


API_CASES: dict[str, ApiCase] = {
    "no-token": ApiCase(
        "POST", "/campaigns", 401, "unauthorized", json={"spec": SPEC, "contacts": ["x"]},
        headers=(("authorization", ""),),
    ),
    "wrong-token": ApiCase(
        "POST", "/campaigns", 401, "unauthorized", json={"spec": SPEC, "contacts": ["x"]},
        headers=(("authorization", "Bearer nope"),),
    ),
    "body-not-json": ApiCase(
        "POST", "/campaigns", 400, "bad_request", content=b'{"spec": ',
        headers=(("content-type", "application/json"),),
    ),
    "body-a-list": ApiCase("POST", "/campaigns", 422, "invalid_request", json=[SPEC]),
    "unsupported-media-type": ApiCase(
        "POST", "/campaigns", 415, "unsupported_media_type", content=b"phone\n1",
        headers=(("content-type", "text/plain"),),
    ),
    "spec-sms-text-too-long": ApiCase(
        "POST", "/campaigns", 422, "invalid_spec",
        json={"spec": spec_with(ivrs=[{"digit": 1, "smsText": "x" * 71}]), "contacts": ["x"]},
    ),
    "every-contact-invalid": ApiCase(
        "POST", "/campaigns", 422, "submission_refused",
        json={"spec": SPEC, "contacts": ["abc", "123"]},
    ),
    "strict-with-a-bad-row": ApiCase(
        "POST", "/campaigns?strict=true", 422, "submission_refused",
        json={"spec": SPEC, "contacts": ["+12025550143", "nope"]},
    ),
    "body-too-large": ApiCase(
        "POST", "/campaigns", 413, "too_large",
        json={"spec": SPEC, "contacts": ["+12025550143"] * 10_000},
    ),
    "upload-without-a-phone-column": ApiCase(
        "POST", "/campaigns", 422, "invalid_input", data={"spec": json.dumps(SPEC)},
        files={"file": ("c.csv", b"name\nAnn\n", "text/csv")},
    ),
    "upload-binary-garbage": ApiCase(
        "POST", "/campaigns", 422, "invalid_input", data={"spec": json.dumps(SPEC)},
        files={"file": ("c.csv", b"\xff\xfe\x00\x89PNG\x00", "text/csv")},
    ),
    "upload-spec-not-json": ApiCase(
        "POST", "/campaigns", 422, "invalid_spec", data={"spec": "{nope"},
        files={"file": ("c.csv", GOOD_CSV.encode(), "text/csv")},
    ),
    "control-unknown-campaign": ApiCase(
        "POST", "/campaigns/0123456789abcdef/pause", 404, "campaign_not_found"
    ),
    "dnc-invalid-phone": ApiCase(
        "POST", "/dnc", 422, "invalid_request", json={"phones": ["not a phone"]}
    ),
    "dnc-too-many-phones": ApiCase(
        "POST", "/dnc", 422, "invalid_request", json={"phones": ["+12025550143"] * 10_001}
    ),
    "webhook-bad-token": ApiCase(
        "POST", "/webhooks/effebot/nope.nope", 404, "bad_token", json={"id": 1, "calls": []}
    ),
    "webhook-not-json": ApiCase(
        "POST", "/webhooks/effebot/{token}", 400, "malformed", content=b"<html>",
        headers=(("content-type", "application/json"),),
    ),
    "webhook-wrong-types": ApiCase(
        "POST", "/webhooks/effebot/{token}", 422, "malformed", json={"id": "x", "calls": "none"}
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_a_bad_api_request_gets_a_4xx_naming_the_problem_and_lands_nothing(
    name: str, api: httpx.Client, settings: Settings, redis_client: redis.Redis
) -> None:
    case = API_CASES[name]
    headers = {k: v for k, v in case.headers if v} or None
    if ("authorization", "") in case.headers:
        api.headers.pop("authorization")
    path = case.path.replace("{token}", _token("0123456789abcdef"))
    response = api.request(
        case.method,
        path,
        json=case.json,
        content=case.content,
        files=case.files,
        data=case.data,
        headers=headers,
    )
    assert response.status_code == case.status, response.text
    body = response.json()
    assert body.get("message"), body
    if case.code:
        assert body["error"] == case.code, body
    assert "Traceback" not in response.text
    assert keys_under(redis_client, settings.key_prefix) == []
