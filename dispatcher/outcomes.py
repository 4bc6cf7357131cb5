"""Contact states, and what a call's details say about how it ended (pure functions).

The provider's reference lists neither call status values nor hang-up codes, so classification is
tolerant: statuses are compared case-, space- and dash-insensitively against a vocabulary that
covers the project's sandbox (`completed`, `no_answer`, `busy`, `failed`, `invalid_number`) and
plausible synonyms; when the status says nothing useful but the call has finished, the Q.850
hang-up cause decides (numeric, or FreeSWITCH/Asterisk-style names such as "USER_BUSY").

Hang-up cause decisions (Q.850):

    1 unallocated, 3 no route, 22 number changed, 28 invalid format  -> invalid
    17 user busy                                                     -> busy
    18 no user responding, 19 no answer, 20 subscriber absent        -> no_answer
    21 call rejected                                                 -> failed (a refusal, not a
                                                                        silence: not re-dialled as
                                                                        no_answer would be)
    16 normal clearing, 31 normal unspecified: answered -> completed, else no_answer
    anything else (34, 38, 41, 127, ...)                             -> failed
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

__all__ = [
    "TERMINAL",
    "ContactState",
    "backoff_s",
    "classify_call",
    "classify_hangup_cause",
    "is_known_status",
]


class ContactState(StrEnum):
    """Where one contact is; the last eight are terminal."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"  # created at the provider, waiting for the outcome
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    INVALID = "invalid"
    BLOCKED = "blocked"  # on the do-not-call list
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the create may or may not have reached the provider
    EXPIRED = "expired"


TERMINAL: frozenset[ContactState] = frozenset(
    {
        ContactState.COMPLETED,
        ContactState.NO_ANSWER,
        ContactState.BUSY,
        ContactState.FAILED,
        ContactState.INVALID,
        ContactState.BLOCKED,
        ContactState.CANCELLED,
        ContactState.UNKNOWN,
        ContactState.EXPIRED,
    }
)

_S = ContactState

# Statuses that end a call whatever `finished` says.
_FINAL_STATUSES: dict[str, ContactState] = {
    "completed": _S.COMPLETED,
    "complete": _S.COMPLETED,
    "no_answer": _S.NO_ANSWER,
    "noanswer": _S.NO_ANSWER,
    "not_answered": _S.NO_ANSWER,
    "unanswered": _S.NO_ANSWER,
    "no_response": _S.NO_ANSWER,
    "timeout": _S.NO_ANSWER,
    "busy": _S.BUSY,
    "user_busy": _S.BUSY,
    "failed": _S.FAILED,
    "fail": _S.FAILED,
    "failure": _S.FAILED,
    "error": _S.FAILED,
    "rejected": _S.FAILED,
    "declined": _S.FAILED,
    "cancelled_by_network": _S.FAILED,
    "canceled_by_network": _S.FAILED,
    "network_error": _S.FAILED,
    "congestion": _S.FAILED,
    "invalid": _S.INVALID,
    "invalid_number": _S.INVALID,
    "invalid_phone": _S.INVALID,
    "wrong_number": _S.INVALID,
    "unallocated": _S.INVALID,
    "unallocated_number": _S.INVALID,
    "number_not_exists": _S.INVALID,
    "blocked": _S.BLOCKED,
    "blacklisted": _S.BLOCKED,
    "cancelled": _S.CANCELLED,
    "canceled": _S.CANCELLED,
    "removed": _S.CANCELLED,
    "deleted": _S.CANCELLED,
}
# Statuses that mean success only once the call has finished (mid-call they are progress).
_SUCCESS_WHEN_FINISHED = frozenset({"success", "successful", "answered", "done", "finished", "ok"})
_IN_PROGRESS = frozenset(
    {
        "planned",
        "scheduled",
        "queued",
        "new",
        "pending",
        "created",
        "waiting",
        "processing",
        "started",
        "dialing",
        "dialling",
        "calling",
        "ringing",
        "in_progress",
        "inprogress",
        "progress",
        "active",
        "connected",
    }
)

_CAUSE_NAMES: dict[str, int] = {
    "unallocated_number": 1,
    "no_route_destination": 3,
    "normal_clearing": 16,
    "user_busy": 17,
    "no_user_response": 18,
    "no_answer": 19,
    "subscriber_absent": 20,
    "call_rejected": 21,
    "number_changed": 22,
    "invalid_number_format": 28,
    "normal_unspecified": 31,
}
_INVALID_CAUSES = frozenset({1, 3, 22, 28})
_NO_ANSWER_CAUSES = frozenset({18, 19, 20})
_NORMAL_CAUSES = frozenset({16, 31})

_SEPARATORS = re.compile(r"[\s\-]+")


def _norm(status: str) -> str:
    return _SEPARATORS.sub("_", status.strip().lower()).strip("_")


def is_known_status(status: str | None) -> bool:
    """Whether `classify_call` understands this status (no status at all counts as known)."""
    if status is None or not status.strip():
        return True
    key = _norm(status)
    return key in _FINAL_STATUSES or key in _SUCCESS_WHEN_FINISHED or key in _IN_PROGRESS


def classify_call(
    status: str | None, hangup_cause: int | str | None, finished: bool, answered: bool
) -> ContactState | None:
    """The terminal state a call's details describe, or None while the call is not over."""
    key = _norm(status) if isinstance(status, str) else ""
    final = _FINAL_STATUSES.get(key)
    if final is not None:
        return final
    if not finished:
        return None
    if key in _SUCCESS_WHEN_FINISHED:
        return _S.COMPLETED
    # Finished, with a progress status (it lags), an unknown one or none: the cause decides.
    by_cause = classify_hangup_cause(hangup_cause, answered)
    if by_cause is not None:
        return by_cause
    return _S.COMPLETED if answered else _S.FAILED


def classify_hangup_cause(cause: int | str | None, answered: bool) -> ContactState | None:
    """The state a Q.850 hang-up cause (number or name) implies, or None without a usable cause."""
    code = _cause_code(cause)
    if code is None:
        return None
    if code in _INVALID_CAUSES:
        return _S.INVALID
    if code == 17:
        return _S.BUSY
    if code in _NO_ANSWER_CAUSES:
        return _S.NO_ANSWER
    if code in _NORMAL_CAUSES:
        return _S.COMPLETED if answered else _S.NO_ANSWER
    return _S.FAILED


def _cause_code(cause: int | str | None) -> int | None:
    if isinstance(cause, bool) or cause is None:
        return None
    if isinstance(cause, int):
        return cause if cause > 0 else None
    if not isinstance(cause, str):
        return None
    text = cause.strip()
    if text.isascii() and text.isdigit():
        code = int(text)
        return code if code > 0 else None
    return _CAUSE_NAMES.get(_norm(text))


def backoff_s(
    attempt: int,
    base_s: float,
    max_s: float,
    *,
    rand: Callable[[], float] | None = None,
) -> float:
    """Delay before retry number `attempt` (0 first): base_s * 2**attempt, capped at max_s.

    Deterministic by default; pass `rand` (e.g. `random.random`) for "equal jitter", a delay
    drawn between half the capped value and all of it, so synchronised pollers spread out.
    """
    if attempt < 0 or base_s < 0 or max_s < 0:
        raise ValueError("attempt, base_s and max_s must not be negative")
    # Past 2**64 the cap has long won; stop before float overflow.
    delay = max_s if attempt > 64 else min(max_s, base_s * 2.0**attempt)
    if rand is None:
        return delay
    return delay / 2 + delay / 2 * min(max(rand(), 0.0), 1.0)
