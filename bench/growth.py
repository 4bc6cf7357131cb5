"""Cost of growth: the pipeline at doubling (or tenfold) sizes; how time, memory, commands grow.

Each size N runs on a fresh embedded Redis and a fresh `instant` sandbox (every call final at
creation): N contacts split over N / `--contacts-per-campaign` campaigns (at least one), submitted
by the real producer with the product's enqueue, then sent and polled by real
`dramatiq workers.app` processes until every campaign is finished. The work grows together: the
campaigns with the contacts, the worker processes doubling with each doubling of N (up to
`--max-processes`: this machine has 2 cores). Pacing and polling delays are out of the way, as in
`bench.e2e_throughput`.

Per size: seconds from the first submit to the last campaign finished, Redis `used_memory` growth,
and Redis commands (`INFO commandstats`, the commands scripts run inside Redis included), each per
contact. Between consecutive sizes, the growth exponent log(cost ratio) / log(size ratio): 1 is
linear, 2 quadratic, below 1 a fixed cost being spread out. Nothing should be above ~1.1.

    .venv/bin/python -m bench.growth [--sizes 10000,20000,40000] [--runs 1]
    .venv/bin/python -m bench.growth --sizes 10000,100000,1000000   # the README's curve (long)
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.e2e_throughput import PIPELINE_SETTINGS
from bench.harness import (
    Stack,
    WorkerGroup,
    emit,
    finished,
    machine,
    median_of,
    parse_args,
    parser,
    phones,
    submit,
    wait_until,
    worker_env,
)
from dispatcher.store import StateStore


def commands(stack: Stack) -> int:
    """Every command Redis has run since it started (scripts' inner commands included)."""
    stats = stack.client().info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


def run_size(size: int, per_campaign: int, processes: int, threads: int) -> dict[str, Any]:
    """One size on a fresh stack: time, memory and commands for the whole pipeline."""
    campaigns = max(1, size // per_campaign)
    with Stack(instant=True) as stack, tempfile.TemporaryDirectory() as tmp:
        settings = stack.settings("growth")
        store = StateStore(stack.client(), settings.key_prefix)
        env = worker_env(settings, stack.sandbox.url, **PIPELINE_SETTINGS)
        workers = WorkerGroup(env, Path(tmp), threads=threads)
        try:
            workers.start(processes)
            booted = wait_until(lambda: workers.logs(10**7).count("worker.booted") >= processes, 60)
            if not booted:
                raise RuntimeError(f"workers did not boot: {workers.logs()}")
            client = stack.client()
            memory_before = int(client.info("memory")["used_memory"])
            commands_before = commands(stack)
            started = time.perf_counter()
            ids: list[str] = []
            for i in range(campaigns):
                share = size // campaigns + (1 if i < size % campaigns else 0)
                offset = i * (size // campaigns) + min(i, size % campaigns)
                report = submit(settings, store, phones(share, offset), name=f"growth-{i}")
                assert report.campaign_id is not None, report.as_dict()
                ids.append(report.campaign_id)
            submitted = time.perf_counter()
            deadline = started + max(600.0, size / 500)
            open_ids = list(ids)
            while open_ids:
                open_ids = [cid for cid in open_ids if not finished(store, cid)]
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{len(open_ids)} campaign(s) did not finish")
                time.sleep(0.05)
            done = time.perf_counter()
            # Let the workers' last polls and acks land before counting what stays in Redis.
            wait_until(lambda: False, 1.0)
            memory_after = int(client.info("memory")["used_memory"])
            commands_after = commands(stack)
            outcomes: dict[str, int] = {}
            for cid in ids:
                for state, count in store.counts(cid).items():
                    outcomes[state] = outcomes.get(state, 0) + int(count)
        finally:
            workers.stop_all()
    if outcomes.get("unknown") or sum(outcomes.values()) != size:
        raise RuntimeError(f"unexpected outcomes: {outcomes}")
    return {
        "total_s": done - started,
        "submit_s": submitted - started,
        "memory_bytes": memory_after - memory_before,
        "commands": commands_after - commands_before,
        "campaigns": campaigns,
    }


def exponent(small: float, large: float, size_small: int, size_large: int) -> float | None:
    """log(cost ratio) / log(size ratio); None when a cost is not positive."""
    if small <= 0 or large <= 0:
        return None
    return math.log(large / small) / math.log(size_large / size_small)


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,20000,40000", help="comma-separated contact counts")
    p.add_argument("--contacts-per-campaign", type=int, default=5000)
    p.add_argument(
        "--base-processes", type=int, default=1, help="worker processes at the first size"
    )
    p.add_argument("--max-processes", type=int, default=4)
    p.add_argument("--threads", type=int, default=8, help="threads per worker process")
    p.set_defaults(runs=1)
    args = parse_args(p, argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.smoke:
        sizes, args.runs, args.contacts_per_campaign = [300, 600], 1, 200
    rows: list[dict[str, Any]] = []
    for size in sizes:
        doublings = math.log2(size / sizes[0])
        processes = min(args.max_processes, round(args.base_processes * 2**doublings))
        runs = [
            run_size(size, args.contacts_per_campaign, processes, args.threads)
            for _ in range(args.runs)
        ]
        row = {
            "contacts": size,
            "campaigns": runs[0]["campaigns"],
            "workers": f"{processes}x{args.threads}",
            "total_s": median_of([r["total_s"] for r in runs]),
            "submit_s": median_of([r["submit_s"] for r in runs]),
            "memory_bytes": median_of([r["memory_bytes"] for r in runs]),
            "commands": median_of([r["commands"] for r in runs]),
        }
        rows.append(row)
        emit(
            f"growth_{size}",
            row["total_s"] / size * 1e6,
            "us per contact, submit -> every campaign finished",
            redis_bytes_per_contact=row["memory_bytes"] / size,
            redis_commands_per_contact=row["commands"] / size,
            runs_s=[r["total_s"] for r in runs],
            machine=machine(),
            **row,
        )
    for small, large in itertools.pairwise(rows):
        a, b = small["contacts"], large["contacts"]
        emit(
            f"growth_exponent_{a}_{b}",
            exponent(small["total_s"], large["total_s"], a, b),
            "log(time ratio) / log(size ratio): 1 linear, 2 quadratic",
            memory=exponent(small["memory_bytes"], large["memory_bytes"], a, b),
            commands=exponent(small["commands"], large["commands"], a, b),
            sizes=[a, b],
        )


if __name__ == "__main__":
    main()
