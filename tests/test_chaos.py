"""Chaos, CI-sized: `bench/chaos.py` with fewer contacts (the script runs 20,000).

The error-burst guards (auto-pause) are off for these runs: the faults are injected on purpose.

Three real worker processes, one SIGKILLed and replaced every 3 s, a sandbox injecting 5 % 5xx,
2 % hangs past the read timeout, 1 % apply-then-drop and 429 above its rate; in the second test
Redis (AOF on) is also restarted once a third of the contacts are done.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import ChaosConfig, ChaosReport, print_report, run_chaos, self_healing
from dispatcher.store import TERMINAL_STATES

pytestmark = pytest.mark.slow


def chaos_config(**changes: object) -> ChaosConfig:
    config = ChaosConfig(
        contacts=1500,
        batch_size=10,
        kill_every_s=2.0,
        # No wall-clock budget: a run fails when no contact has progressed for stall_s (a loaded
        # machine only makes it slower); pytest's per-test timeout bounds the rest.
        timeout_s=None,
        stall_s=45.0,
        restart_redis_at=None,
    )
    for name, value in changes.items():
        setattr(config, name, value)
    return config


def assert_invariants(report: ChaosReport) -> None:
    summary = (report.states, report.faults, report.unknown_unexplained[:5])
    assert report.finished, summary
    assert report.double_created == 0, summary
    assert report.not_terminal == 0, summary
    assert report.counter_mismatch == 0, summary
    assert report.unknown_unexplained == [], summary
    # The faults really happened, and every ambiguous one left its contacts unknown.
    assert report.kills >= 2
    assert report.faults.get("error", 0) > 0
    assert report.faults.get("rate_limited", 0) > 0
    assert report.unknown == report.unknown_after_fault + report.unknown_after_lease > 0


def test_killed_workers_and_a_faulty_provider_neither_lose_a_contact_nor_dial_one_twice(
    tmp_path: Path,
) -> None:
    config = chaos_config()
    report = run_chaos(config, tmp_path)
    print_report(report, config)
    assert_invariants(report)


def test_a_redis_restart_mid_campaign_loses_no_contact_and_dials_none_twice(
    tmp_path: Path,
) -> None:
    config = chaos_config(restart_redis_at=1 / 3)
    report = run_chaos(config, tmp_path)
    print_report(report, config)
    assert report.redis_restarts == 1
    assert_invariants(report)


def test_every_contact_ends_terminal_whatever_is_lost(tmp_path: Path) -> None:
    """The self-healing scenario: Redis SIGKILLed (AOF everysec) and restarted, workers SIGKILLed
    and SIGTERMed, one SIGKILLed while the campaign is paused, two pause/resumes, a second
    campaign cancelled mid-run, and every queued dramatiq message deleted once."""
    config = self_healing(chaos_config(contacts=1500, kill_every_s=3.0))
    report = run_chaos(config, tmp_path)
    print_report(report, config)
    assert (report.redis_restarts, report.pauses, report.kills_while_paused) == (1, 2, 2)
    assert report.messages_dropped > 0
    assert report.sigterms >= 1
    cancelled = report.cancelled_campaign
    assert cancelled.get("cancelled", 0) > 0, cancelled
    assert set(cancelled) <= set(TERMINAL_STATES), cancelled
    # Both campaigns were archived once they ended, and the invariants are checked from there.
    assert report.archived == 2
    assert_invariants(report)
