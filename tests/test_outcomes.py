"""Call outcome classification and backoff: table-driven cases and properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.outcomes import (
    TERMINAL,
    ContactState,
    backoff_s,
    classify_call,
    classify_hangup_cause,
    is_known_status,
)

S = ContactState


def test_terminal_states_are_exactly_the_final_ones() -> None:
    assert {s for s in ContactState if s not in TERMINAL} == {S.PENDING, S.SENDING, S.SENT}
    assert str(S.NO_ANSWER) == "no_answer"


@pytest.mark.parametrize(
    ("status", "cause", "finished", "answered", "expected"),
    [
        # the sandbox's final statuses, with and without `finished`
        ("completed", 16, True, True, S.COMPLETED),
        ("no_answer", 19, True, False, S.NO_ANSWER),
        ("busy", 17, True, False, S.BUSY),
        ("failed", 41, True, False, S.FAILED),
        ("invalid_number", 1, True, False, S.INVALID),
        ("completed", None, False, True, S.COMPLETED),
        # spelling tolerance
        ("No Answer", None, True, False, S.NO_ANSWER),
        ("no-answer", None, True, False, S.NO_ANSWER),
        ("NOANSWER", None, True, False, S.NO_ANSWER),
        (" User Busy ", None, True, False, S.BUSY),
        ("Wrong-Number", None, True, False, S.INVALID),
        ("cancelled-by-network", None, True, False, S.FAILED),
        ("Unallocated", None, True, False, S.INVALID),
        ("timeout", None, True, False, S.NO_ANSWER),
        ("rejected", 21, True, False, S.FAILED),
        ("canceled", None, True, False, S.CANCELLED),
        ("blacklisted", None, True, False, S.BLOCKED),
        # success synonyms count only once finished
        ("success", None, True, True, S.COMPLETED),
        ("answered", 16, True, True, S.COMPLETED),
        ("done", None, True, False, S.COMPLETED),
        ("answered", None, False, True, None),
        ("success", None, False, True, None),
        # progress statuses: not final until finished, then the cause decides
        ("planned", None, False, False, None),
        ("queued", None, False, False, None),
        ("Dialing", None, False, False, None),
        ("ringing", None, False, False, None),
        ("in progress", None, False, True, None),
        ("ringing", 19, True, False, S.NO_ANSWER),
        ("in_progress", 16, True, True, S.COMPLETED),
        # no status or an unknown one
        (None, None, False, False, None),
        (None, 17, True, False, S.BUSY),
        (None, None, True, True, S.COMPLETED),
        (None, None, True, False, S.FAILED),
        ("teleported", None, False, False, None),
        ("teleported", "17", True, False, S.BUSY),
        ("teleported", None, True, False, S.FAILED),
        ("teleported", "NORMAL_CLEARING", True, True, S.COMPLETED),
    ],
)
def test_call_details_classify_to_a_state(
    status: str | None,
    cause: int | str | None,
    finished: bool,
    answered: bool,
    expected: ContactState | None,
) -> None:
    assert classify_call(status, cause, finished, answered) == expected


@pytest.mark.parametrize(
    ("cause", "answered", "expected"),
    [
        (1, False, S.INVALID),
        (3, False, S.INVALID),
        (22, False, S.INVALID),
        (28, False, S.INVALID),
        (17, False, S.BUSY),
        (18, False, S.NO_ANSWER),
        (19, False, S.NO_ANSWER),
        (20, False, S.NO_ANSWER),
        (21, False, S.FAILED),
        (16, True, S.COMPLETED),
        (16, False, S.NO_ANSWER),
        (31, True, S.COMPLETED),
        (31, False, S.NO_ANSWER),
        (34, False, S.FAILED),
        (41, False, S.FAILED),
        (127, True, S.FAILED),
        ("16", True, S.COMPLETED),
        (" 17 ", False, S.BUSY),
        ("user_busy", False, S.BUSY),
        ("NO_ANSWER", False, S.NO_ANSWER),
        ("CALL_REJECTED", False, S.FAILED),
        ("UNALLOCATED_NUMBER", False, S.INVALID),
        ("SOMETHING_ELSE", False, None),
        ("", False, None),
        (0, False, None),
        (-5, False, None),
        (None, True, None),
        (True, True, None),
    ],
)
def test_hangup_causes_follow_q850(
    cause: int | str | None, answered: bool, expected: ContactState | None
) -> None:
    assert classify_hangup_cause(cause, answered) == expected


@pytest.mark.parametrize(
    ("status", "known"),
    [
        ("completed", True),
        ("In-Progress", True),
        ("success", True),
        (None, True),
        ("", True),
        ("teleported", False),
    ],
)
def test_unknown_statuses_can_be_told_apart_for_logging(status: str | None, known: bool) -> None:
    assert is_known_status(status) is known


_ANY_CAUSE = st.one_of(st.none(), st.integers(), st.text(max_size=20))


@given(
    status=st.one_of(st.none(), st.text(max_size=30)),
    cause=_ANY_CAUSE,
    finished=st.booleans(),
    answered=st.booleans(),
)
def test_classify_never_raises_and_returns_none_or_a_terminal_state(
    status: str | None, cause: int | str | None, finished: bool, answered: bool
) -> None:
    state = classify_call(status, cause, finished, answered)
    assert state is None or state in TERMINAL
    if finished:
        assert state is not None


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff_s(a, 5.0, 60.0) for a in range(6)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert backoff_s(10_000, 5.0, 300.0) == 300.0


def test_backoff_jitter_stays_between_half_and_all_of_the_delay() -> None:
    assert backoff_s(2, 5.0, 60.0, rand=lambda: 0.0) == 10.0
    assert backoff_s(2, 5.0, 60.0, rand=lambda: 1.0) == 20.0
    rng = random.Random(3)
    assert all(10.0 <= backoff_s(2, 5.0, 60.0, rand=rng.random) <= 20.0 for _ in range(100))


def test_backoff_refuses_negative_arguments() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        backoff_s(-1, 1.0, 2.0)


@given(
    attempt=st.integers(0, 5000),
    base_s=st.floats(0, 1e6),
    max_s=st.floats(0, 1e6),
    draw=st.floats(0, 1),
)
def test_backoff_is_never_above_the_cap_and_never_decreases(
    attempt: int, base_s: float, max_s: float, draw: float
) -> None:
    delay = backoff_s(attempt, base_s, max_s)
    assert 0.0 <= delay <= max_s
    assert backoff_s(attempt + 1, base_s, max_s) >= delay
    assert delay / 2 <= backoff_s(attempt, base_s, max_s, rand=lambda: draw) <= delay
