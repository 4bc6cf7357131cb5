"""Retry policy: which outcomes are re-dialled, how often and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatcher.outcomes import ContactState
from dispatcher.retry_policy import RETRYABLE_OUTCOMES, RetryPolicy, RetryRule, next_attempt_at

T0 = datetime(2024, 5, 3, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    no_answer=RetryRule(max_attempts=3, interval_s=600),
    busy=RetryRule(max_attempts=2, interval_s=120.5),
)


@pytest.mark.parametrize(
    ("outcome", "attempts_made", "expected"),
    [
        ("no_answer", 1, T0 + timedelta(minutes=10)),
        ("no_answer", 2, T0 + timedelta(minutes=10)),
        ("no_answer", 3, None),  # three dials made: that was the last one
        ("busy", 1, T0 + timedelta(seconds=120.5)),
        ("busy", 2, None),
        ("failed", 1, None),  # no rule configured
        ("completed", 1, None),
        ("invalid", 1, None),
        ("blocked", 1, None),
        ("unknown", 1, None),
        (ContactState.NO_ANSWER, 1, T0 + timedelta(minutes=10)),
    ],
)
def test_next_attempt_examples(outcome: str, attempts_made: int, expected: datetime | None) -> None:
    assert next_attempt_at(POLICY, outcome, attempts_made, T0) == expected


def test_default_policy_never_retries() -> None:
    policy = RetryPolicy()
    assert all(next_attempt_at(policy, o, 1, T0) is None for o in RETRYABLE_OUTCOMES)


def test_policy_reads_from_the_spec_mapping() -> None:
    policy = RetryPolicy.model_validate(
        {"no_answer": {"max_attempts": 2, "interval_s": 3600}, "failed": None}
    )
    assert policy.max_attempts_for("no_answer") == 2
    assert policy.max_attempts_for("failed") == 1
    assert policy.rule_for("busy") is None


@pytest.mark.parametrize("outcome", ["invalid", "blocked", "completed", "unknown", "cancelled"])
def test_a_rule_for_a_non_retryable_outcome_is_an_error_naming_it(outcome: str) -> None:
    with pytest.raises(ValidationError, match=f"{outcome}: not retryable"):
        RetryPolicy.model_validate({outcome: {"max_attempts": 2, "interval_s": 60}})


def test_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="no_anwser"):
        RetryPolicy.model_validate({"no_anwser": {"max_attempts": 2, "interval_s": 60}})


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"max_attempts": 0, "interval_s": 60}, "max_attempts"),
        ({"max_attempts": 2, "interval_s": 0}, "interval_s"),
        ({"max_attempts": 2, "interval_s": float("inf")}, "interval_s"),
        ({"max_attempts": 2}, "interval_s"),
    ],
)
def test_bad_rules_name_their_field(rule: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RetryPolicy.model_validate({"busy": rule})
    assert info.value.errors()[0]["loc"] == ("busy", field)


def test_caller_misuse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next_attempt_at(POLICY, "busy", 0, T0)
    with pytest.raises(ValueError, match="aware"):
        next_attempt_at(POLICY, "busy", 1, datetime(2024, 5, 3))
    with pytest.raises(ValueError, match="unknown outcome"):
        next_attempt_at(POLICY, "no-answer", 1, T0)


rules = st.none() | st.builds(
    RetryRule,
    max_attempts=st.integers(1, 6),
    interval_s=st.floats(0.001, 86_400, allow_nan=False, allow_infinity=False),
)
policies = st.builds(RetryPolicy, no_answer=rules, busy=rules, failed=rules)


@given(policy=policies, outcomes=st.lists(st.sampled_from(list(ContactState)), min_size=1))
def test_a_contact_is_never_dialled_more_than_max_attempts_nor_after_a_final_outcome(
    policy: RetryPolicy, outcomes: list[ContactState]
) -> None:
    # Replay one contact: dial, take the next outcome, ask for a retry, until there is none.
    attempts = 0
    at = T0
    for outcome in outcomes:
        attempts += 1
        rule = policy.rule_for(outcome)
        later = next_attempt_at(policy, outcome, attempts, at)
        if later is None:
            break
        assert outcome in RETRYABLE_OUTCOMES
        assert rule is not None
        assert attempts < rule.max_attempts
        assert later - at == timedelta(seconds=rule.interval_s)
        at = later
    limit = max(
        (r.max_attempts for r in (policy.no_answer, policy.busy, policy.failed) if r), default=1
    )
    assert attempts <= limit
