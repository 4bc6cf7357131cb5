"""When to look at an api call again: pure rules from what its calls are doing.

A `get` costs one request of the provider's budget whether it carries 1 id or 50, so the poller
asks two questions of every api call it has just read: what is it doing, and so how soon can its
outcome change? A phone still ringing ends soon (a ring gives up after 20-30 s and its end is
usually the outcome: no answer, busy, invalid); a phone that answered talks for an unknown time,
and the longer it has talked, the longer it is likely to go on, so the interval doubles with each
look that finds it still talking. A call not started yet (planned ahead) backs off the same way.

The provider's timestamps are not used to measure how long a phone has been in its state: they are
on the provider's clock (which may be skewed, or in the sandbox sped up), so the number of looks in
the current phase stands in for elapsed time.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from dispatcher.effebot.responses import PhoneCall
from dispatcher.outcomes import backoff_s, classify_call

__all__ = ["CallPhase", "PollTiming", "call_phase", "next_poll_delay_s"]


class CallPhase(enum.Enum):
    """What an api call's open phones are doing, the most urgent first."""

    RINGING = "ringing"  # some open phone dialled and not answered: its end is near
    TALKING = "talking"  # every open phone answered: its end is anyone's guess
    WAITING = "waiting"  # no open phone dialled yet (planned ahead, queued, or not listed)


@dataclass(frozen=True, slots=True)
class PollTiming:
    """The poll intervals, from the settings."""

    first_delay_s: float
    max_interval_s: float
    #: With webhooks configured they bring the news; a poll is only the safety net.
    webhook_interval_s: float | None = None

    @property
    def ringing_s(self) -> float:
        """How often a ringing call is looked at (twice the first delay, within the cap)."""
        return min(2 * self.first_delay_s, self.max_interval_s)


def call_phase(calls: Sequence[PhoneCall]) -> CallPhase:
    """Pure: the phase of an api call from its phones (final phones do not count)."""
    talking = False
    for call in calls:
        state = classify_call(
            call.status,
            call.hangup_cause,
            finished=call.finished_at is not None,
            answered=call.answered_at is not None,
        )
        if state is not None:
            continue
        if call.answered_at is not None:
            talking = True
        elif call.started_at is not None:
            return CallPhase.RINGING
    return CallPhase.TALKING if talking else CallPhase.WAITING


def next_poll_delay_s(phase: CallPhase, looks_in_phase: int, timing: PollTiming) -> float:
    """Pure: seconds until the next look at an api call in `phase`, seen so `looks_in_phase` times.

    Ringing: a steady `ringing_s`. Talking or waiting: `ringing_s` doubled per look in the phase,
    up to `max_interval_s`. With webhooks, never sooner than `webhook_interval_s`.
    """
    if looks_in_phase < 0:
        raise ValueError("looks_in_phase must not be negative")
    if phase is CallPhase.RINGING:
        delay = timing.ringing_s
    else:
        delay = backoff_s(looks_in_phase, timing.ringing_s, timing.max_interval_s)
    if timing.webhook_interval_s is not None:
        delay = max(delay, min(timing.webhook_interval_s, timing.max_interval_s))
    return delay
