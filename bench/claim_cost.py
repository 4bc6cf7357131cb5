"""What durable claims cost per batch: claim + `sent` record with `DISPATCHER_CLAIM_DURABILITY`
`none` vs `replica`, against a local primary and its replica.

Each batch of 50 contacts goes through the two writes the batch actor makes around its create
(`claim_batch`, then `mark_sent`), straight on the state store (no provider, no workers): with
`replica` each write is followed by `WAIT 1 <timeout>` on the same connection. The modes alternate
batch by batch over two campaigns of the same size; reported are the medians per batch (both writes
together) and the added time.

    .venv/bin/python -m bench.claim_cost [--batches 400]
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import emit, machine, median_of, parse_args, parser, phones, submit
from bench.redis_ha import RedisHA
from dispatcher.settings import Settings
from dispatcher.store import Durability, StateStore, now_ms

BATCH = 50


def _campaign(settings: Settings, store: StateStore, batches: int, offset: int) -> str:
    report = submit(settings, store, phones(batches * BATCH, offset), batch_size=BATCH)
    assert report.campaign_id is not None, report
    return report.campaign_id


def _batch_us(store: StateStore, cid: str, bn: int) -> float:
    token = secrets.token_hex(8)
    started = time.perf_counter()
    claim = store.claim_batch(cid, bn, 60_000, token)
    assert claim.outcome == "claimed", claim
    assert not claim.unconfirmed, claim
    sent = store.mark_sent(cid, bn, token, f"call-{cid}-{bn}", claim.phones, now_ms() + 60_000)
    assert not sent.unconfirmed, sent
    return (time.perf_counter() - started) * 1e6


def run(batches: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp, RedisHA(Path(tmp)) as ha:
        prefix = f"claimcost-{uuid.uuid4().hex[:6]}"
        settings = Settings(
            redis_url=f"redis://127.0.0.1:{ha.primary_port}/0",
            key_prefix=prefix,
            queue_name=prefix,
            _env_file=None,  # type: ignore[call-arg]
        )
        plain = StateStore.connect(settings.redis_url or "", prefix)
        durable = StateStore(plain.client, prefix, durability=Durability("replica", 1, 500))
        first = _campaign(settings, plain, batches, 0)
        second = _campaign(settings, plain, batches, batches * BATCH)
        none_us: list[float] = []
        replica_us: list[float] = []
        for bn in range(1, batches + 1):
            none_us.append(_batch_us(plain, first, bn))
            replica_us.append(_batch_us(durable, second, bn))
        plain.client.close()
        return none_us, replica_us


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=400)
    args = parse_args(p, argv)
    batches = 20 if args.smoke else args.batches
    runs = 1 if args.smoke else args.runs
    none_runs, replica_runs = [], []
    for _ in range(runs):
        none_us, replica_us = run(batches)
        none_runs.append(statistics.median(none_us))
        replica_runs.append(statistics.median(replica_us))
    none_med, replica_med = median_of(none_runs), median_of(replica_runs)
    emit(
        "claim_cost_per_batch_replica_us",
        replica_med,
        "us",
        baseline=none_med,
        ratio=replica_med / none_med if none_med else None,
        added_us=replica_med - none_med,
        runs=replica_runs,
        baseline_runs=none_runs,
        batch_contacts=BATCH,
        batches=batches,
        machine=machine(),
    )


if __name__ == "__main__":
    main()
