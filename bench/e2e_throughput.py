"""Benchmark 1: end-to-end contacts/s through the real pipeline vs a bare httpx loop.

Pipeline: submit (validate, normalise, dedupe, enqueue) → real `dramatiq workers.app` processes →
the sandbox over HTTP with every call final at creation (`instant`) → polling → every contact
terminal in Redis. Baseline, in the same run against the same sandbox: one `httpx.Client` sending
the same batched `apiCalls/create` requests one after another, then the same `apiCalls/get`
requests (50 ids each), no queue and no state. Runs alternate; medians and their ratio are printed.

    .venv/bin/python -m bench.e2e_throughput [--contacts 20000] [--runs 3]
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    SPEC,
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
from dispatcher.settings import SANDBOX_API_KEY
from dispatcher.store import StateStore

#: What the pipeline's workers run with: pacing and polling out of the way of throughput.
PIPELINE_SETTINGS: dict[str, Any] = {
    "provider_rate_per_s": 100_000,
    "poll_first_delay_s": 0.2,
    "poll_tick_max_s": 0.2,
    "poll_max_interval_s": 1.0,
    "watchdog_interval_s": 1.0,
    # An idle queue consumer looks again within 100 ms (dramatiq's default 1 s): the first batch
    # of the campaign is picked up that much sooner (--consumer-idle-ms to compare).
    "consumer_idle_ms": 100,
    "log_level": "INFO",
}


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` and of its threads, 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuProbe:
    """CPU seconds spent by each part of the stack between `start` and `stop` (`--profile`):
    the worker processes (dramatiq's worker children), the sandbox, Redis, and this process
    (submit and the progress checks), plus Redis's per-command counters."""

    def __init__(self, stack: Stack, workers: WorkerGroup) -> None:
        self.client = stack.client()
        worker_pids = [c for p in workers.processes for c in [p.pid, *_children(p.pid)]]
        sandbox = stack.sandbox._process  # the benchmark's own subprocess
        self.pids = {
            "workers": worker_pids,
            "sandbox": [sandbox.pid] if sandbox is not None else [],
            "redis": [int(self.client.info("server")["process_id"])],
            "bench": [os.getpid()],
        }
        self.before: dict[str, float] = {}
        self.stats_before: dict[str, Any] = {}

    def _sample(self) -> dict[str, float]:
        return {part: sum(_cpu_s(pid) for pid in pids) for part, pids in self.pids.items()}

    def start(self) -> None:
        self.stats_before = self.client.info("commandstats")
        self.before = self._sample()

    def stop(self) -> dict[str, Any]:
        after = self._sample()
        stats = self.client.info("commandstats")
        calls: dict[str, tuple[int, int]] = {}
        for name, now in stats.items():
            was = self.stats_before.get(name, {"calls": 0, "usec": 0})
            delta = (now["calls"] - was["calls"], now["usec"] - was["usec"])
            if delta[0]:
                calls[name.removeprefix("cmdstat_")] = delta
        return {
            "cpu_s": {part: round(after[part] - self.before[part], 3) for part in after},
            "redis_commands": dict(sorted(calls.items(), key=lambda kv: -kv[1][1])),
        }


def bare_loop(url: str, contacts: list[str], batch_size: int, get_chunk: int) -> float:
    """Seconds for one client to create every batch, then get every api call until all final."""
    call = SPEC["call"]
    started = time.perf_counter()
    ids: list[int] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for start in range(0, len(contacts), batch_size):
            body = {"apiKey": SANDBOX_API_KEY, "phones": contacts[start : start + batch_size]}
            response = client.post("/apiCalls/create", json={**call, **body})
            response.raise_for_status()
            ids.append(int(response.json()["id"]))
        pending = list(ids)
        while pending:
            still: list[int] = []
            for start in range(0, len(pending), get_chunk):
                chunk = pending[start : start + get_chunk]
                params: list[tuple[str, str | int | float | bool | None]] = [
                    ("apiCallIdList[]", i) for i in chunk
                ]
                answer = client.post(
                    "/apiCalls/get", params=params, json={"apiKey": SANDBOX_API_KEY}
                )
                answer.raise_for_status()
                found = answer.json()  # one bare object when one call is found (the reference)
                for details in [found] if isinstance(found, dict) else found:
                    if any(c.get("finishedAt") is None for c in details.get("calls", [])):
                        still.append(int(details["id"]))
            pending = still
    return time.perf_counter() - started


def pipeline_run(
    stack: Stack, store: StateStore, contacts: list[str], batch_size: int
) -> dict[str, float]:
    """Seconds from the start of submit until the campaign is finished, and where they went."""
    settings = stack.settings("bench")
    started = time.perf_counter()
    report = submit(settings, store, contacts, batch_size=batch_size)
    assert report.campaign_id is not None, report.as_dict()
    cid = report.campaign_id
    submitted = time.perf_counter()
    all_sent = first_claim = 0.0
    deadline = started + 600
    while not finished(store, cid):
        if not all_sent:
            counts = store.counts(cid)
            if not first_claim and counts.get("pending", 0) < len(contacts):
                first_claim = time.perf_counter()
            if not counts.get("pending") and not counts.get("sending"):
                all_sent = time.perf_counter()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"campaign did not finish: {store.counts(cid)}")
        time.sleep(0.01)
    done = time.perf_counter()
    counts = store.counts(cid)
    if counts.get("unknown") or counts.get("failed", 0) > len(contacts) * 0.2:
        raise RuntimeError(f"unexpected outcomes: {counts}")
    return {
        "total_s": done - started,
        "submit_s": submitted - started,
        # Of sending: until a worker claimed the first batch (its consumer found the messages).
        "first_claim_s": (first_claim or done) - submitted,
        "sending_s": (all_sent or done) - submitted,
        "reconciling_s": done - (all_sent or done),
    }


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--processes", type=int, default=2, help="worker processes")
    p.add_argument("--threads", type=int, default=8, help="threads per worker process")
    p.add_argument(
        "--consumer-idle-ms",
        type=int,
        default=PIPELINE_SETTINGS["consumer_idle_ms"],
        help="the workers' DISPATCHER_CONSUMER_IDLE_MS",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also report CPU seconds per part of the stack and Redis commands per pipeline run",
    )
    args = parse_args(p, argv)
    if args.smoke:
        args.contacts, args.runs = 300, 1
    contacts = list(phones(args.contacts))
    pipeline: list[dict[str, float]] = []
    bare_s: list[float] = []
    profiles: list[dict[str, Any]] = []
    with Stack(instant=True) as stack, tempfile.TemporaryDirectory() as tmp:
        settings = stack.settings("bench")
        store = StateStore(stack.client(), settings.key_prefix)
        env = worker_env(
            settings,
            stack.sandbox.url,
            **{**PIPELINE_SETTINGS, "consumer_idle_ms": args.consumer_idle_ms},
        )
        workers = WorkerGroup(env, Path(tmp), threads=args.threads)
        try:
            workers.start(args.processes)
            booted = wait_until(
                lambda: workers.logs(10**7).count("worker.booted") >= args.processes, 60
            )
            if not booted:
                raise RuntimeError(f"workers did not boot: {workers.logs()}")
            for _ in range(args.runs):
                stack.sandbox.reset()
                bare_s.append(bare_loop(stack.sandbox.url, contacts, args.batch_size, 50))
                stack.sandbox.reset()
                probe = CpuProbe(stack, workers) if args.profile else None
                if probe is not None:
                    probe.start()
                pipeline.append(pipeline_run(stack, store, contacts, args.batch_size))
                if probe is not None:
                    profiles.append(probe.stop())
        finally:
            workers.stop_all()
    pipeline_s = [run["total_s"] for run in pipeline]
    pipeline_rate = args.contacts / median_of(pipeline_s)
    bare_rate = args.contacts / median_of(bare_s)
    emit(
        "e2e_throughput",
        pipeline_rate,
        "contacts/s",
        baseline=bare_rate,
        baseline_name="one httpx client, same creates and gets, no queue",
        ratio=pipeline_rate / bare_rate,
        target_ratio=0.8,
        pipeline_runs_s=pipeline_s,
        # Where the pipeline's time went (medians): submit, until every batch was sent, then
        # until every contact was reconciled.
        phases_s={
            k: median_of([run[k] for run in pipeline]) for k in pipeline[0] if k != "total_s"
        },
        baseline_runs_s=bare_s,
        contacts=args.contacts,
        batch_size=args.batch_size,
        workers=f"{args.processes}x{args.threads}",
        consumer_idle_ms=args.consumer_idle_ms,
        machine=machine(),
        **({"profiles": profiles} if profiles else {}),
    )


if __name__ == "__main__":
    main()
