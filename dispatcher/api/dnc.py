"""`/dnc`: the do-not-call list, checked at submit and again before each dial."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from dispatcher.access.tokens import ApiToken, Scope
from dispatcher.api.auth import require_scope
from dispatcher.api.errors import ApiError
from dispatcher.api.models import DncAdded, DncPhones, DncRemoved, ErrorBody, FieldError
from dispatcher.api.services import services
from dispatcher.logs import get_logger
from dispatcher.phones import InvalidPhone, normalise_phone

__all__ = ["normalised", "router"]

log = get_logger(__name__)

#: Numbers per chunk of the streamed list.
LIST_CHUNK = 1000
#: A search looks at the list in SSCAN steps of this many members, at most this many steps per
#: request, and stops early once it has found this many: bounded work whatever the list's size.
SEARCH_STEP_MEMBERS = 200
SEARCH_STEPS = 100
SEARCH_ENOUGH = 100
#: What a search may write between the digits (`+1 (202) 555-0143`).
_SEPARATORS = re.compile(r"[\s+().\-]")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No valid bearer token."},
    403: {"model": ErrorBody, "description": "The token lacks the scope."},
    422: {"model": ErrorBody, "description": "A number is not valid (`errors` name each)."},
    503: {"model": ErrorBody, "description": "Redis is unreachable; retry later."},
}

router = APIRouter(prefix="/dnc", tags=["do-not-call"])


def normalised(phones: list[str], default_region: str) -> list[str]:
    """Provider-format numbers; 422 naming every invalid one (nothing is changed then)."""
    out: list[str] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(phones):
        try:
            out.append(normalise_phone(raw, default_region))
        except InvalidPhone as exc:
            errors.append(FieldError(field=f"phones.{index}", message=str(exc)))
    if errors:
        raise ApiError(422, "invalid phone numbers; nothing was changed", errors=errors)
    return out


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        **_ERRORS,
        200: {"description": "One number per line.", "content": {"text/plain": {}}},
    },
    summary="Stream the do-not-call list",
    dependencies=[require_scope(Scope.READ)],
)
def list_dnc(request: Request) -> StreamingResponse:
    """Every number on the list, one per line (streamed; order is Redis's)."""
    store = services(request).store
    store.ping()  # 503 before the stream starts rather than a cut-off answer
    return StreamingResponse(_chunks(store.dnc_iter()), media_type="text/plain; charset=utf-8")


def _chunks(phones: Iterator[str]) -> Iterator[str]:
    lines: list[str] = []
    for phone in phones:
        lines.append(phone)
        if len(lines) >= LIST_CHUNK:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


@router.get(
    "/search",
    response_model=list[str],
    responses={
        **_ERRORS,
        200: {
            "description": "Numbers found so far; go on with `X-Next-Cursor` while it is there.",
            "headers": {
                "X-Next-Cursor": {
                    "description": "Pass as `cursor` to search on; absent once the list is done.",
                    "schema": {"type": "string"},
                }
            },
        },
    },
    summary="Search the do-not-call list",
    dependencies=[require_scope(Scope.READ)],
)
def search_dnc(
    request: Request,
    response: Response,
    q: str = Query(min_length=1, max_length=32, description="A number, or digits it contains."),
    cursor: str | None = Query(
        None, pattern=r"^[0-9]{1,20}$", description="Where to go on (`X-Next-Cursor`)."
    ),
) -> list[str]:
    """A whole number is looked up; other digits are searched for, a bounded part per request."""
    digits = _SEPARATORS.sub("", q)
    if not digits.isdigit() or len(digits) > 15:
        raise ApiError(
            422,
            "`q` must be a phone number or up to 15 of its digits",
            errors=[FieldError(field="query.q", message="digits only (with + ( ) - or spaces)")],
        )
    svc = services(request)
    store = svc.store
    if cursor is None:
        try:
            number = normalise_phone(q, svc.settings.default_region)
        except InvalidPhone:
            number = None
        if number is not None:
            return [number] if store.dnc_contains(number) else []
    position = int(cursor or 0)
    found: list[str] = []
    for _ in range(SEARCH_STEPS):
        position, phones = store.dnc_scan(position, digits, SEARCH_STEP_MEMBERS)
        found += phones
        if position == 0 or len(found) >= SEARCH_ENOUGH:
            break
    if position != 0:
        response.headers["X-Next-Cursor"] = str(position)
    return list(dict.fromkeys(found))  # SSCAN may return a member twice while the set grows


@router.post(
    "",
    response_model=DncAdded,
    responses=_ERRORS,
    summary="Add numbers",
    dependencies=[require_scope(Scope.OPERATE)],
)
def add_dnc(request: Request, body: DncPhones) -> DncAdded:
    """Add numbers (normalised like contacts) to the list."""
    svc = services(request)
    phones = normalised(body.phones, svc.settings.default_region)
    return DncAdded(added=svc.store.dnc_add(phones))


@router.delete(
    "",
    response_model=DncRemoved,
    responses=_ERRORS,
    summary="Remove numbers (admin)",
)
def remove_dnc(
    request: Request,
    body: DncPhones,
    token: Annotated[ApiToken, require_scope(Scope.ADMIN)],
) -> DncRemoved:
    """Remove numbers from the list: a compliance control, so it needs the `admin` scope."""
    svc = services(request)
    phones = normalised(body.phones, svc.settings.default_region)
    removed = svc.store.dnc_remove(phones)
    # An audit line: who lifted a block, and how many (never the numbers themselves).
    log.info("dnc.removed", requested=len(phones), removed=removed, caller=token.name)
    return DncRemoved(removed=removed)
