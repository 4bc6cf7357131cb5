"""Benchmark 5: Redis bytes per contact for a finished campaign (100,000 contacts by default).

A fresh embedded Redis; `used_memory` is read after a warm-up campaign of 100 contacts (so the
allocator, script cache and broker keys exist), then a campaign of N contacts (with a `name`
column, like a real list, unless `--without-data`) runs to `finished` through real worker
processes against the sandbox in `instant` mode; once the queue is drained and the campaign has
left the active set, `used_memory` is read again (`live`). Then the campaign is archived at once
(`dispatcher.archive`, what `dispatcher archive --after 0` runs; the workers' own archiving is
off) and `used_memory` is read a third time (`archived`). Reported, live and archived: the sum of
`MEMORY USAGE` over the campaign's own keys per contact (with the share of each kind of key) and
the `INFO memory` delta per contact; the same right after submit (all `pending`); and the
archive's wall and CPU time (this process: reading, compressing; Redis: `used_cpu_*`).

    .venv/bin/python -m bench.redis_footprint [--contacts 100000] [--runs 1] [--without-data]
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

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
from dispatcher.archive import archive_campaigns
from dispatcher.store import StateStore

#: Issue 13: a finished contact, phones only, archived.
TARGET_BYTES = 120


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def key_kind(key: str) -> str:
    """`...:{c:<id>}:bp:12` -> `bp`; `...:meta` -> `meta`."""
    tail = key.split("}:", 1)[-1]
    return tail.split(":", 1)[0]


def campaign_usage(client: redis.Redis, campaign_id: str) -> Counter[str]:
    """MEMORY USAGE (all samples) of every key of the campaign, summed per kind of key."""
    usage: Counter[str] = Counter()
    for key in client.scan_iter(match=f"*{{c:{campaign_id}}}*", count=1000):
        name = key.decode()
        usage[key_kind(name)] += int(client.memory_usage(name, samples=0) or 0)
    return usage


def redis_cpu_s(client: redis.Redis) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def rows(n: int, offset: int, with_data: bool = True) -> list[dict[str, str]]:
    if not with_data:
        return [{"phone": p} for p in phones(n, offset)]
    return [{"phone": p, "name": f"Person {i}"} for i, p in enumerate(phones(n, offset))]


def run_once(
    stack: Stack, store: StateStore, contacts: int, offset: int, with_data: bool
) -> dict[str, Any]:
    client = stack.client()
    settings = stack.settings("bench")
    stack.sandbox.reset()
    warm = submit(settings, store, rows(100, offset + contacts))  # type: ignore[arg-type]
    assert warm.campaign_id is not None
    wait_until(lambda: finished(store, warm.campaign_id or ""), 120)
    queue = f"{settings.key_prefix}-dramatiq:{settings.queue_name}"
    wait_until(lambda: client.llen(queue) == 0, 60)
    time.sleep(0.5)
    before = used_memory(client)
    report = submit(settings, store, rows(contacts, offset, with_data))  # type: ignore[arg-type]
    assert report.campaign_id is not None, report.as_dict()
    cid = report.campaign_id
    submitted = sum(campaign_usage(client, cid).values())
    if not wait_until(lambda: finished(store, cid), timeout_s=3600, interval_s=0.5):
        raise RuntimeError(f"campaign did not finish: {store.counts(cid)}")
    wait_until(lambda: client.llen(queue) == 0 and client.llen(f"{queue}.DQ") == 0, 120)
    # The reconciler lets it go once nothing is left to poll: then it can be archived.
    wait_until(lambda: cid not in store.active_campaigns(), 120)
    time.sleep(1.0)  # the last poll's marker and acks settle
    after = used_memory(client)
    usage = campaign_usage(client, cid)
    cpu_before, wall_before, redis_before = (
        time.process_time(),
        time.monotonic(),
        redis_cpu_s(client),
    )
    report = archive_campaigns(store, 0, [cid])
    archive_s = time.monotonic() - wall_before
    archive_cpu_s = time.process_time() - cpu_before
    archive_redis_cpu_s = redis_cpu_s(client) - redis_before
    outcome = report.campaigns[0]
    if outcome.outcome != "archived":
        raise RuntimeError(f"campaign not archived: {outcome}")
    time.sleep(0.5)
    archived = used_memory(client)
    archived_usage = campaign_usage(client, cid)
    client.close()
    total, archived_total = sum(usage.values()), sum(archived_usage.values())
    return {
        "info_delta_per_contact": (after - before) / contacts,
        "memory_usage_per_contact": total / contacts,
        "archived_per_contact": archived_total / contacts,
        "archived_info_delta_per_contact": (archived - before) / contacts,
        "submitted_per_contact": submitted / contacts,
        "by_kind_per_contact": {k: v / contacts for k, v in usage.most_common()},
        "archived_by_kind_per_contact": {k: v / contacts for k, v in archived_usage.most_common()},
        "archive_s": archive_s,
        "archive_cpu_s": archive_cpu_s,
        "archive_redis_cpu_s": archive_redis_cpu_s,
        "archive_buckets": outcome.buckets,
        "counts": store.counts(cid),
    }


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--without-data", action="store_true", help="phones only, no name column")
    p.set_defaults(runs=1)
    args = parse_args(p, argv)
    if args.smoke:
        args.contacts, args.runs = 500, 1
    runs = []
    with Stack(instant=True) as stack, tempfile.TemporaryDirectory() as tmp:
        settings = stack.settings("bench")
        store = StateStore(stack.client(), settings.key_prefix)
        env = worker_env(
            settings,
            stack.sandbox.url,
            provider_rate_per_s=100_000,
            poll_first_delay_s=0.2,
            poll_tick_max_s=0.2,
            poll_max_interval_s=1.0,
            archive_enabled="false",  # archived here, and timed
        )
        workers = WorkerGroup(env, Path(tmp), threads=8)
        try:
            workers.start(2)
            for run in range(args.runs):
                offset = run * 2 * args.contacts
                runs.append(run_once(stack, store, args.contacts, offset, not args.without_data))
        finally:
            workers.stop_all()
    setup = {
        "contacts": args.contacts,
        "data_columns": [] if args.without_data else ["name"],
        "runs": args.runs,
        "machine": machine(),
    }
    emit(
        "redis_bytes_per_contact" + ("_without_data" if args.without_data else ""),
        median_of([r["archived_per_contact"] for r in runs]),
        "bytes (MEMORY USAGE of the campaign's keys, archived)",
        live=median_of([r["memory_usage_per_contact"] for r in runs]),
        info_memory_delta_archived=median_of([r["archived_info_delta_per_contact"] for r in runs]),
        info_memory_delta_live=median_of([r["info_delta_per_contact"] for r in runs]),
        after_submit=median_of([r["submitted_per_contact"] for r in runs]),
        archive_s=median_of([r["archive_s"] for r in runs]),
        archive_cpu_s=median_of([r["archive_cpu_s"] for r in runs]),
        archive_redis_cpu_s=median_of([r["archive_redis_cpu_s"] for r in runs]),
        archive_buckets=runs[-1]["archive_buckets"],
        by_key_kind_archived=runs[-1]["archived_by_kind_per_contact"],
        by_key_kind_live=runs[-1]["by_kind_per_contact"],
        counts=runs[-1]["counts"],
        target_max=TARGET_BYTES,
        **setup,
    )


if __name__ == "__main__":
    main()
