"""`POST /webhooks/effebot/{token}`: the provider's call details and IVR actions, reconciled.

The provider cannot sign its requests, so the URL is the secret: the token is
`<campaign id>.<HMAC(webhook_secret, campaign id)>` (see `dispatcher.webhook_tokens`), checked in
constant time. A token that does not verify is 404, like a path that does not exist, so probing
learns nothing. The allow-list of source addresses (by default the one the reference names) is
checked first (403), believing `X-Forwarded-For` only from configured trusted proxies. A token
stops working `webhook_grace_after_end_s` after its campaign finished or was cancelled (410). The
body is read and parsed first (413, 400); then one worker thread reads the campaign (404 for a
deleted one, 410) and applies the update, so a webhook costs one thread hop.

What a payload can change is bounded: `toBlock` adds a number to the do-not-call list only when it
is a contact of this campaign dialled in that api call, at most `webhook_max_blocks` per payload
(inside the reconcile script); a payload lists at most `MAX_WEBHOOK_CALLS` phones; provider
strings are cut to `reconcile.MAX_DETAIL_CHARS`; a contact keeps at most `MAX_IVR_ANSWERS` IVR
answers.

Call details run the same idempotent reconciliation as the poller and push the call's next poll
back to `poll_max_interval_s` (webhooks are the fast path; polling stays the safety net, so a lost
webhook is still reconciled). The answer is 200 only once the update is stored: when Redis fails it
is 503, and the provider tries again (up to 3 times a minute, says the reference).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from dispatcher.api.errors import ApiError, field_errors
from dispatcher.api.jsonbody import NotJson
from dispatcher.api.models import ErrorBody, WebhookAck
from dispatcher.api.services import Services, services
from dispatcher.api.sources import client_address, source_allowed
from dispatcher.effebot.responses import CallDetails
from dispatcher.errors import DispatcherError
from dispatcher.lifecycle import ended_at_ms
from dispatcher.logs import get_logger
from dispatcher.metrics import observe_reconciled, observe_webhook
from dispatcher.reconcile import reconcile_call, retry_policy_json
from dispatcher.spec import MAX_BATCH_SIZE, parse_stored_spec
from dispatcher.store import now_ms
from dispatcher.webhook_tokens import campaign_of_token

__all__ = ["MAX_WEBHOOK_BYTES", "MAX_WEBHOOK_CALLS", "router", "webhooks_closed"]

log = get_logger(__name__)

#: A call-details body for a 1,000-phone api call is ~1 MB; nothing legitimate is bigger.
MAX_WEBHOOK_BYTES = 4 * 1024 * 1024
#: Phones one call-details payload may list: an api call has at most one batch's phones.
MAX_WEBHOOK_CALLS = MAX_BATCH_SIZE

router = APIRouter(tags=["webhooks"])

_WEBHOOK_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": (
                        "Either the call details of `apiCalls/get` (`id`, `calls`), or an IVR "
                        'action\'s body (`{"call": {"phone", "answer"}, ...parameters}`).'
                    ),
                    "type": "object",
                    "additionalProperties": True,
                }
            }
        },
    }
}


@router.post(
    "/webhooks/effebot/{token}",
    response_model=WebhookAck,
    responses={
        400: {"model": ErrorBody, "description": "Not JSON."},
        403: {"model": ErrorBody, "description": "The source address is not allowed."},
        404: {"model": ErrorBody, "description": "Unknown token."},
        410: {
            "model": ErrorBody,
            "description": "The campaign ended too long ago, or its contacts are archived.",
        },
        413: {"model": ErrorBody, "description": "Body too large."},
        422: {"model": ErrorBody, "description": "Neither call details nor an IVR action."},
        503: {"model": ErrorBody, "description": "Not stored; the provider should retry."},
    },
    openapi_extra=_WEBHOOK_OPENAPI,
    summary="Receive the provider's webhooks",
)
async def receive_webhook(
    request: Request, token: str = Path(max_length=200, description="The secret path token.")
) -> WebhookAck:
    """Store call details or an IVR answer; 200 only once stored."""
    svc = services(request)
    received = _Received()
    try:
        campaign_id = _authorise(svc, request, token)
        payload = await _json_body(svc, request)
        # One hop to a worker thread for everything that waits on Redis: the campaign's meta
        # (404 for a deleted one, 410 for one ended too long ago), then the update. Each hop
        # costs a thread hand-over (and GIL traffic) on the loop; this route used to make two.
        outcome = await run_in_threadpool(_receive, svc, campaign_id, payload, received)
    except ApiError as exc:
        observe_webhook(received.kind, exc.code)
        raise
    except DispatcherError as exc:
        observe_webhook(received.kind, "not_stored")
        log.warning("webhook.not_stored", kind=received.kind, error=str(exc))
        raise
    observe_webhook(received.kind, outcome)
    return WebhookAck(outcome=outcome)


def webhooks_closed(meta: dict[str, str], now: int, grace_s: float) -> bool:
    """Pure: True once the campaign ended longer than `grace_s` ago."""
    ended = ended_at_ms(meta)
    return ended is not None and now > ended + int(grace_s * 1000)


def _authorise(svc: Services, request: Request, token: str) -> str:
    settings = svc.settings
    peer = request.client.host if request.client is not None else None
    address = client_address(peer, request.headers.get("x-forwarded-for"), svc.trusted_proxies)
    if not source_allowed(address, svc.webhook_sources):
        log.warning("webhook.source_refused", source=address)
        raise ApiError(403, "this source may not post webhooks", code="source_refused")
    secret = settings.webhook_secret
    campaign_id = campaign_of_token(secret.get_secret_value(), token) if secret else None
    if campaign_id is None:
        raise ApiError(404, "Not Found", code="bad_token")
    return campaign_id


async def _json_body(svc: Services, request: Request) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise ApiError(413, f"the body is larger than {MAX_WEBHOOK_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            raise ApiError(413, f"the body is larger than {MAX_WEBHOOK_BYTES} bytes")
    try:
        return await svc.json_parser.parse(bytes(body))
    except NotJson as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", code="malformed") from None


class _Received:
    """What the worker thread learnt of a webhook, for the metrics (`kind` once it is known)."""

    __slots__ = ("kind",)

    def __init__(self) -> None:
        self.kind = "unknown"


def _receive(svc: Services, campaign_id: str, payload: Any, received: _Received) -> str:
    """In a worker thread: the 410 checks (ended too long ago, archived), then the update."""
    meta = svc.store.meta(campaign_id)  # 404 for a deleted campaign
    if webhooks_closed(meta, now_ms(), svc.settings.webhook_grace_after_end_s):
        log.info("webhook.campaign_ended", campaign_id=campaign_id)
        raise ApiError(410, "this campaign no longer takes webhooks", code="campaign_ended")
    if "archived_at" in meta:
        # Its contacts are compressed away (`store.archive`): nothing is written to them any
        # more. Refused like an ended campaign's, so the provider stops retrying.
        log.warning("webhook.campaign_archived", campaign_id=campaign_id)
        raise ApiError(
            410,
            "this campaign's contacts are archived: it takes no more webhooks",
            code="campaign_archived",
        )
    if isinstance(payload, dict) and "calls" in payload:
        received.kind = "call"
        return _apply_details(svc, campaign_id, payload, meta)
    if isinstance(payload, dict) and isinstance(payload.get("call"), dict):
        received.kind = "ivr"
        return _apply_ivr(svc, campaign_id, payload["call"])
    raise ApiError(422, "expected call details (`id`, `calls`) or an IVR action (`call`)")


def _apply_details(
    svc: Services, campaign_id: str, payload: dict[str, Any], meta: dict[str, str]
) -> str:
    try:
        details = CallDetails.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(
            422,
            "the call details are not valid",
            code="malformed",
            errors=field_errors(list(exc.errors())),
        ) from None
    if details.id is None:
        raise ApiError(422, "the call details have no `id`", code="malformed")
    if len(details.calls) > MAX_WEBHOOK_CALLS:
        raise ApiError(
            422, f"the call details list more than {MAX_WEBHOOK_CALLS} calls", code="malformed"
        )
    next_due_ms = now_ms() + int(svc.settings.poll_max_interval_s * 1000)
    # The campaign's meta was read for the 410 check: its spec gives the retry policy (parsed
    # once per process), so the reconcile needs no second read.
    policy = retry_policy_json(parse_stored_spec(meta["spec"]).retry) if "spec" in meta else None
    reconcile_call(
        svc.store,
        campaign_id,
        details,
        next_due_ms=next_due_ms,
        source="webhook",
        retry_policy=policy,
        max_blocks=svc.settings.webhook_max_blocks,
    )
    observe_reconciled(details, "webhook")
    return "applied"


def _apply_ivr(svc: Services, campaign_id: str, call: dict[str, Any]) -> str:
    phone, answer = call.get("phone"), call.get("answer")
    if not isinstance(phone, str | int) or isinstance(phone, bool) or answer is None:
        raise ApiError(422, "an IVR action needs `call.phone` and `call.answer`", code="malformed")
    outcome = svc.store.record_ivr_answer(campaign_id, str(phone), str(answer))
    if outcome == "full":
        log.warning("webhook.ivr_answers_full", campaign_id=campaign_id)
    elif outcome == "archived":  # archived between the meta's read and the answer's write
        log.warning("webhook.ivr_answer_archived", campaign_id=campaign_id)
    return outcome
