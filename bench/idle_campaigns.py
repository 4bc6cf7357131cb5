"""Idle campaigns: what 99 campaigns with nothing to do take from the one that is dialling.

The provider's budget (`DISPATCHER_PROVIDER_RATE_PER_S`, 10 requests/s by default) is shared by
every campaign of the account. A campaign with nothing due must not spend any of it. Two phases,
each on its own key prefix, with the same worker set-up (1 process x 8 threads, the reconciler
every second):

* `alone` (the baseline): one running campaign dials (batches of 1 phone, so each create is one
  request, and its calls are polled); the provider requests the sandbox answers in `--duration-s`
  seconds are counted.
* `with_idle`: first `--campaigns - 1` idle campaigns, in three kinds: paused, planned ahead
  (`start_at` tomorrow) and outside their window (it opens in 30 days); each also has an api call
  in its poll set (a call in progress, next due in an hour) and a contact in its retry set (due in
  an hour), the state that made each one poll every 2 s and reserve a request each time. The
  reconciler arms their polls; then the same running campaign is submitted and counted the same.

Share = with_idle / alone: the part of the budget the running campaign still gets (target
>= 0.95). The sandbox's request counts are the measure: a reservation an idle poll wasted is a
request the running campaign could not make.

    .venv/bin/python -m bench.idle_campaigns [--campaigns 100] [--duration-s 20] [--runs 3]
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import (
    Stack,
    WorkerGroup,
    emit,
    machine,
    median_of,
    parse_args,
    parser,
    phones,
    submit,
    wait_until,
    worker_env,
)
from dispatcher.controls import Controls
from dispatcher.queue import make_broker, send
from dispatcher.store import StateStore, now_ms

#: An idle campaign's poll and retry entries are due this far ahead.
IDLE_DUE_MS = 3_600_000
KINDS = ("paused", "planned", "outside_window")


def _enqueue(settings: Any, store: StateStore) -> Any:
    broker = make_broker(settings, store.client)

    def enqueue(actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        send(broker, settings.queue_name, actor, args, delay_ms)

    return enqueue


def make_idle(stack: Stack, store: StateStore, settings: Any, count: int) -> list[str]:
    """`count` idle campaigns of 10 contacts each, a call to poll and a retry waiting in each."""
    controls = Controls(store, _enqueue(settings, store))
    tomorrow = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    ids = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        spec: dict[str, Any] = {"name": f"idle-{kind}-{i}", "batch_size": 10}
        if kind == "planned":
            spec["start_at"] = tomorrow.isoformat()
        elif kind == "outside_window":
            spec["window"] = {"start_date": later}
        report = submit(settings, store, phones(10, offset=100_000 + i * 10), **spec)
        assert report.campaign_id is not None, report.as_dict()
        cid = report.campaign_id
        if kind == "paused":
            controls.pause(cid)
        keys = store.campaign_keys(cid)
        due = now_ms() + IDLE_DUE_MS
        store.client.zadd(keys.poll, {str(900_000 + i): due})
        store.client.zadd(keys.retry, {next(phones(1, offset=100_000 + i * 10)): due})
        ids.append(cid)
    return ids


def count_requests(stack: Stack) -> int:
    stats = stack.sandbox.stats()
    return sum(sum(codes.values()) for name, codes in stats["requests"].items())


def measure(
    stack: Stack, tmp: Path, prefix: str, idle: int, args: Any, contacts: int
) -> dict[str, Any]:
    """One phase: `idle` idle campaigns (armed), then the running one, counted `duration_s`."""
    settings = stack.settings(prefix)
    store = StateStore(stack.client(), settings.key_prefix)
    idle_ids = make_idle(stack, store, settings, idle) if idle else []
    env = worker_env(
        settings,
        stack.sandbox.url,
        watchdog_interval_s=1.0,
        provider_rate_per_s=args.rate,
        log_level="INFO",
    )
    workers = WorkerGroup(env, tmp / prefix, threads=8)
    (tmp / prefix).mkdir()
    try:
        workers.start(1)
        if not wait_until(lambda: "worker.booted" in workers.logs(10**7), 60):
            raise RuntimeError(f"worker did not boot: {workers.logs()}")
        if idle_ids:
            # Every idle campaign's poll is armed (by the reconciler) before the count starts.
            armed = lambda: all(  # noqa: E731
                store.client.exists(store.campaign_keys(c).tick) for c in idle_ids
            )
            if not wait_until(armed, 60):
                raise RuntimeError("the idle campaigns' polls were not armed")
            time.sleep(3)  # a few of their poll rounds (2 s apiece before issue 13)
        report = submit(settings, store, phones(contacts), name="running", batch_size=1)
        assert report.campaign_id is not None
        cid = report.campaign_id
        if not wait_until(lambda: store.counts(cid).get("sent", 0) > 0, 60):
            raise RuntimeError(f"the running campaign did not start: {store.counts(cid)}")
        before = count_requests(stack)
        started = time.monotonic()
        time.sleep(args.duration_s)
        requests = count_requests(stack) - before
        elapsed = time.monotonic() - started
    finally:
        workers.stop_all()
    return {"requests_per_s": requests / elapsed, "requests": requests}


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--campaigns", type=int, default=100, help="1 running + the rest idle")
    p.add_argument("--duration-s", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=10.0, help="DISPATCHER_PROVIDER_RATE_PER_S")
    args = parse_args(p, argv)
    if args.smoke:
        args.campaigns, args.duration_s, args.runs = 10, 3.0, 1
    contacts = int(args.rate * args.duration_s * 3) + 100  # more than it can dial meanwhile
    alone: list[float] = []
    shared: list[float] = []
    with Stack() as stack, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for phase in ("alone", "with_idle") if run % 2 == 0 else ("with_idle", "alone"):
                stack.sandbox.reset()
                idle = args.campaigns - 1 if phase == "with_idle" else 0
                result = measure(stack, Path(tmp), f"idle{run}{phase}", idle, args, contacts)
                (alone if phase == "alone" else shared).append(result["requests_per_s"])
    shares = [s / a for s, a in zip(shared, alone, strict=True)]
    emit(
        "idle_campaigns_running_share",
        median_of(shares),
        "share of the provider requests the running campaign gets with idle campaigns around",
        baseline=median_of(alone),
        baseline_unit="provider requests/s of the running campaign alone",
        with_idle_requests_per_s=median_of(shared),
        per_run=shares,
        alone_per_run=alone,
        with_idle_per_run=shared,
        campaigns=args.campaigns,
        idle_kinds=list(KINDS),
        duration_s=args.duration_s,
        provider_rate_per_s=args.rate,
        machine=machine(),
    )


if __name__ == "__main__":
    main()
