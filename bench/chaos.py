"""Chaos: a campaign through 3 worker processes while workers die, the provider misbehaves and
Redis restarts; then the invariants are checked and printed.

* one worker process is SIGKILLed and a new one started every `--kill-every-s` seconds;
* the sandbox answers 5 % of requests 5xx (not applied), hangs 2 % past the client's read timeout
  (applied), cuts 1 % mid-response (applied), refuses 3 % with 429 whatever the pace, and 429s
  every request above its rate limit, which is set below the workers' own pace (on a loaded
  machine the workers may never reach it: the 3 % share makes 429s happen anyway);
* Redis (AOF on) is restarted once, when a third of the contacts are done;
* with `--self-healing` (what the reconciler is for, issue 9): Redis is SIGKILLed rather than shut
  down (AOF `everysec`); half the worker kills are SIGTERMs (graceful) instead of SIGKILLs; the
  campaign is paused and resumed twice, with a worker SIGKILLed while it is paused; a second
  campaign is cancelled mid-run; and every dramatiq message is deleted from Redis once (a lost
  queue). Every contact must still end terminal, and the time from the last fault to the end is
  reported.

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
from collections.abc import Callable
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
    wait_while_progressing,
    worker_env,
)
from dispatcher.controls import Controls
from dispatcher.errors import DispatcherError
from dispatcher.lifecycle import CampaignStatus
from dispatcher.queue import make_enqueue
from dispatcher.store import TERMINAL_STATES, StateStore
from dispatcher.store.keys import Keys

AMBIGUOUS_FAULTS = frozenset({"error", "hang", "drop"})
#: The reason the reconciler gives a batch whose sender stopped mid-request (its lease ran out).
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
    rate_limited_rate: float = 0.03
    error_rate: float = 0.05
    hang_rate: float = 0.02
    drop_rate: float = 0.01
    read_timeout_s: float = 2.0
    kill_every_s: float = 4.0
    #: Share of contacts done when Redis is restarted; None: never.
    restart_redis_at: float | None = 1 / 3
    timeout_s: float | None = 900.0
    #: Give up when no contact has progressed for this long (however long the run has taken).
    stall_s: float = 60.0
    seed: int = 1
    # --- the self-healing scenario ------------------------------------------------------------
    #: SIGKILL Redis (AOF everysec) instead of shutting it down (AOF always).
    redis_kill: bool = False
    #: Share of worker kills that are SIGTERMs (graceful shutdowns) rather than SIGKILLs.
    sigterm_share: float = 0.0
    #: Progress at which the campaign is paused (a worker SIGKILLed while paused) and resumed.
    pause_at: tuple[float, ...] = ()
    #: Progress at which every dramatiq message is deleted from Redis; None: never.
    drop_messages_at: float | None = None
    #: Contacts of a second campaign, cancelled when it is this far itself; 0: none.
    cancelled_contacts: int = 0
    cancel_at: float = 0.2
    #: The reconciler's grace for a pending batch no message picked up.
    batch_stale_after_s: float = 60.0
    #: The sandbox's latency per request (keeps creates in flight when a worker is killed).
    latency_ms: float = 0.0
    #: `DISPATCHER_ARCHIVE_AFTER_S` of the workers; None: the default (an hour: never in a run).
    archive_after_s: float | None = None


@dataclass
class ChaosReport:
    """What the run did and what it found."""

    contacts: int
    elapsed_s: float = 0.0
    finished: bool = False
    kills: int = 0
    sigterms: int = 0
    redis_restarts: int = 0
    pauses: int = 0
    kills_while_paused: int = 0
    messages_dropped: int = 0
    cancelled_campaign: dict[str, int] = field(default_factory=dict)
    #: Campaigns whose contacts were archived (`dispatcher.store.archive`) when they were checked.
    archived: int = 0
    #: Seconds from the last injected fault (kill, restart, drop, pause) to the campaign's end.
    settle_s: float = 0.0
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
    """Every few seconds kills one worker and starts a replacement; the scenario's other faults
    happen when the campaign has come far enough."""

    def __init__(
        self,
        config: ChaosConfig,
        workers: WorkerGroup,
        stack: Stack,
        progress: Any,
        report: ChaosReport,
        controls: Any = None,
    ) -> None:
        super().__init__(daemon=True)
        self.config, self.workers, self.stack = config, workers, stack
        self.progress, self.report, self.controls = progress, report, controls
        self.stop = threading.Event()
        self.rng = random.Random(config.seed)
        self.last_fault = time.monotonic()
        self.pauses_left = list(config.pause_at)

    def run(self) -> None:
        if self.config.cancelled_contacts:
            threading.Thread(target=self._cancel_second, daemon=True).start()
        while not self.stop.wait(self.config.kill_every_s):
            # Kills wait for the replacements to boot: on a loaded machine a worker can take
            # longer than `kill_every_s` to start, and killing faster than workers boot would
            # leave none at work, which tests the machine rather than the dispatcher.
            if self._kill_one(sigterm=self.rng.random() < self.config.sigterm_share):
                self.workers.start(1)
            done = self._progress()
            at = self.config.restart_redis_at
            if at is not None and self.report.redis_restarts == 0 and done >= at:
                self.stack.redis.restart(kill=self.config.redis_kill)
                self.report.redis_restarts += 1
                self.last_fault = time.monotonic()
            at = self.config.drop_messages_at
            if at is not None and self.report.messages_dropped == 0 and done >= at:
                self.report.messages_dropped = self._drop_messages()
                self.last_fault = time.monotonic()
            if self.pauses_left and done >= self.pauses_left[0]:
                self.pauses_left.pop(0)
                self._pause_and_resume()

    def _cancel_second(self) -> None:
        # On its own thread: the kills, restarts and pauses must not make it miss its moment.
        while not self.stop.wait(0.2):
            if self.controls.other_progress() >= self.config.cancel_at:
                self.report.cancelled_campaign = {"requested": 1}
                self._retry(lambda: self.controls.cancel_second())
                return

    def _kill_one(self, *, sigterm: bool, force: bool = False) -> bool:
        """Kill a booted worker other than the newest booted one; False when there is none
        (unless `force`: then any live worker but the newest)."""
        alive = self.workers.alive()
        booted = [p for p in alive if self.workers.booted(p)]
        candidates = booted[:-1] if not force else (alive[:-1] or alive)
        if not candidates:
            return False
        victim = self.rng.choice(candidates)
        if sigterm:
            self.workers.terminate(victim)
            self.report.sigterms += 1
        else:
            self.workers.kill(victim)
            self.report.kills += 1
        self.last_fault = time.monotonic()
        return True

    def _pause_and_resume(self) -> None:
        self._retry(lambda: self.controls.pause())
        self.report.pauses += 1
        # At once: creates started before the pause are still in flight (the provider is slow),
        # so the killed worker leaves a batch `sending` in a paused campaign.
        if self._kill_one(sigterm=False, force=True):
            self.report.kills_while_paused += 1
            self.workers.start(1)
        time.sleep(1.0)
        self._retry(lambda: self.controls.resume())
        self.last_fault = time.monotonic()

    def _drop_messages(self) -> int:
        """Delete every dramatiq key (queues, delay queues, payloads): a lost queue."""
        client = self.stack.client()
        try:
            namespace = self.controls.namespace
            keys = list(client.scan_iter(match=f"{namespace}:*"))
            if keys:
                client.delete(*keys)
            return len(keys)
        finally:
            client.close()

    @staticmethod
    def _retry(action: Any) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                action()
                return
            except DispatcherError:  # Redis restarting: the operator tries again
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _progress(self) -> float:
        try:
            return float(self.progress())
        except (DispatcherError, OSError):
            return 0.0


class _Operator:
    """What an operator does during the run: pause and resume the campaign, cancel another."""

    def __init__(self, settings: Any, store: StateStore, main_id: str, other_id: str | None):
        self.controls = Controls(store, make_enqueue(settings, store.client))
        self.store, self.main_id, self.other_id = store, main_id, other_id
        self.namespace = Keys(settings.key_prefix).dramatiq_namespace

    def pause(self) -> None:
        if self.store.status(self.main_id) in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
            self.controls.pause(self.main_id, "chaos pause")

    def resume(self) -> None:
        if self.store.status(self.main_id) is CampaignStatus.PAUSED:
            self.controls.resume(self.main_id)

    def other_progress(self) -> float:
        """How far the second campaign is (0 when there is none or Redis is away)."""
        if self.other_id is None:
            return 0.0
        try:
            counts = self.store.counts(self.other_id)
        except DispatcherError:
            return 0.0
        total = sum(counts.values()) or 1
        return 1 - sum(counts.get(s, 0) for s in ("pending", "sending", "sent")) / total

    def cancel_second(self) -> None:
        if self.other_id is not None and not finished(self.store, self.other_id):
            self.controls.cancel(self.other_id)


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
        "rate_limited_rate": config.rate_limited_rate,
        "latency_ms": config.latency_ms,
    }
    fsync = "everysec" if config.redis_kill else "always"
    with Stack(appendonly=True, appendfsync=fsync, **sandbox) as stack:
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
            batch_stale_after_s=config.batch_stale_after_s,
            **(
                {}
                if config.archive_after_s is None
                else {"archive_after_s": config.archive_after_s}
            ),
            # The faults are the point here: the error-burst guards would pause the campaign.
            autopause_ambiguous=0,
            autopause_retry_safe=0,
            autopause_rejected=0,
            log_level="INFO",
        )
        workers = WorkerGroup(env, log_dir, threads=config.threads, shutdown_timeout_ms=15_000)
        started = time.monotonic()
        killer: _Killer | None = None
        try:
            workers.start(config.workers)
            submitted = submit(
                settings, store, phones(config.contacts), batch_size=config.batch_size
            )
            cid = submitted.campaign_id
            assert cid is not None, submitted.as_dict()
            other = None
            if config.cancelled_contacts:
                # Paced slowly on purpose, so that it is mid-flight when it is cancelled.
                second = submit(
                    settings,
                    store,
                    phones(config.cancelled_contacts, offset=config.contacts),
                    batch_size=config.batch_size,
                    dials_per_minute=300,
                )
                other = second.campaign_id

            def progress() -> float:
                counts = store.counts(cid)
                open_ = sum(counts.get(s, 0) for s in ("pending", "sending", "sent"))
                return 1 - open_ / config.contacts

            operator = _Operator(settings, store, cid, other)
            killer = _Killer(config, workers, stack, progress, report, operator)
            killer.start()

            def settled(campaign_id: str) -> bool:
                # Cancelled is not the end: calls already created still reconcile.
                counts = store.counts(campaign_id)
                open_ = sum(counts.get(s, 0) for s in ("pending", "sending", "sent"))
                return finished(store, campaign_id) and open_ == 0

            def done() -> bool:
                try:
                    return settled(cid) and (other is None or settled(other))
                except DispatcherError:  # Redis is restarting
                    return False

            def moved() -> object:
                # Either campaign moving is progress (the cancelled one still reconciles).
                return progress(), (None if other is None else sorted(store.counts(other).items()))

            report.finished = wait_while_progressing(done, moved, config.stall_s, config.timeout_s)
            killer.stop.set()
            killer.join()
            report.elapsed_s = time.monotonic() - started
            report.settle_s = max(time.monotonic() - killer.last_fault, 0.0)
            if report.finished and config.archive_after_s is not None:
                # Checked from the archive: the reconciler archives an ended campaign once its
                # last calls are polled (a sweep a second here); bounded, then checked either way.
                ended = [c for c in (cid, other) if c is not None]
                _wait_for(lambda: all("archived_at" in store.meta(c) for c in ended), 30.0)
            _check(stack, store, cid, report)
            if other is not None:
                report.cancelled_campaign = _check_other(
                    store, other, config.cancelled_contacts, report
                )
        finally:
            if killer is not None:
                killer.stop.set()
            workers.stop_all()
    return report


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _check_other(
    store: StateStore, campaign_id: str, contacts: int, report: ChaosReport
) -> dict[str, int]:
    """The cancelled campaign: every contact there and terminal, counters right; its states
    (folded into the report's invariants)."""
    report.archived += "archived_at" in store.meta(campaign_id)
    records = list(store.iter_contacts(campaign_id))
    states: Counter[str] = Counter(r.state for r in records)
    report.not_terminal += sum(n for s, n in states.items() if s not in TERMINAL_STATES)
    report.not_terminal += contacts - len(records)
    counters = {k: v for k, v in store.counts(campaign_id).items() if v}
    report.counter_mismatch += sum(
        abs(counters.get(s, 0) - states.get(s, 0)) for s in set(states) | set(counters)
    )
    return dict(states)


def _check(stack: Stack, store: StateStore, campaign_id: str, report: ChaosReport) -> None:
    report.archived += "archived_at" in store.meta(campaign_id)
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


def self_healing(config: ChaosConfig) -> ChaosConfig:
    """Turn on every fault of the self-healing scenario (issue 9)."""
    config.redis_kill = True
    config.sigterm_share = 0.5
    config.pause_at = (0.15, 0.4)
    # After the last resume (which re-sends every pending batch): only the reconciler can notice.
    config.drop_messages_at = 0.6
    config.latency_ms = 300.0
    config.cancelled_contacts = max(config.contacts // 10, 50)
    config.batch_stale_after_s = 3.0
    config.restart_redis_at = 0.3
    # Every optimisation on: a campaign is archived as soon as it has ended and nothing is left to
    # poll or retry (the cancelled one while the other still runs), and read back from its archive.
    config.archive_after_s = 0.0
    return config


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
        sigterms=report.sigterms,
        redis_restarts=report.redis_restarts,
        pauses=report.pauses,
        kills_while_paused=report.kills_while_paused,
        messages_dropped=report.messages_dropped,
        cancelled_campaign=report.cancelled_campaign,
        archived=report.archived,
        settle_s=report.settle_s,
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
    p.add_argument(
        "--self-healing",
        action="store_true",
        help="Redis SIGKILLed, SIGTERMs too, pause/resume with a kill while paused, a cancelled "
        "second campaign, every queued message deleted once",
    )
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
    if args.self_healing:
        self_healing(config)
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
