"""Benchmark 3: pacing accuracy and cost: K processes x T threads against a global limit of R/s.

Every thread loops for D seconds: acquire from the limiter, then send one real request to the
sandbox (`apiCalls/userInfo`). The sandbox counts arrivals: its peak in any sliding second must
never exceed R. Utilisation is the requests started inside the window over R x D. Redis cost comes
from `INFO commandstats` deltas over the run: `commands` counts everything Redis executed
(including the GET/SET/TIME a Lua script runs), `round_trips` only what clients sent.

Limiters, one run each per repetition, each on a fresh key and a reset sandbox:
* `gcra`: the dispatcher's `GlobalPacer` with `workers.limits.provider_limit` (what the workers
  use); a refused reservation sleeps the wait it was told and asks again.
* `dramatiq_window`: `dramatiq.rate_limits.WindowRateLimiter(limit=R, window=1)` on its
  `RedisBackend`; a thread that is refused sleeps 10 ms and tries again.
* `dramatiq_bucket`: `BucketRateLimiter(limit=R, bucket=1000)`, the same way.

    .venv/bin/python -m bench.pacing [--rate 50] [--processes 2] [--threads 4] [--seconds 30]
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import redis

from bench.harness import Stack, emit, machine, median_of, parse_args, parser
from dispatcher.settings import SANDBOX_API_KEY

MODES = ("gcra", "dramatiq_window", "dramatiq_bucket")
#: Commands a pacing Lua script runs inside Redis (not sent by any client).
_SCRIPT_INTERNAL = {"time", "get", "set"}
_BOOKKEEPING = {"info", "config", "client", "hello", "ping"}
REFUSED_SLEEP_S = 0.01


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acquired = 0
        self.granted = 0
        self.in_window = 0
        self.refused = 0


def _limiter(mode: str, redis_url: str, key: str, rate: int) -> Any:
    """A callable that blocks until it may start, returning how many refusals it saw."""
    if mode == "gcra":
        from dispatcher.pacing import GlobalPacer
        from dispatcher.settings import Settings
        from workers.limits import provider_limit

        # A made-up account per run: the provider limit is the account's, shared across prefixes.
        settings = Settings(redis_url=redis_url, provider_rate_per_s=rate, effebot_api_key=key)
        limit = provider_limit(settings)
        pacer = GlobalPacer(redis.Redis.from_url(redis_url), key)

        def acquire_gcra() -> int:
            refused = 0
            while True:
                reservation = pacer.acquire([limit], settings.max_pacing_wait_s)
                if reservation.granted:
                    return refused
                refused += 1
                time.sleep(reservation.wait_s)

        return acquire_gcra

    from dramatiq.rate_limits import BucketRateLimiter, WindowRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend

    backend = RedisBackend(url=redis_url)
    if mode == "dramatiq_window":
        limiter: Any = WindowRateLimiter(backend, key, limit=rate, window=1)  # type: ignore[no-untyped-call]
    else:
        limiter = BucketRateLimiter(backend, key, limit=rate, bucket=1000)  # type: ignore[no-untyped-call]

    def acquire_dramatiq() -> int:
        refused = 0
        while True:
            with limiter.acquire(raise_on_failure=False) as acquired:
                if acquired:
                    return refused
            refused += 1
            time.sleep(REFUSED_SLEEP_S)

    return acquire_dramatiq


def child(*argv: str) -> None:
    """One competing process: T threads acquire-then-request until the window ends."""
    mode, redis_url, sandbox_url, key, rate, threads, start_at, seconds = argv
    acquire = _limiter(mode, redis_url, key, int(rate))
    begin, end = float(start_at), float(start_at) + float(seconds)
    counter = _Counter()
    http = httpx.Client(base_url=sandbox_url, timeout=10.0, limits=httpx.Limits(max_connections=64))

    def loop() -> None:
        while time.time() < begin:
            time.sleep(0.001)
        while True:
            refused = acquire()
            started = time.time()
            if started >= end:
                with counter.lock:
                    counter.acquired += 1
                    counter.refused += refused
                return
            http.post("/apiCalls/userInfo", json={"apiKey": SANDBOX_API_KEY})
            with counter.lock:
                counter.acquired += 1
                counter.granted += 1
                counter.refused += refused
                counter.in_window += begin <= started < end

    workers = [threading.Thread(target=loop) for _ in range(int(threads))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    http.close()
    result = {"acquired": counter.acquired, "granted": counter.granted}
    result.update(in_window=counter.in_window, refused=counter.refused)
    print(json.dumps(result), flush=True)


def _commandstats(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def run_mode(stack: Stack, mode: str, run: int, args: Any) -> dict[str, Any]:
    """One run of one limiter: arrivals, utilisation and Redis cost."""
    client = stack.client()
    stack.sandbox.reset()
    before = _commandstats(client)
    start_at = time.time() + 1.5  # every process is up before the window opens
    key = f"bench-{mode}-{run}"
    procs = [
        subprocess.Popen(  # noqa: S603 - our own command
            [
                sys.executable,
                "-m",
                "bench.pacing",
                "--child",
                mode,
                stack.redis.url,
                stack.sandbox.url,
                key,
                str(args.rate),
                str(args.threads),
                str(start_at),
                str(args.seconds),
            ],
            stdout=subprocess.PIPE,
        )
        for _ in range(args.processes)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=args.seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} child exited {proc.returncode}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    after = _commandstats(client)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    delta = {k: v for k, v in delta.items() if v and k not in _BOOKKEEPING}
    commands = sum(delta.values())
    internal = sum(v for k, v in delta.items() if k in _SCRIPT_INTERNAL) if mode == "gcra" else 0
    granted = sum(r["acquired"] for r in results)
    in_window = sum(r["in_window"] for r in results)
    stats = stack.sandbox.stats()
    client.close()
    return {
        "peak_rps": stats["peak_rps"],
        "utilisation": in_window / (args.rate * args.seconds),
        "commands_per_acquire": commands / max(granted, 1),
        "round_trips_per_acquire": (commands - internal) / max(granted, 1),
        "refusals_per_acquire": sum(r["refused"] for r in results) / max(granted, 1),
        "commands": delta,
    }


def main(argv: list[str] | None = None) -> None:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:10])
        return
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rate", type=int, default=50, help="R: the global limit, requests/s")
    p.add_argument("--processes", type=int, default=2, help="K")
    p.add_argument("--threads", type=int, default=4, help="T per process")
    p.add_argument("--seconds", type=float, default=30.0, help="D: the measured window")
    p.add_argument("--modes", default=",".join(MODES))
    args = parse_args(p, argv)
    if args.smoke:
        args.rate, args.seconds, args.runs = 20, 1.5, 1
    modes = args.modes.split(",")
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    with Stack() as stack:
        for run in range(args.runs):
            for mode in modes:
                runs[mode].append(run_mode(stack, mode, run, args))
    setup = {
        "rate_per_s": args.rate,
        "load": f"{args.processes}x{args.threads}",
        "seconds": args.seconds,
        "runs": args.runs,
    }
    summary = {
        mode: {
            metric: median_of([r[metric] for r in results])
            for metric in (
                "peak_rps",
                "utilisation",
                "commands_per_acquire",
                "round_trips_per_acquire",
                "refusals_per_acquire",
            )
        }
        for mode, results in runs.items()
    }
    for metric, unit, target in (
        ("peak_rps", "requests in the busiest second", f"<= {args.rate}"),
        ("utilisation", "share of R", ">= 0.95"),
        ("round_trips_per_acquire", "Redis commands sent per granted acquire", "<= 1.1"),
        ("commands_per_acquire", "Redis commands executed (incl. inside scripts)", None),
    ):
        baselines = {m: s[metric] for m, s in summary.items() if m != "gcra"}
        ours = summary.get("gcra", {}).get(metric)
        emit(
            f"pacing_{metric}",
            ours,
            unit,
            baseline=baselines,
            target=target,
            per_run={m: [r[metric] for r in rs] for m, rs in runs.items()},
            refusals_per_acquire={m: s["refusals_per_acquire"] for m, s in summary.items()},
            **setup,
        )
    total = sum(runs["gcra"][-1]["commands"].values()) if "gcra" in runs else 0
    per_mode = {m: rs[-1]["commands"] for m, rs in runs.items()}
    emit("pacing_redis_commands", total, "calls", per_mode=per_mode, machine=machine(), **setup)


if __name__ == "__main__":
    main()
