"""Global pacing against a real Redis: spacing, concurrency, refusals, costs, one round trip.

Every test runs the real Lua script. Where a test checks exact offsets it passes the script a
clock of its own (`now_us`), so the arithmetic is exact whatever the machine's load; the tests of
concurrency and of the script's plumbing use the server's clock and check bounds only.
"""

from __future__ import annotations

import itertools
import math
import threading
import uuid
from bisect import bisect_left
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.backoff import NoBackoff
from redis.retry import Retry

from dispatcher.errors import StateError
from dispatcher.pacing import GlobalPacer, Limit, Reservation
from dispatcher.redis_server import EmbeddedRedis, free_port

LONG_WAIT_S = 60.0
#: A fixed "now" for the tests that pass their own clock (2027-01-15, in microseconds).
T0_US = 1_800_000_000_000_000


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


def test_grants_are_spaced_by_exactly_one_over_the_rate(pacer: GlobalPacer) -> None:
    limit = Limit("provider", rate_per_s=50)
    # Twenty requests at the same instant: the first starts at once, each next one 20 ms later.
    grants = [pacer.reserve([limit], LONG_WAIT_S, now_us=T0_US) for _ in range(20)]
    assert all(g.granted for g in grants)
    assert [g.start_at_us - T0_US for g in grants] == [i * 20_000 for i in range(20)]
    assert [g.wait_s for g in grants] == [i * 0.02 for i in range(20)]


def test_on_the_server_clock_grants_are_never_closer_than_one_over_the_rate(
    pacer: GlobalPacer,
) -> None:
    limit = Limit("provider", rate_per_s=50)
    grants = [pacer.reserve([limit], LONG_WAIT_S) for _ in range(20)]
    assert all(g.granted for g in grants)
    starts = [g.start_at_us for g in grants]
    # However late this process runs, starts are at least 20 ms apart (later, never closer).
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 20_000


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
    grants = [pacer.reserve([limit], LONG_WAIT_S, now_us=T0_US) for _ in range(5)]
    assert [g.start_at_us - T0_US for g in grants] == [0, 0, 0, 100_000, 200_000]
    # 350 ms later the pace has room for one more at once, not two.
    later = T0_US + 350_000
    again = [pacer.reserve([limit], LONG_WAIT_S, now_us=later) for _ in range(2)]
    assert [g.start_at_us - later for g in again] == [0, 50_000]


def test_a_reservation_beyond_max_wait_is_refused_and_changes_nothing(
    pacer: GlobalPacer, redis_client: redis.Redis
) -> None:
    limit = Limit("slow", rate_per_s=1)
    assert pacer.reserve([limit], 0.0, now_us=T0_US).granted
    before = redis_client.get(pacer.key("slow"))
    refused = pacer.reserve([limit], 0.5, now_us=T0_US + 200_000)
    assert refused == Reservation(False, 0.8, T0_US + 1_000_000)
    assert redis_client.get(pacer.key("slow")) == before
    granted = pacer.reserve([limit], 0.8, now_us=T0_US + 200_000)
    assert granted == Reservation(True, 0.8, T0_US + 1_000_000)


def test_cost_takes_that_many_units(pacer: GlobalPacer) -> None:
    batch = Limit("dials", rate_per_s=10, cost=5)
    first = pacer.reserve([batch], LONG_WAIT_S, now_us=T0_US)
    second = pacer.reserve([Limit("dials", rate_per_s=10)], LONG_WAIT_S, now_us=T0_US)
    assert first.wait_s == 0.0
    # The batch of five started at once and paid afterwards: the next request waits 5 / 10 s.
    assert second.start_at_us - first.start_at_us == 500_000


def test_two_limits_combine_and_the_stricter_wins(
    pacer: GlobalPacer, redis_client: redis.Redis
) -> None:
    fast = Limit("provider", rate_per_s=100)
    slow = Limit("campaign", rate_per_s=2)
    first = pacer.reserve([fast, slow], LONG_WAIT_S, now_us=T0_US)
    second = pacer.reserve([fast, slow], LONG_WAIT_S, now_us=T0_US)
    assert (first.start_at_us, second.start_at_us) == (T0_US, T0_US + 500_000)
    # Refused on the slow limit: the fast one is left exactly as it was.
    provider_tat = redis_client.get(pacer.key("provider"))
    assert not pacer.reserve([fast, slow], 0.1, now_us=T0_US).granted
    assert redis_client.get(pacer.key("provider")) == provider_tat
    # A granted reservation holds every one of its limits until its start (GCRA has no gaps).
    third = pacer.reserve([fast], LONG_WAIT_S, now_us=T0_US)
    assert third.start_at_us == T0_US + 510_000


@pytest.fixture
def own_redis(key_prefix: str) -> Iterator[tuple[GlobalPacer, redis.Redis]]:
    """A pacer on a Redis server of this test's own: its command counts are this test's alone
    (the suite's server is shared with other processes), and flushing its scripts harms nobody."""
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        yield GlobalPacer(client, key_prefix), client
        client.close()


def test_each_reserve_is_exactly_one_redis_command(
    own_redis: tuple[GlobalPacer, redis.Redis],
) -> None:
    pacer, client = own_redis
    limits = [Limit("provider", rate_per_s=1000), Limit("campaign", rate_per_s=1000)]
    pacer.reserve(limits, LONG_WAIT_S)  # the script is cached on the server from here on
    evalsha, eval_ = _commands(client, "evalsha"), _commands(client, "eval")
    for _ in range(25):
        pacer.reserve(limits, LONG_WAIT_S)
    assert _commands(client, "evalsha") - evalsha == 25
    assert _commands(client, "eval") - eval_ == 0


def test_a_flushed_script_cache_falls_back_to_eval_once(
    own_redis: tuple[GlobalPacer, redis.Redis],
) -> None:
    pacer, client = own_redis
    client.script_flush()
    eval_ = _commands(client, "eval")
    assert pacer.reserve([Limit("provider", rate_per_s=1000)], LONG_WAIT_S).granted
    assert pacer.reserve([Limit("provider", rate_per_s=1000)], LONG_WAIT_S).granted
    assert _commands(client, "eval") - eval_ == 1


def test_limit_keys_expire_once_idle(pacer: GlobalPacer, redis_client: redis.Redis) -> None:
    pacer.reserve([Limit("provider", rate_per_s=2)], LONG_WAIT_S)
    ttl_ms = redis_client.pttl(pacer.key("provider"))
    assert 0 < ttl_ms <= 1_500


def test_acquire_sleeps_the_wait_only_when_granted(pacer: GlobalPacer) -> None:
    slept: list[float] = []
    limit = Limit("provider", rate_per_s=0.5)
    first = pacer.acquire([limit], LONG_WAIT_S, sleep=slept.append)
    second = pacer.acquire([limit], LONG_WAIT_S, sleep=slept.append)
    refused = pacer.acquire([limit], 0.0, sleep=slept.append)
    assert (first.granted, second.granted, refused.granted) == (True, True, False)
    # The second waits for the first's two seconds (less however long this process took).
    assert slept == [second.wait_s]
    assert 0 < second.wait_s <= 2.0


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


# --- properties of the script, on a clock the test controls -------------------------------------


def fresh_key() -> str:
    """A limit key of its own for each example (Hypothesis runs many inside one test)."""
    return f"prop-{uuid.uuid4().hex[:12]}"


#: The pacer and Redis client are shared by the examples of a test; each example uses fresh keys.
SHARED_FIXTURES = [HealthCheck.function_scoped_fixture]


@settings(max_examples=60, suppress_health_check=SHARED_FIXTURES)
@given(
    rate_per_s=st.floats(0.5, 1000),
    gaps_us=st.lists(st.integers(0, 300_000), min_size=1, max_size=40),
    max_wait_ms=st.integers(0, 2_000),
)
def test_with_burst_one_starts_are_spaced_and_refusals_change_nothing(
    pacer: GlobalPacer,
    redis_client: redis.Redis,
    rate_per_s: float,
    gaps_us: list[int],
    max_wait_ms: int,
) -> None:
    limit = Limit(fresh_key(), rate_per_s)
    max_wait_s = max_wait_ms / 1000
    now, starts = T0_US, []
    for gap in gaps_us:
        now += gap
        before = redis_client.get(pacer.key(limit.key))
        reservation = pacer.reserve([limit], max_wait_s, now_us=now)
        assert reservation.wait_s >= 0
        assert reservation.start_at_us == now + round(reservation.wait_s * 1_000_000)
        if reservation.granted:
            assert reservation.wait_s <= max_wait_s
            starts.append(reservation.start_at_us)
        else:
            assert reservation.wait_s > max_wait_s - 1e-6
            assert redis_client.get(pacer.key(limit.key)) == before
    assert starts, "the first request always starts at once"
    spacing = min((b - a for a, b in itertools.pairwise(starts)), default=None)
    assert spacing is None or spacing * rate_per_s >= 1_000_000
    assert _max_in_any_second(starts) <= math.ceil(rate_per_s)


@settings(max_examples=60, suppress_health_check=SHARED_FIXTURES)
@given(
    limits=st.lists(
        st.tuples(st.floats(0.5, 100), st.floats(0, 50), st.integers(-5_000_000, 5_000_000)),
        min_size=1,
        max_size=4,
    ),
)
def test_a_request_starts_when_every_limit_allows_and_moves_every_tat_past_it(
    pacer: GlobalPacer, redis_client: redis.Redis, limits: list[tuple[float, float, int]]
) -> None:
    chosen = [Limit(fresh_key(), rate, cost=cost) for rate, cost, _ in limits]
    tats = [T0_US + offset for _, _, offset in limits]
    for limit, tat in zip(chosen, tats, strict=True):
        redis_client.set(pacer.key(limit.key), tat, px=60_000)
    reservation = pacer.reserve(chosen, 10**6, now_us=T0_US)
    assert reservation.granted
    # The earliest instant no limit forbids: the latest of now and every TAT (burst 1).
    assert reservation.start_at_us == max(T0_US, *tats)
    for limit, tat in zip(chosen, tats, strict=True):
        stored = int(redis_client.get(pacer.key(limit.key)) or 0)
        # Each TAT moved past the start by this request's cost on that limit, rounded up.
        assert stored - max(tat, reservation.start_at_us) == math.ceil(
            limit.cost * 1_000_000 / limit.rate_per_s
        )
