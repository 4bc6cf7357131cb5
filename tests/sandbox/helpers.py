"""Small helpers for the sandbox tests: requests with the key, waiting, a webhook receiver."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

KEY = "sandbox-key"
OUTGOING = "99999999999"


def call_body(**fields: Any) -> dict[str, Any]:
    """A valid create body, with `fields` replacing or adding keys (None removes a key)."""
    body: dict[str, Any] = {
        "apiKey": KEY,
        "phone": "15550000001",
        "outgoingPhone": OUTGOING,
        "record": {"text": "Hello from the sandbox tests", "gender": 0},
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def post(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """POST a JSON body carrying the key (unless the body sets apiKey itself)."""
    payload = {"apiKey": KEY, **(body or {})}
    return client.post(path, json=payload)


def get_calls(client: httpx.Client, *ids: int) -> list[dict[str, Any]]:
    """`apiCalls/get` with the ids in the query string, as the reference does, as a list.

    With `reference_shapes` (the default) one found call is answered as a bare object, as in
    the reference; this helper lists it either way (the shapes are tested on their own).
    """
    query = "&".join(f"apiCallIdList[]={i}" for i in ids)
    response = client.post(f"/apiCalls/get?{query}", json={"apiKey": KEY})
    assert response.status_code == 200, response.text
    result = response.json()
    return [result] if isinstance(result, dict) else list(result)


def wait_for(
    predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05
) -> Any:
    """Poll until `predicate()` is truthy; its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


class WebhookReceiver:
    """A tiny HTTP server recording every POST; answers from a script of status codes, then 200.

    With `hold_first`, the first POST is recorded but not answered until that event is set.
    """

    def __init__(
        self, statuses: list[int] | None = None, hold_first: threading.Event | None = None
    ) -> None:
        self.received: list[tuple[str, Any]] = []
        self.statuses = list(statuses or [])
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                with receiver._lock:
                    receiver.received.append((self.path, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    first = len(receiver.received) == 1
                if first and hold_first is not None:
                    hold_first.wait(30)
                with contextlib.suppress(OSError):  # the sender may have gone meanwhile
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def bodies(self, path: str = "/hook") -> list[Any]:
        with self._lock:
            return [body for p, body in self.received if p == path]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
