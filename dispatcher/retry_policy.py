"""Retry policy: whether and when a contact is dialled again after an attempt (pure arithmetic).

Only silence-like outcomes are worth another dial: `no_answer`, `busy` and `failed`. An `invalid`
number stays invalid, a `blocked` one is on the do-not-call list, `completed` is done, and
`unknown` (the create may have reached the provider) must never be redialled blindly, so none of
those can be given a rule: the spec's `[retry]` refuses them by name.

`max_attempts` counts every dial of the contact including the first, so `max_attempts = 3` is the
first call and up to two retries. The time returned is the earliest allowed one; the caller moves it
into the contact's call window (`dispatcher.windows.next_open`) and checks pause, cancel and the
do-not-call list right before dialling.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatcher.outcomes import ContactState

__all__ = ["RETRYABLE_OUTCOMES", "RetryPolicy", "RetryRule", "next_attempt_at"]

#: The outcome classes a retry rule may be given for.
RETRYABLE_OUTCOMES: frozenset[str] = frozenset({"no_answer", "busy", "failed"})


class RetryRule(BaseModel):
    """How often and how far apart one outcome class is re-dialled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(ge=1, description="Dials in total, the first one included.")
    interval_s: float = Field(
        gt=0, allow_inf_nan=False, description="Seconds from an attempt's end to the next dial."
    )


class RetryPolicy(BaseModel):
    """Retry rules per outcome class (the spec's `[retry]`); no rule means no retry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    no_answer: RetryRule | None = None
    busy: RetryRule | None = None
    failed: RetryRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_retryable_outcomes(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(
                key for key in data if key in _STATES and key not in RETRYABLE_OUTCOMES
            )
            if refused:
                raise ValueError(
                    f"{', '.join(refused)}: not retryable (rules are for no_answer, busy, failed)"
                )
        return data

    def rule_for(self, outcome: str) -> RetryRule | None:
        """The rule for an outcome class, None when it is not retried."""
        state = _state(outcome)
        if state not in RETRYABLE_OUTCOMES:
            return None
        rule: RetryRule | None = getattr(self, state)
        return rule

    def max_attempts_for(self, outcome: str) -> int:
        """Dials in total a contact ending with this outcome may get (1: no retry)."""
        rule = self.rule_for(outcome)
        return 1 if rule is None else rule.max_attempts


def next_attempt_at(
    policy: RetryPolicy, outcome: str, attempts_made: int, finished_at: datetime
) -> datetime | None:
    """When to dial again after an attempt that ended with `outcome`; None for never.

    `attempts_made` counts the dials already made, the first included (so it is >= 1).
    """
    if attempts_made < 1:
        raise ValueError("attempts_made counts the first dial: it is at least 1")
    if finished_at.tzinfo is None or finished_at.utcoffset() is None:
        raise ValueError("finished_at must be an aware datetime")
    rule = policy.rule_for(outcome)
    if rule is None or attempts_made >= rule.max_attempts:
        return None
    return finished_at + timedelta(seconds=rule.interval_s)


_STATES = frozenset(state.value for state in ContactState)


def _state(outcome: str) -> str:
    if outcome not in _STATES:
        raise ValueError(f"unknown outcome {outcome!r}")
    return str(outcome)
