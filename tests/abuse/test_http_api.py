"""The HTTP API under attack: authentication and scopes, malformed and oversize bodies, path and
query tricks, served by uvicorn over real HTTP.

Each case: the status and error code it must get (the API's one error shape, a message, never a
traceback) and not one key written under the test's prefix.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from dispatcher.settings import Settings
from tests.abuse.conftest import ADMIN_TOKEN, SCOPE_TOKENS, UPLOAD_LIMIT_BYTES
from tests.abuse.corpus import GOOD_CSV, SPEC, keys_under, spec_with

CID = "0123456789abcdef"
PHONE = "+12025550143"
MIB = 1024 * 1024
JSON = (("content-type", "application/json"),)


@dataclass(frozen=True)
class ApiCase:
    """One hostile request and the answer it must get."""

    method: str
    path: str
    status: int
    code: str
    json: Any = None
    content: bytes | None = None
    #: Send `content` in pieces without a Content-Length (chunked), as a stream would.
    chunked: bool = False
    files: Any = None
    data: dict[str, str] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: "admin", "read", "operate", or "" for no Authorization header at all.
    token: str = "admin"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _phones_json(n_bytes: int) -> bytes:
    return json.dumps({"phones": [PHONE] * (n_bytes // len(PHONE) + 1)}).encode()


API_CASES: dict[str, ApiCase] = {
    # --- authentication ------------------------------------------------------------------------
    "auth-no-token": ApiCase(
        "POST", "/campaigns", 401, "unauthorized", json={"spec": SPEC, "contacts": [PHONE]},
        token="",
    ),
    "auth-wrong-token": ApiCase(
        "POST", "/campaigns", 401, "unauthorized", json={"spec": SPEC, "contacts": [PHONE]},
        headers=(("authorization", "Bearer nope"),),
    ),
    "auth-token-with-a-suffix": ApiCase(
        "GET", "/dnc", 401, "unauthorized", headers=(("authorization", f"Bearer {ADMIN_TOKEN}x"),)
    ),
    "auth-token-in-the-query-string": ApiCase(
        "GET", f"/campaigns?access_token={ADMIN_TOKEN}", 401, "unauthorized", token=""
    ),
    "auth-basic-scheme": ApiCase(
        "GET", "/campaigns", 401, "unauthorized",
        headers=(("authorization", _basic("admin", ADMIN_TOKEN)),),
    ),
    "auth-empty-bearer": ApiCase(
        "DELETE", "/dnc", 401, "unauthorized", json={"phones": [PHONE]},
        headers=(("authorization", "Bearer"),),
    ),
    "auth-no-token-huge-body": ApiCase(
        "POST", "/dnc", 413, "too_large", content=_phones_json(2 * MIB), headers=JSON, token=""
    ),
    # --- scopes --------------------------------------------------------------------------------
    "scope-read-token-submits": ApiCase(
        "POST", "/campaigns", 403, "insufficient_scope",
        json={"spec": SPEC, "contacts": [PHONE]}, token="read",
    ),
    "scope-read-token-cancels": ApiCase(
        "POST", f"/campaigns/{CID}/cancel", 403, "insufficient_scope", token="read"
    ),
    "scope-read-token-adds-to-dnc": ApiCase(
        "POST", "/dnc", 403, "insufficient_scope", json={"phones": [PHONE]}, token="read"
    ),
    "scope-operate-token-removes-from-dnc": ApiCase(
        "DELETE", "/dnc", 403, "insufficient_scope", json={"phones": [PHONE]}, token="operate"
    ),
    "scope-operate-token-removes-with-a-bad-body": ApiCase(
        "DELETE", "/dnc", 403, "insufficient_scope", json={"phones": "all"}, token="operate"
    ),
    # --- malformed bodies ----------------------------------------------------------------------
    "body-not-json": ApiCase(
        "POST", "/campaigns", 400, "bad_request", content=b'{"spec": ', headers=JSON
    ),
    "body-not-utf8": ApiCase(
        "POST", "/campaigns", 400, "bad_request", content=b'\xff\xfe{"spec"', headers=JSON
    ),
    "body-nested-too-deep": ApiCase(
        "POST", "/campaigns", 400, "bad_request", content=b"[" * 50_000, headers=JSON
    ),
    "body-a-list": ApiCase("POST", "/campaigns", 422, "invalid_request", json=[SPEC]),
    "body-unknown-field": ApiCase(
        "POST", "/campaigns", 422, "invalid_request",
        json={"spec": SPEC, "contacts": [PHONE], "priority": "urgent"},
    ),
    "body-contacts-not-a-list": ApiCase(
        "POST", "/campaigns", 422, "invalid_request", json={"spec": SPEC, "contacts": PHONE}
    ),
    "body-spec-null": ApiCase(
        "POST", "/campaigns", 422, "invalid_spec", json={"spec": None, "contacts": [PHONE]}
    ),
    "unsupported-media-type": ApiCase(
        "POST", "/campaigns", 415, "unsupported_media_type", content=b"phone\n1",
        headers=(("content-type", "text/plain"),),
    ),
    "spec-sms-text-too-long": ApiCase(
        "POST", "/campaigns", 422, "invalid_spec",
        json={"spec": spec_with(ivrs=[{"digit": 1, "smsText": "x" * 71}]), "contacts": [PHONE]},
    ),
    "spec-webhook-url-too-long": ApiCase(
        "POST", "/campaigns", 422, "invalid_spec",
        json={
            "spec": spec_with(ivrs=[{"digit": 1, "webhookUrl": "https://x/" + "a" * 300}]),
            "contacts": [PHONE],
        },
    ),
    "every-contact-invalid": ApiCase(
        "POST", "/campaigns", 422, "submission_refused",
        json={"spec": SPEC, "contacts": ["abc", "123"]},
    ),
    "contacts-nested-objects": ApiCase(
        "POST", "/campaigns", 422, "submission_refused",
        json={"spec": SPEC, "contacts": [{"phone": {"number": PHONE}}, [[PHONE]]]},
    ),
    "strict-with-a-bad-row": ApiCase(
        "POST", "/campaigns?strict=true", 422, "submission_refused",
        json={"spec": SPEC, "contacts": [PHONE, "nope"]},
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
    "upload-spec-nested-too-deep": ApiCase(
        "POST", "/campaigns", 422, "invalid_spec", data={"spec": "[" * 50_000},
        files={"file": ("c.csv", GOOD_CSV.encode(), "text/csv")},
    ),
    "upload-without-a-file": ApiCase(
        "POST", "/campaigns", 422, "invalid_request", data={"spec": json.dumps(SPEC)},
        files={"other": ("c.txt", b"x", "text/plain")},
    ),
    "dnc-invalid-phone": ApiCase(
        "POST", "/dnc", 422, "invalid_request", json={"phones": ["not a phone"]}
    ),
    "dnc-too-many-phones": ApiCase(
        "POST", "/dnc", 422, "invalid_request", json={"phones": [PHONE] * 10_001}
    ),
    "dnc-nested-too-deep": ApiCase(
        "POST", "/dnc", 400, "bad_request", content=b"[" * 100_000, headers=JSON
    ),
    "dnc-phones-of-the-wrong-type": ApiCase(
        "POST", "/dnc", 422, "invalid_request", json={"phones": [12025550143, None, True]}
    ),
    "reschedule-without-a-zone": ApiCase(
        "POST", f"/campaigns/{CID}/reschedule", 422, "invalid_request",
        json={"start_at": "2030-01-01T09:00:00"},
    ),
    "pause-reason-too-long": ApiCase(
        "POST", f"/campaigns/{CID}/pause", 422, "invalid_request", json={"reason": "x" * 501}
    ),
    # --- oversize bodies -----------------------------------------------------------------------
    "submission-too-large": ApiCase(
        "POST", "/campaigns", 413, "too_large",
        json={"spec": SPEC, "contacts": [PHONE] * 10_000},
    ),
    "submission-too-large-chunked": ApiCase(
        "POST", "/campaigns", 413, "too_large",
        content=json.dumps({"spec": SPEC, "contacts": [PHONE] * 10_000}).encode(),
        chunked=True, headers=JSON,
    ),
    "dnc-body-over-a-mebibyte": ApiCase(
        "POST", "/dnc", 413, "too_large", content=_phones_json(2 * MIB), headers=JSON
    ),
    "dnc-body-over-a-mebibyte-chunked": ApiCase(
        "DELETE", "/dnc", 413, "too_large", content=_phones_json(2 * MIB), chunked=True,
        headers=JSON,
    ),
    "pause-body-over-a-mebibyte": ApiCase(
        "POST", f"/campaigns/{CID}/pause", 413, "too_large",
        content=json.dumps({"reason": "x" * (2 * MIB)}).encode(), headers=JSON,
    ),
    "get-with-a-huge-body": ApiCase(
        "GET", "/campaigns", 413, "too_large", content=b"x" * (2 * MIB)
    ),
    # --- paths and queries ---------------------------------------------------------------------
    "campaign-id-too-long": ApiCase("GET", f"/campaigns/{'a' * 65}", 422, "invalid_request"),
    "campaign-id-with-a-colon": ApiCase(
        "POST", "/campaigns/dispatcher:dnc/cancel", 422, "invalid_request"
    ),
    "campaign-id-with-a-hash-tag": ApiCase(
        "GET", "/campaigns/%7Bc%3Ax%7D/results", 422, "invalid_request"
    ),
    "campaign-id-with-a-nul": ApiCase("GET", "/campaigns/a%00b", 422, "invalid_request"),
    "campaign-id-not-ascii": ApiCase("GET", "/campaigns/%C3%A9t%C3%A9", 422, "invalid_request"),
    "campaign-id-encoded-dot-dot": ApiCase(
        "POST", "/campaigns/..%2Fdnc/pause", 404, "not_found"
    ),
    "control-unknown-campaign": ApiCase(
        "POST", f"/campaigns/{CID}/pause", 404, "campaign_not_found"
    ),
    "results-unknown-format": ApiCase(
        "GET", f"/campaigns/{CID}/results?format=xlsx", 422, "invalid_request"
    ),
    "list-limit-zero": ApiCase("GET", "/campaigns?limit=0", 422, "invalid_request"),
    "list-limit-huge": ApiCase("GET", "/campaigns?limit=1000000000", 422, "invalid_request"),
    "list-limit-not-a-number": ApiCase("GET", "/campaigns?limit=1e3", 422, "invalid_request"),
    "unknown-route": ApiCase("GET", "/admin", 404, "not_found"),
    "method-not-allowed": ApiCase("PUT", "/dnc", 405, "method_not_allowed"),
}  # fmt: skip


def _pieces(content: bytes) -> Iterator[bytes]:
    for start in range(0, len(content), 64 * 1024):
        yield content[start : start + 64 * 1024]


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_a_hostile_api_request_gets_its_answer_and_lands_nothing(
    name: str, api: httpx.Client, settings: Settings, redis_client: redis.Redis
) -> None:
    case = API_CASES[name]
    headers = dict(case.headers)
    if case.token in SCOPE_TOKENS:
        headers.setdefault("authorization", f"Bearer {SCOPE_TOKENS[case.token]}")
    elif not case.token:
        api.headers.pop("authorization")
    content: Any = _pieces(case.content) if case.chunked and case.content else case.content
    response = api.request(
        case.method,
        case.path,
        json=case.json,
        content=content,
        files=case.files,
        data=case.data,
        headers=headers or None,
    )
    assert response.status_code == case.status, response.text
    body = response.json()
    assert body.get("message"), body
    assert body["error"] == case.code, body
    assert "Traceback" not in response.text
    assert keys_under(redis_client, settings.key_prefix) == []


def test_a_request_id_that_is_not_sane_is_replaced_not_echoed(api: httpx.Client) -> None:
    hostile = "x" * 129
    response = api.get("/healthz", headers={"X-Request-ID": hostile})
    assert response.status_code == 200
    assert response.headers["x-request-id"] != hostile
    assert len(response.headers["x-request-id"]) == 32


def test_the_upload_limit_is_what_the_oversize_cases_cross() -> None:
    too_big = json.dumps({"spec": SPEC, "contacts": [PHONE] * 10_000}).encode()
    assert len(too_big) > UPLOAD_LIMIT_BYTES
