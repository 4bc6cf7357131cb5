"""A lossy Redis failover under a running campaign, with real processes: a primary, its replica
and three Sentinels (`redis-server --sentinel`), worker processes that reach Redis only through
`DISPATCHER_REDIS_SENTINELS`, and the sandbox counting creates per phone.

The replica is frozen (SIGSTOP) while the campaign runs, the primary is SIGKILLed, the replica is
SIGKILLed and restarted from its own AOF (so it lacks what it never applied) and Sentinel promotes
it. With `DISPATCHER_CLAIM_DURABILITY=replica` nobody is dialled under a claim the replica did not
confirm, so no phone is created twice; the workers follow the new master without a restart. The
same scenario without durability is measured in `bench/failover.py` (it does dial twice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.failover import run_failover

pytestmark = pytest.mark.slow


def test_a_lossy_failover_with_durable_claims_creates_no_phone_twice(
    sandbox: Any, tmp_path: Path
) -> None:
    result = run_failover(sandbox, tmp_path, durability="replica", contacts=300, workers=3)
    context = (result.counts, result.diagnostics, result.log_tail[-3000:])
    # The fault really hit claims: while the replica was frozen, claims went unconfirmed.
    assert result.unconfirmed_claims >= 1, context
    assert result.double_created == 0, context
    assert result.finished, context
    assert result.not_terminal == 0, context
    # The same processes went on dialling on the promoted replica.
    assert result.workers_alive == result.workers, context
    assert result.creates_after_promotion > 0, context
