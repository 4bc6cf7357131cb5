"""Chaos: a campaign through 3 worker processes while workers die, the provider misbehaves and
Redis restarts; then the invariants are checked and printed.

* one worker process is SIGKILLed and a new one started every `--kill-every-s` seconds;
* the sandbox answers 5 % of requests 5xx (not applied), hangs 2 % past the client's read timeout
  (applied), cuts 1 % mid-response (applied), and refuses with 429 above its rate limit, which is
  set below the workers' own pace so that 429s really happen;
* Redis (AOF on, `appendfsync everysec`) is restarted once, when a third of the contacts are done.

Checked afterwards (each printed as a JSON line; the exit status is 1 if any fails):
phones created more than once = 0; contacts not terminal = 0; counters = per-contact sum; every
`unknown` contact is explained: either its create met an ambiguous fault the sandbox logged
(error, hang or drop: the same phone is in that fault's `phones`), or its batch's lease ran out
after the worker sending it was killed or lost Redis mid-request (the contact's reason says so).

    .venv/bin/python -m bench.chaos [--contacts 20000]
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    wait_until,
    worker_env,
)
from dispatcher.errors import DispatcherError
from dispatcher.store import TERMINAL_STATES, StateStore

AMBIGUOUS_FAULTS = frozenset({"error", "hang", "drop"})
#: The reason `workers.batches._check_lease` gives a batch whose sender stopped mid-request.
LEASE_REASON = "stopped mid-request"


@dataclass
class ChaosConfig:
    """Sizes and fault rates of one chaos run."""

    contacts: int = 20_000
    batch_size: int = 20
    workers: int = 3
    threads: int = 4
    provider_rate_per_s: int = 40
    sandbox_rate_limit_per_s: int = 30
    error_rate: float = 0.05
    hang_rate: float = 0.02
    drop_rate: float = 0.01
    read_timeout_s: float = 2.0
    kill_every_s: float = 4.0
    #: Share of contacts done when Redis is restarted; None: never.
    restart_redis_at: float | None = 1 / 3
    timeout_s: float = 900.0
    seed: int = 1


@dataclass
class ChaosReport:
    """What the run did and what it found."""

    contacts: int
    elapsed_s: float = 0.0
    finished: bool = False
    kills: int = 0
    redis_restarts: int = 0
    states: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    double_created: int = 0
    not_terminal: int = 0
    counter_mismatch: int = 0
    unknown: int = 0
    unknown_after_fault: int = 0
    unknown_after_lease: int = 0
    unknown_unexplained: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            self.finished
            and self.double_created == 0
            and self.not_terminal == 0
            and self.counter_mismatch == 0
            and not self.unknown_unexplained
        )


class _Killer(threading.Thread):
    """Every few seconds SIGKILLs one worker and starts a replacement; restarts Redis once."""

    def __init__(
        self,
        config: ChaosConfig,
        workers: WorkerGroup,
        stack: Stack,
        progress: Any,
        report: ChaosReport,
    ) -> None:
        super().__init__(daemon=True)
        self.config, self.workers, self.stack = config, workers, stack
        self.progress, self.report = progress, report
        self.stop = threading.Event()
        self.rng = random.Random(config.seed)

    def run(self) -> None:
        while not self.stop.wait(self.config.kill_every_s):
            # The newest process is spared: killing workers before they boot tests nothing.
            alive = self.workers.alive()[:-1] or self.workers.alive()
            if alive:
                self.workers.kill(self.rng.choice(alive))
                self.report.kills += 1
            self.workers.start(1)
            at = self.config.restart_redis_at
            if at is not None and self.report.redis_restarts == 0 and self._progress() >= at:
                self.stack.redis.restart()
                self.report.redis_restarts += 1

    def _progress(self) -> float:
        try:
            return float(self.progress())
        except (DispatcherError, OSError):
            return 0.0


def run_chaos(config: ChaosConfig, log_dir: Path) -> ChaosReport:
    """Run one chaos campaign; returns the report (the caller decides what to assert)."""
    report = ChaosReport(contacts=config.contacts)
    sandbox = {
        "speedup": 600.0,
        "seed": config.seed,
        "error_rate": config.error_rate,
        "hang_rate": config.hang_rate,
        "hang_s": config.read_timeout_s * 2,
        "drop_rate": config.drop_rate,
        "rate_limit_per_s": config.sandbox_rate_limit_per_s,
    }
    with Stack(appendonly=True, **sandbox) as stack:
        settings = stack.settings("chaos")
        store = StateStore(stack.client(), settings.key_prefix)
        env = worker_env(
            settings,
            stack.sandbox.url,
            provider_rate_per_s=config.provider_rate_per_s,
            read_timeout_s=config.read_timeout_s,
            batch_lease_s=config.read_timeout_s * 2 + 2,
            broker_heartbeat_timeout_ms=2000,
            broker_maintenance_chance=200_000,
            poll_first_delay_s=0.3,
            poll_max_interval_s=1.0,
            poll_tick_max_s=0.3,
            poll_lease_s=5.0,
            watchdog_interval_s=1.0,
            # The faults are the point here: the error-burst guards would pause the campaign.
            autopause_ambiguous=0,
            autopause_retry_safe=0,
            autopause_rejected=0,
            log_level="INFO",
        )
        workers = WorkerGroup(env, log_dir, threads=config.threads)
        started = time.monotonic()
        killer: _Killer | None = None
        try:
            workers.start(config.workers)
            submitted = submit(
                settings, store, phones(config.contacts), batch_size=config.batch_size
            )
            cid = submitted.campaign_id
            assert cid is not None, submitted.as_dict()

            def progress() -> float:
                counts = store.counts(cid)
                open_ = sum(counts.get(s, 0) for s in ("pending", "sending", "sent"))
                return 1 - open_ / config.contacts

            killer = _Killer(config, workers, stack, progress, report)
            killer.start()

            def done() -> bool:
                try:
                    return finished(store, cid)
                except DispatcherError:  # Redis is restarting
                    return False

            report.finished = wait_until(done, config.timeout_s, interval_s=0.5)
            killer.stop.set()
            killer.join()
            report.elapsed_s = time.monotonic() - started
            _check(stack, store, cid, report)
        finally:
            if killer is not None:
                killer.stop.set()
            workers.stop_all()
    return report


def _check(stack: Stack, store: StateStore, campaign_id: str, report: ChaosReport) -> None:
    records = list(store.iter_contacts(campaign_id))
    states: Counter[str] = Counter(r.state for r in records)
    report.states = dict(states)
    report.counters = {k: v for k, v in store.counts(campaign_id).items() if v}
    report.not_terminal = sum(n for s, n in states.items() if s not in TERMINAL_STATES)
    report.not_terminal += report.contacts - len(records)
    report.counter_mismatch = sum(
        abs(report.counters.get(s, 0) - states.get(s, 0))
        for s in set(states) | set(report.counters)
    )
    stats = stack.sandbox.stats()
    creates = stats["creates_per_phone"]
    report.double_created = sum(1 for n in creates.values() if n > 1)
    report.requests = stats["requests"]
    report.faults = dict(Counter(f["kind"] for f in stats["faults"]))
    faulted = {
        phone
        for fault in stats["faults"]
        if fault["kind"] in AMBIGUOUS_FAULTS
        for phone in fault.get("phones") or []
    }
    for record in records:
        if record.state != "unknown":
            continue
        report.unknown += 1
        if record.phone in faulted:
            report.unknown_after_fault += 1
        elif LEASE_REASON in str(record.fields.get("r", "")):
            report.unknown_after_lease += 1
        else:
            report.unknown_unexplained.append(f"{record.phone}: {record.fields.get('r')}")


def print_report(report: ChaosReport, config: ChaosConfig) -> None:
    """One JSON line per invariant, then the run's description."""
    checks = {
        "chaos_phones_created_more_than_once": report.double_created,
        "chaos_contacts_not_terminal": report.not_terminal,
        "chaos_counter_mismatch": report.counter_mismatch,
        "chaos_unknown_unexplained": len(report.unknown_unexplained),
    }
    for name, value in checks.items():
        emit(name, value, "contacts", expected=0, ok=value == 0)
    emit(
        "chaos_run",
        report.elapsed_s,
        "s",
        ok=report.ok,
        finished=report.finished,
        contacts=report.contacts,
        kills=report.kills,
        redis_restarts=report.redis_restarts,
        states=report.states,
        unknown=report.unknown,
        unknown_after_fault=report.unknown_after_fault,
        unknown_after_lease=report.unknown_after_lease,
        unknown_unexplained=report.unknown_unexplained[:20],
        faults=report.faults,
        creates=report.requests.get("/apiCalls/create", {}),
        gets=report.requests.get("/apiCalls/get", {}),
        config=config.__dict__,
        machine=machine(),
    )


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--rate", type=int, default=40, help="the workers' provider_rate_per_s")
    p.add_argument("--kill-every-s", type=float, default=4.0)
    p.add_argument("--no-redis-restart", action="store_true")
    p.add_argument("--timeout-s", type=float, default=900.0)
    args = parse_args(p, argv)
    config = ChaosConfig(
        contacts=args.contacts,
        batch_size=args.batch_size,
        provider_rate_per_s=args.rate,
        sandbox_rate_limit_per_s=max(1, int(args.rate * 0.75)),
        kill_every_s=args.kill_every_s,
        restart_redis_at=None if args.no_redis_restart else 1 / 3,
        timeout_s=args.timeout_s,
    )
    if args.smoke:
        # Only checks that the script runs: the Redis restart's known message loss (see
        # tests/test_chaos.py) would make it wait out its timeout.
        config.contacts, config.batch_size, config.kill_every_s = 300, 10, 2.0
        config.restart_redis_at, config.timeout_s = None, 120.0
    with tempfile.TemporaryDirectory() as tmp:
        report = run_chaos(config, Path(tmp))
        print_report(report, config)
        if not report.ok:
            tail = "\n".join(
                (Path(tmp) / f).read_text(errors="replace")[-1500:]
                for f in sorted(p.name for p in Path(tmp).glob("worker-*.log"))[-2:]
            )
            print(json.dumps({"worker_log_tail": tail}))
            raise SystemExit(1)


if __name__ == "__main__":
    main()
