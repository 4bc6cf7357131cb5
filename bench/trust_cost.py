"""What the epoch check and the retention purge cost Redis, through the real pipeline.

A fresh embedded Redis (with AOF, so the start-up checks pass as in production), the sandbox, and
real worker processes dial one campaign to its end while `MONITOR` counts every command the server
runs and those that read or write the epoch marker (`<prefix>:epoch`): the check before each claim,
plus one per reconciler tick per process. Then the finished campaign is removed with
`purge_ended` and that is counted too (commands, keys, seconds).

    .venv/bin/python -m bench.trust_cost [--contacts 2000] [--batch-size 20] [--workers 2]
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from bench.harness import (
    Stack,
    WorkerGroup,
    emit,
    finished,
    machine,
    parse_args,
    parser,
    phones,
    submit,
    wait_while_progressing,
    worker_env,
)
from dispatcher.retention import purge_ended
from dispatcher.store import StateStore


class Monitor:
    """Counts the commands a Redis server runs (all of them, and those naming `needle`)."""

    def __init__(self, url: str, needle: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.needle = needle
        self.total = 0
        self.matching = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Monitor:
        self._thread.start()
        self._ready.wait(5)
        return self

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            while not self._stop.is_set():
                command = monitor.next_command()["command"]
                if command == "ECHO trust-cost-end":
                    return
                self.total += 1
                self.matching += int(self.needle in command)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.client.echo("trust-cost-end")
        self._thread.join(10)
        self.client.close()


def run(args: Any) -> None:
    with (
        Stack(appendonly=True, appendfsync="everysec", instant=True) as stack,
        tempfile.TemporaryDirectory(prefix="i10b-tc-") as tmp,
    ):
        settings = stack.settings("trust", allow_unsafe_redis=False)
        client = stack.client()
        store = StateStore(client, "trust")
        env = worker_env(
            settings,
            stack.sandbox.url,
            allow_unsafe_redis="false",
            provider_rate_per_s=100_000,
            poll_first_delay_s=0.2,
            poll_tick_max_s=0.2,
            watchdog_interval_s=1.0,
        )
        group = WorkerGroup(env, Path(tmp), threads=4)
        with Monitor(stack.redis.url, "trust:epoch") as monitor:
            group.start(args.workers)
            started = time.perf_counter()
            report = submit(settings, store, phones(args.contacts), batch_size=args.batch_size)
            cid = report.campaign_id
            assert cid is not None
            done = wait_while_progressing(
                lambda: finished(store, cid), lambda: tuple(store.counts(cid).items()), 60
            )
            elapsed = time.perf_counter() - started
            group.stop_all()
        assert done, group.logs()
        batches = report.batches
        emit(
            "epoch_checks_per_batch",
            monitor.matching / batches,
            "commands",
            epoch_commands=monitor.matching,
            batches=batches,
            commands_per_batch=round(monitor.total / batches, 1),
            share=round(monitor.matching / monitor.total, 4),
            seconds=round(elapsed, 1),
            machine=machine(),
        )
        # The reconciler lets the campaign go (leaves the active set) before it can be purged.
        client.srem(store.keys.active, cid)
        keys = sum(1 for _ in client.scan_iter(match=f"*{cid}*", count=1000))
        with Monitor(stack.redis.url, cid) as purge_monitor:
            t0 = time.perf_counter()
            purged = purge_ended(store, 0)
            purge_s = time.perf_counter() - t0
        assert [c.campaign_id for c in purged.campaigns] == [cid]
        emit(
            "purge_commands_per_campaign",
            purge_monitor.total,
            "commands",
            keys_removed=purged.keys_removed,
            keys_before=keys,
            contacts=args.contacts,
            seconds=round(purge_s, 4),
        )
        client.close()


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__ or "")
    p.add_argument("--contacts", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--workers", type=int, default=2)
    args = parse_args(p, argv)
    if args.smoke:
        args.contacts, args.batch_size, args.workers = 100, 10, 1
    run(args)


if __name__ == "__main__":
    main()
