"""The pure timeline: drawn fates stay within their bounds and statuses only move forward."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.sandbox.config import DEFAULT_OUTCOMES, FINAL_STATUSES
from dispatcher.sandbox.timeline import IvrSpec, draw_fate, phone_status, phone_view

ORDER = ["planned", "dialing", "in_progress", "final"]
IVRS = [IvrSpec(id=1, digit=1, manager_phone="15550000000"), IvrSpec(id=2, keywords=("yes",))]


def _fate(seed: int):  # type: ignore[no-untyped-def]
    return draw_fate(
        random.Random(seed),
        outcomes=DEFAULT_OUTCOMES,
        ivrs=IVRS,
        press_probability=0.7,
        manager_answer_probability=0.8,
        price_per_minute=0.05,
    )


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_a_phone_walks_forward_through_the_statuses_to_its_outcome(seed: int) -> None:
    fate = _fate(seed)
    started_at = 1_000
    seen = []
    for now in range(started_at - 5, started_at + fate.ring_s + fate.talk_s + 5):
        status = phone_status(fate, started_at, now)
        seen.append(ORDER.index("final" if status in FINAL_STATUSES else status))
    assert seen == sorted(seen)
    assert phone_status(fate, started_at, 10**9) == fate.status
    if fate.answered:
        assert 3 <= fate.ring_s <= 30
        assert fate.talk_s >= 10
        assert ORDER.index("in_progress") in seen
    else:
        assert fate.talk_s == 0
        assert fate.cost == 0


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_the_same_rng_state_draws_the_same_fate(seed: int) -> None:
    assert _fate(seed) == _fate(seed)


def test_a_view_before_the_dial_has_no_timestamps() -> None:
    view = phone_view(
        _fate(1),
        phone="1",
        started_at=2_000,
        created_at=1_000,
        now_s=1_500,
        ivrs=IVRS,
        need_recording=True,
        record_path="/r.mp3",
        label="test",
    )
    assert view["status"] == "planned"
    assert view["startedAt"] is view["finishedAt"] is view["answeredAt"] is None
    assert view["updatedAt"] == 1_000
