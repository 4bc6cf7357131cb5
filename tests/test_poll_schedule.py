"""The poll schedule's pure rules: what an api call is doing decides when it is looked at again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.effebot.responses import PhoneCall
from dispatcher.poll_schedule import CallPhase, PollTiming, call_phase, next_poll_delay_s

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TIMING = PollTiming(first_delay_s=5.0, max_interval_s=300.0)


def phone(**fields: Any) -> PhoneCall:
    return PhoneCall.model_validate({"phone": "12025550100", **fields})


RINGING = phone(status="dialing", startedAt=T)
TALKING = phone(status="in_progress", startedAt=T, answeredAt=T)
PLANNED = phone(status="planned")
DONE = phone(status="completed", startedAt=T, answeredAt=T, finishedAt=T)


@pytest.mark.parametrize(
    ("calls", "phase"),
    [
        ([RINGING], CallPhase.RINGING),
        ([TALKING], CallPhase.TALKING),
        ([PLANNED], CallPhase.WAITING),
        ([], CallPhase.WAITING),
        ([DONE, TALKING], CallPhase.TALKING),
        ([TALKING, RINGING, PLANNED], CallPhase.RINGING),  # the most urgent phone decides
        ([DONE], CallPhase.WAITING),  # nothing open: the caller finishes it anyway
    ],
)
def test_a_call_is_in_the_phase_of_its_most_urgent_open_phone(
    calls: list[PhoneCall], phase: CallPhase
) -> None:
    assert call_phase(calls) is phase


def test_a_ringing_call_is_looked_at_steadily() -> None:
    delays = [next_poll_delay_s(CallPhase.RINGING, n, TIMING) for n in range(6)]
    assert delays == [10.0] * 6


def test_a_talking_call_is_looked_at_less_often_the_longer_it_talks() -> None:
    delays = [next_poll_delay_s(CallPhase.TALKING, n, TIMING) for n in range(7)]
    assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_with_webhooks_polling_is_only_a_safety_net() -> None:
    timing = PollTiming(5.0, 300.0, webhook_interval_s=60.0)
    assert next_poll_delay_s(CallPhase.RINGING, 0, timing) == 60.0
    assert next_poll_delay_s(CallPhase.TALKING, 4, timing) == 160.0
    # Never beyond the longest interval, whatever the webhook interval says.
    assert next_poll_delay_s(CallPhase.RINGING, 0, PollTiming(5.0, 30.0, 600.0)) == 30.0


def test_looks_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="looks_in_phase"):
        next_poll_delay_s(CallPhase.TALKING, -1, TIMING)


@given(
    phase=st.sampled_from(list(CallPhase)),
    looks=st.integers(min_value=0, max_value=10_000),
    first=st.floats(min_value=0.0, max_value=60.0),
    cap=st.floats(min_value=0.01, max_value=3600.0),
    webhook=st.none() | st.floats(min_value=0.01, max_value=3600.0),
)
def test_the_delay_stays_within_its_bounds(
    phase: CallPhase, looks: int, first: float, cap: float, webhook: float | None
) -> None:
    timing = PollTiming(first, cap, webhook)
    delay = next_poll_delay_s(phase, looks, timing)
    assert 0 <= delay <= cap
    assert delay >= min(2 * first, cap)
    if webhook is not None:
        assert delay >= min(webhook, cap)
