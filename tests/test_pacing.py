"""Global pacing against a real Redis: spacing, concurrency, refusals, costs, one round trip."""

from __future__ import annotations

import itertools
import math
import threading
from bisect import bisect_left

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from dispatcher.errors import StateError
from dispatcher.pacing import GlobalPacer, Limit, Reservation, plan
from dispatcher.redis_server import free_port

LONG_WAIT_S = 60.0


@pytest.fixture
def pacer(redis_client: redis.Redis, key_prefix: str) -> GlobalPacer:
    return GlobalPacer(redis_client, key_prefix)


def _max_in_any_second(starts_us: list[int]) -> int:
    """The most starts inside any half-open 1-second window."""
    ordered = sorted(starts_us)
    return max(bisect_left(ordered, s + 1_000_000) - i for i, s in enumerate(ordered))


def _commands(client: redis.Redis, name: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


def test_grants_are_spaced_by_at_least_one_over_the_rate(pacer: GlobalPacer) -> None:
    limit = Limit("provider", rate_per_s=50)
    grants = [pacer.reserve([limit], LONG_WAIT_S) for _ in range(20)]
    assert all(g.granted for g in grants)
    assert grants[0].wait_s < 0.05
    starts = [g.start_at_us for g in grants]
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 20_000
    assert grants[-1].start_at_us - starts[0] == 19 * 20_000


def test_concurrent_threads_never_exceed_the_rate_in_any_second(pacer: GlobalPacer) -> None:
    limit = Limit("provider", rate_per_s=40)
    starts: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            grant = pacer.reserve([limit], LONG_WAIT_S)
            assert grant.granted
            with lock:
                starts.append(grant.start_at_us)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == 120
    assert _max_in_any_second(starts) <= 40
    ordered = sorted(starts)
    assert min(b - a for a, b in itertools.pairwise(ordered)) >= 25_000


def test_a_burst_lets_that_many_start_at_once_then_paces(pacer: GlobalPacer) -> None:
    limit = Limit("bursty", rate_per_s=10, burst=3)
    grants = [pacer.reserve([limit], LONG_WAIT_S) for _ in range(5)]
    assert [g.wait_s for g in grants[:3]] == [0.0, 0.0, 0.0]
    first = grants[0].start_at_us
    assert [g.start_at_us - first for g in grants[3:]] == [100_000, 200_000]


def test_a_reservation_beyond_max_wait_is_refused_and_changes_nothing(
    pacer: GlobalPacer, redis_client: redis.Redis
) -> None:
    limit = Limit("slow", rate_per_s=1)
    assert pacer.reserve([limit], 0.0).granted
    before = redis_client.get(pacer.key("slow"))
    refused = pacer.reserve([limit], 0.5)
    assert refused == Reservation(False, refused.wait_s, refused.start_at_us)
    assert 0.5 < refused.wait_s <= 1.0
    assert redis_client.get(pacer.key("slow")) == before
    granted = pacer.reserve([limit], 2.0)
    assert granted.granted
    assert granted.start_at_us == refused.start_at_us


def test_cost_takes_that_many_units(pacer: GlobalPacer) -> None:
    batch = Limit("dials", rate_per_s=10, cost=5)
    first = pacer.reserve([batch], LONG_WAIT_S)
    second = pacer.reserve([Limit("dials", rate_per_s=10)], LONG_WAIT_S)
    assert first.wait_s == 0.0
    assert second.start_at_us - first.start_at_us == 500_000


def test_two_limits_combine_and_the_stricter_wins(
    pacer: GlobalPacer, redis_client: redis.Redis
) -> None:
    fast = Limit("provider", rate_per_s=100)
    slow = Limit("campaign", rate_per_s=2)
    first = pacer.reserve([fast, slow], LONG_WAIT_S)
    second = pacer.reserve([fast, slow], LONG_WAIT_S)
    assert second.start_at_us - first.start_at_us == 500_000
    # Refused on the slow limit: the fast one is left exactly as it was.
    provider_tat = redis_client.get(pacer.key("provider"))
    assert not pacer.reserve([fast, slow], 0.1).granted
    assert redis_client.get(pacer.key("provider")) == provider_tat
    # A granted reservation holds every one of its limits until its start (GCRA has no gaps).
    third = pacer.reserve([fast], LONG_WAIT_S)
    assert third.start_at_us - second.start_at_us == 10_000


def test_each_reserve_is_exactly_one_redis_command(
    pacer: GlobalPacer, redis_client: redis.Redis
) -> None:
    limits = [Limit("provider", rate_per_s=1000), Limit("campaign", rate_per_s=1000)]
    pacer.reserve(limits, LONG_WAIT_S)  # the script is cached on the server from here on
    evalsha, eval_ = _commands(redis_client, "evalsha"), _commands(redis_client, "eval")
    for _ in range(25):
        pacer.reserve(limits, LONG_WAIT_S)
    assert _commands(redis_client, "evalsha") - evalsha == 25
    assert _commands(redis_client, "eval") - eval_ == 0


def test_a_flushed_script_cache_falls_back_to_eval_once(
    pacer: GlobalPacer, redis_client: redis.Redis
) -> None:
    redis_client.script_flush()
    eval_ = _commands(redis_client, "eval")
    assert pacer.reserve([Limit("provider", rate_per_s=1000)], LONG_WAIT_S).granted
    assert pacer.reserve([Limit("provider", rate_per_s=1000)], LONG_WAIT_S).granted
    assert _commands(redis_client, "eval") - eval_ == 1


def test_limit_keys_expire_once_idle(pacer: GlobalPacer, redis_client: redis.Redis) -> None:
    pacer.reserve([Limit("provider", rate_per_s=2)], LONG_WAIT_S)
    ttl_ms = redis_client.pttl(pacer.key("provider"))
    assert 0 < ttl_ms <= 1_500


def test_acquire_sleeps_the_wait_only_when_granted(pacer: GlobalPacer) -> None:
    slept: list[float] = []
    limit = Limit("provider", rate_per_s=5)
    pacer.acquire([limit], LONG_WAIT_S, sleep=slept.append)
    second = pacer.acquire([limit], LONG_WAIT_S, sleep=slept.append)
    refused = pacer.acquire([limit], 0.0, sleep=slept.append)
    assert slept == [second.wait_s]
    assert 0 < second.wait_s <= 0.2
    assert not refused.granted


def test_no_limits_is_granted_at_once(pacer: GlobalPacer) -> None:
    assert pacer.reserve([], 0.0).granted


def test_redis_errors_become_state_errors(key_prefix: str) -> None:
    client = redis.Redis(
        port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), retries=0)
    )
    with pytest.raises(StateError, match="pacing failed"):
        GlobalPacer(client, key_prefix).reserve([Limit("provider", rate_per_s=1)], 1.0)
    client.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": "", "rate_per_s": 1},
        {"key": "k", "rate_per_s": 0},
        {"key": "k", "rate_per_s": float("inf")},
        {"key": "k", "rate_per_s": 1, "burst": 0.5},
        {"key": "k", "rate_per_s": 1, "cost": -1},
    ],
)
def test_impossible_limits_are_caller_misuse(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Limit(**kwargs)  # type: ignore[arg-type]


def test_the_same_limit_twice_in_one_reservation_is_caller_misuse(pacer: GlobalPacer) -> None:
    with pytest.raises(ValueError, match="once per reservation"):
        pacer.reserve([Limit("a", 1), Limit("a", 2)], 1.0)


# --- the arithmetic, as a pure reference ---------------------------------------------------------


@given(
    rate_per_s=st.floats(0.5, 1000),
    gaps_us=st.lists(st.integers(0, 300_000), min_size=1, max_size=60),
    max_wait_us=st.integers(0, 2_000_000),
)
def test_plan_with_burst_one_spaces_starts_and_refusals_change_nothing(
    rate_per_s: float, gaps_us: list[int], max_wait_us: int
) -> None:
    limit = Limit("k", rate_per_s)
    tats, now, starts = [0], 1_000_000_000, []
    for gap in gaps_us:
        now += gap
        granted, wait, new_tats = plan(tats, now, [limit], max_wait_us)
        assert wait >= 0
        if granted:
            assert wait <= max_wait_us
            starts.append(now + wait)
        else:
            assert wait > max_wait_us
            assert new_tats == tats
        tats = new_tats
    spacing = min((b - a for a, b in itertools.pairwise(starts)), default=None)
    assert spacing is None or spacing * rate_per_s >= 1_000_000
    assert _max_in_any_second(starts) <= math.ceil(rate_per_s)


@given(
    rates=st.lists(st.floats(0.5, 100), min_size=1, max_size=4),
    costs=st.lists(st.floats(0, 50), min_size=4, max_size=4),
    tats=st.lists(st.integers(0, 10_000_000), min_size=4, max_size=4),
)
def test_plan_starts_when_every_limit_allows_and_moves_every_tat_past_it(
    rates: list[float], costs: list[float], tats: list[int]
) -> None:
    limits = [Limit(f"k{i}", r, cost=c) for i, (r, c) in enumerate(zip(rates, costs, strict=False))]
    tats = tats[: len(limits)]
    now = 5_000_000
    granted, wait, new_tats = plan(tats, now, limits, 10**12)
    assert granted
    assert wait == max(0, *(t - now for t in tats))
    for old, new, limit in zip(tats, new_tats, limits, strict=True):
        assert new == max(old, now + wait) + limit.increment_us
