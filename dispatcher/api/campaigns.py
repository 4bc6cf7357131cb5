"""`/campaigns`: submit, list, status, lifecycle controls and streamed results."""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from dispatcher.access.tokens import Scope
from dispatcher.api.auth import require_scope
from dispatcher.api.cursors import decode_cursor, encode_cursor
from dispatcher.api.errors import ApiError
from dispatcher.api.intake import read_submission
from dispatcher.api.models import (
    CampaignProgress,
    ControlResult,
    DryRunBody,
    ErrorBody,
    PauseRequest,
    RescheduleRequest,
    SubmitReportBody,
)
from dispatcher.api.services import Services, services
from dispatcher.dry_run import dry_run as run_dry
from dispatcher.errors import InputError
from dispatcher.export import COLUMNS, csv_cells, row_of
from dispatcher.intake.idempotency import MAX_KEY_CHARS, Reservation, reserve
from dispatcher.lifecycle import CampaignStatus
from dispatcher.producer import submit_campaign
from dispatcher.progress import compute_progress
from dispatcher.store import now_ms

__all__ = ["CAMPAIGN_ID", "SUBMIT_OPENAPI", "router"]

#: Campaign ids are 16 hex digits; the pattern also keeps odd strings out of Redis key names.
CAMPAIGN_ID = r"^[A-Za-z0-9_\-]{1,64}$"
#: Rows per chunk of a streamed export.
EXPORT_CHUNK_ROWS = 500

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid bearer token."},
    403: {"model": ErrorBody, "description": "The token lacks the scope."},
    404: {"model": ErrorBody, "description": "No such campaign."},
    503: {"model": ErrorBody, "description": "Redis is unreachable; retry later."},
}

router = APIRouter(prefix="/campaigns", tags=["campaigns"])

READ = [require_scope(Scope.READ)]
OPERATE = [require_scope(Scope.OPERATE)]

CampaignId = Path(pattern=CAMPAIGN_ID, description="The id `POST /campaigns` answered with.")

#: The two request bodies of `POST /campaigns` (FastAPI cannot infer a body read by hand).
SUBMIT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SubmitJson"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["spec", "file"],
                    "properties": {
                        "spec": {
                            "type": "string",
                            "description": "The campaign spec as JSON text (the `spec` object).",
                        },
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "Contacts: CSV with a `phone` column, or JSON Lines.",
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=SubmitReportBody,
    responses={
        **_ERRORS,
        200: {"model": DryRunBody, "description": "With `dry_run`: what would happen."},
        409: {
            "model": ErrorBody,
            "description": (
                "The idempotency key was used for other content (`idempotency_key_reused`), or "
                "its first submission is still being read (`submission_in_progress`: retry)."
            ),
        },
        410: {
            "model": ErrorBody,
            "description": (
                "The idempotency key's campaign ended and was removed after its retention "
                "(`campaign_purged`): it is not created again."
            ),
        },
        413: {"model": ErrorBody, "description": "Larger than DISPATCHER_MAX_UPLOAD_BYTES."},
        415: {"model": ErrorBody, "description": "Neither JSON nor multipart."},
        422: {
            "model": ErrorBody,
            "description": (
                "Invalid spec (`errors` name fields), a spec the provider account cannot serve "
                "(`account_mismatch`: `errors` name the fields and the allowed values), or "
                "refused (`report` lists rows)."
            ),
        },
    },
    openapi_extra=SUBMIT_OPENAPI,
    summary="Submit a campaign",
    dependencies=OPERATE,
)
async def submit(
    request: Request,
    strict: bool = Query(False, description="Refuse the whole submission if any row is rejected."),
    fmt: Literal["csv", "jsonl"] | None = Query(
        None, alias="format", description="The upload's format (default: by file name)."
    ),
    dry_run: bool = Query(
        False, description="Only report what would happen (200): nothing is written or enqueued."
    ),
    idempotency_key: str | None = Header(
        None,
        max_length=MAX_KEY_CHARS,
        description=(
            "Makes retrying safe: the same key with the same content answers the original "
            "report (`replayed`, header `Idempotent-Replayed: true`), never a second campaign."
        ),
    ),
) -> JSONResponse:
    """Validate, store and enqueue a campaign; nothing is enqueued unless it is accepted."""
    svc = services(request)
    settings, store = svc.settings, svc.store
    # Nothing is accepted onto a Redis that lost its data (the DNC list with it): 503.
    await run_in_threadpool(svc.check_trusted)
    reservation: Reservation | None = None
    if idempotency_key is not None and not dry_run:
        # Reserved before the body is read: a retry arriving while this one is still being read
        # (its client timed out) is told to wait instead of starting a second campaign.
        lease_ms = int(settings.idempotency_lease_s * 1000)
        try:
            reservation = await run_in_threadpool(reserve, store, idempotency_key, lease_ms)
        except InputError as exc:
            raise ApiError(422, str(exc), code="invalid_idempotency_key") from None
        reservation.check_not_in_progress()
    keep_alive = None
    if reservation is not None and reservation.ours:
        held = reservation

        async def keep_alive() -> None:
            await run_in_threadpool(store.extend_record, held.key, held.campaign_id, lease_ms)

    try:
        async with read_submission(
            request,
            settings.max_upload_bytes,
            settings.default_region,
            fmt,
            svc.json_parser,
            keep_alive,
        ) as submission:
            if submission.spec.callback_url is not None and settings.callback_secret is None:
                raise ApiError(
                    422,
                    "callback_url needs DISPATCHER_CALLBACK_SECRET (deliveries are signed)",
                    code="callbacks_not_configured",
                )
            if dry_run:
                estimate = await run_in_threadpool(
                    functools.partial(run_dry, strict=strict),
                    store,
                    settings,
                    submission.spec,
                    submission.contacts,
                    preflight=svc.preflight,
                )
                return JSONResponse(estimate.as_dict(), status_code=200)
            report = await run_in_threadpool(
                submit_campaign,
                store,
                svc.enqueue,
                submission.spec,
                submission.contacts,
                strict=strict,
                pace_per_s=settings.provider_rate_per_s,
                preflight=svc.preflight,
                reservation=reservation,
            )
    except ClientDisconnect:
        raise ApiError(400, "the client went away while sending the body") from None
    finally:
        if reservation is not None and reservation.ours:
            # A no-op once the submission is done; frees the key after anything else.
            await run_in_threadpool(store.release_record, reservation.key, reservation.campaign_id)
    body = report.as_dict()
    if report.campaign_id is None:
        raise ApiError(
            422,
            report.refused_because or "the submission was refused",
            code="submission_refused",
            report=body,
        )
    headers = {"Idempotent-Replayed": "true"} if report.replayed else None
    return JSONResponse(body, status_code=201, headers=headers)


def _progress(svc: Services, campaign_id: str) -> dict[str, Any]:
    store = svc.store
    return compute_progress(store.meta(campaign_id), store.counts(campaign_id), now_ms()).as_dict()


_NEXT_PAGE = {
    "X-Next-Cursor": {
        "description": "Pass as `cursor` for the next page; absent on the last page.",
        "schema": {"type": "string"},
    },
    "Link": {"description": 'The next page as `<url>; rel="next"`.', "schema": {"type": "string"}},
}


@router.get(
    "",
    response_model=list[CampaignProgress],
    responses={**_ERRORS, 200: {"description": "One page, newest first.", "headers": _NEXT_PAGE}},
    summary="List campaigns",
    dependencies=READ,
)
def list_campaigns(
    request: Request,
    response: Response,
    limit: int = Query(50, ge=1, le=500, description="At most this many, newest first."),
    status: Annotated[
        CampaignStatus | None, Query(description="Only campaigns in this status.")
    ] = None,
    cursor: str | None = Query(
        None, max_length=200, description="Where to continue (`X-Next-Cursor` of a page)."
    ),
) -> list[dict[str, Any]]:
    """Campaigns, newest first, each with its progress; page on with `X-Next-Cursor`.

    With `status`, a page can hold fewer than `limit` campaigns (at most 5,000 are looked at
    per page) and still have a next one: only a missing `X-Next-Cursor` means the end.
    """
    svc = services(request)
    after = None if cursor is None else decode_cursor(cursor)
    ids, following = svc.store.page_campaigns(
        limit, after, None if status is None else status.value
    )
    if following is not None:
        token = encode_cursor(following)
        response.headers["X-Next-Cursor"] = token
        url = request.url.include_query_params(cursor=token)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return [_progress(svc, campaign_id) for campaign_id in ids]


@router.get(
    "/{campaign_id}",
    response_model=CampaignProgress,
    responses=_ERRORS,
    summary="A campaign's status",
    dependencies=READ,
)
def get_campaign(request: Request, campaign_id: str = CampaignId) -> dict[str, Any]:
    """Status, counts by contact state, rate, ETA and pause reason."""
    return _progress(services(request), campaign_id)


_CONTROL_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"model": ErrorBody, "description": "The campaign's status does not allow it."},
}


def _controls(svc: Services) -> Any:
    from dispatcher.controls import Controls

    return Controls(svc.store, svc.enqueue, pace_per_s=svc.settings.provider_rate_per_s)


@router.post(
    "/{campaign_id}/pause",
    response_model=ControlResult,
    responses=_CONTROL_ERRORS,
    summary="Pause a campaign",
    dependencies=OPERATE,
)
def pause(
    request: Request,
    campaign_id: str = CampaignId,
    body: Annotated[PauseRequest | None, Body()] = None,
) -> dict[str, Any]:
    """Stop new dials at once; calls planned at the provider are parked."""
    reason = body.reason if body is not None else None
    result: dict[str, Any] = _controls(services(request)).pause(campaign_id, reason)
    return result


@router.post(
    "/{campaign_id}/resume",
    response_model=ControlResult,
    responses=_CONTROL_ERRORS,
    summary="Resume a paused campaign",
    dependencies=OPERATE,
)
def resume(request: Request, campaign_id: str = CampaignId) -> dict[str, Any]:
    """Continue exactly where the campaign stopped."""
    result: dict[str, Any] = _controls(services(request)).resume(campaign_id)
    return result


@router.post(
    "/{campaign_id}/cancel",
    response_model=ControlResult,
    responses=_CONTROL_ERRORS,
    summary="Cancel a campaign",
    dependencies=OPERATE,
)
def cancel(request: Request, campaign_id: str = CampaignId) -> dict[str, Any]:
    """Unsent contacts end `cancelled`; planned calls are removed at the provider."""
    result: dict[str, Any] = _controls(services(request)).cancel(campaign_id)
    return result


@router.post(
    "/{campaign_id}/reschedule",
    response_model=ControlResult,
    responses=_CONTROL_ERRORS,
    summary="Move a scheduled campaign's start",
    dependencies=OPERATE,
)
def reschedule(
    request: Request, body: RescheduleRequest, campaign_id: str = CampaignId
) -> dict[str, Any]:
    """Change the start time of a scheduled campaign."""
    result: dict[str, Any] = _controls(services(request)).reschedule(campaign_id, body.start_at)
    return result


@router.get(
    "/{campaign_id}/results",
    responses={
        **_ERRORS,
        200: {
            "description": "Every contact with its state and the provider's details.",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        },
    },
    response_class=StreamingResponse,
    summary="Stream a campaign's results",
    dependencies=READ,
)
def results(
    request: Request,
    campaign_id: str = CampaignId,
    fmt: Literal["csv", "jsonl"] = Query("csv", alias="format"),
    keep_formulas: bool = Query(
        False,
        description=(
            "CSV: write cells starting with = + - @ (or a tab or carriage return) as they are, "
            "instead of with a leading `'` that keeps spreadsheets from running them."
        ),
    ),
) -> StreamingResponse:
    """Every contact and its attempt details, streamed as CSV or JSON Lines."""
    store = services(request).store
    store.meta(campaign_id)  # 404 before the first byte is sent
    records = store.iter_contacts(campaign_id)
    rows = (row_of(record) for record in records)
    if fmt == "jsonl":
        return StreamingResponse(
            _jsonl_chunks(rows),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{campaign_id}.jsonl"'},
        )
    return StreamingResponse(
        _csv_chunks(rows, keep_formulas),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{campaign_id}.csv"'},
    )


def _csv_chunks(rows: Iterator[dict[str, Any]], keep_formulas: bool) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for count, row in enumerate(rows, start=1):
        writer.writerow(csv_cells(row, keep_formulas=keep_formulas))
        if count % EXPORT_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_chunks(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    lines: list[str] = []
    for row in rows:
        lines.append(
            json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False)
        )
        if len(lines) >= EXPORT_CHUNK_ROWS:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"
