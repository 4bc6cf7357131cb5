"""Every benchmark script runs end to end on a tiny input and prints its JSON results.

Not a judgement of the figures (timings on a shared machine are noise at this size): only that the
one documented command per benchmark works and prints one JSON object per result.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

#: script -> result names it must print
EXPECTED = {
    "bench.e2e_throughput": {"e2e_throughput"},
    "bench.submit_scale": {"submit_rate_2000", "submit_peak_rss_5000", "submit_rss_growth"},
    "bench.pacing": {"pacing_peak_rps", "pacing_utilisation", "pacing_round_trips_per_acquire"},
    "bench.poll_efficiency": {
        "poll_gets_per_api_call_polling",
        "poll_ids_per_get_polling",
        "poll_lag_p50_s_webhooks",
    },
    "bench.idle_campaigns": {"idle_campaigns_running_share"},
    "bench.redis_footprint": {"redis_bytes_per_contact"},
    "bench.chaos": {"chaos_run", "chaos_phones_created_more_than_once"},
    "bench.claim_cost": {"claim_cost_per_batch_replica_us"},
    "bench.failover": {"failover_double_created_none", "failover_double_created_replica"},
    "bench.submit_profile": {"submit_profile_per_row", "submit_profile_add_contacts_server_time"},
    "bench.growth": {"growth_300", "growth_600", "growth_exponent_300_600"},
    "bench.console_scale": {"console_list_page_ms", "console_campaign_page_redis_commands"},
    "bench.trust_cost": {"epoch_checks_per_batch", "purge_commands_per_campaign"},
    "bench.reconciler_cost": {
        "reconciler_commands_per_sweep_idle",
        "reconciler_commands_per_sweep_midflight",
    },
}


@functools.cache
def run_benchmark(module: str) -> list[dict[str, object]]:
    """Run `python -m <module> --smoke` once per session; its JSON lines."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_each_benchmark_runs_on_a_tiny_input_and_prints_json_results(module: str) -> None:
    results = run_benchmark(module)
    names = {r["name"] for r in results}
    assert EXPECTED[module] <= names, names
    for result in results:
        assert {"name", "value", "unit"} <= set(result), result
        assert isinstance(result["value"], int | float), result


def test_the_pacing_benchmark_measures_dramatiqs_limiters_as_its_baseline() -> None:
    results = {r["name"]: r for r in run_benchmark("bench.pacing")}
    baseline = results["pacing_peak_rps"]["baseline"]
    assert isinstance(baseline, dict)
    assert set(baseline) == {"dramatiq_window", "dramatiq_bucket"}
