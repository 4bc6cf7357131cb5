"""A lossy Redis failover under a running campaign: phones created twice, with and without durable
claims.

The set-up (`bench/redis_ha.py`): a primary, its replica and three Sentinels as real processes;
worker processes (`dramatiq workers.app`) reach Redis only through `DISPATCHER_REDIS_SENTINELS`.
The sequence, once a quarter of the batches are sent: the replica is SIGSTOPped; batches go on
being sent (or, with `DISPATCHER_CLAIM_DURABILITY=replica`, claims go unconfirmed and nobody is
dialled); the primary is SIGKILLed, then the replica, which is started again on its own AOF (it
lacks what it never applied) and promoted by Sentinel; a fresh replica joins the new master. The
workers are never restarted. The campaign must then finish.

Reported per durability mode (medians over `--runs`, every run listed): phones the sandbox saw
created more than once, contacts not terminal, contacts ended `unknown`, whether the campaign
finished, and the seconds from the primary's death to the campaign's end.

    .venv/bin/python -m bench.failover [--contacts 600] [--modes none,replica]
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    DRAMATIQ,
    emit,
    machine,
    median_of,
    parse_args,
    parser,
    phones,
    submit,
)
from bench.redis_ha import MASTER_NAME, RedisHA
from dispatcher.errors import StateError
from dispatcher.lifecycle import CampaignStatus
from dispatcher.sandbox.testing import SandboxProcess
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.store import TERMINAL_STATES, StateStore

__all__ = ["FailoverResult", "run_failover"]

#: What a worker logs when a claim was not confirmed (the batch was given back, not dialled).
UNCONFIRMED_EVENT = "batch.claim_not_durable"


@dataclass
class FailoverResult:
    durability: str
    contacts: int
    double_created: int  # phones the sandbox saw in more than one create
    not_terminal: int
    unknown: int
    finished: bool
    workers_alive: int
    workers: int
    creates_before_kill: int
    creates_after_promotion: int
    unconfirmed_claims: int  # log lines: claims given back while the replica was frozen
    recovery_s: float | None  # from the primary's death to the campaign's end
    counts: dict[str, int] = field(default_factory=dict)
    log_tail: str = ""
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _env(settings: Settings, ha: RedisHA, sandbox_url: str, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    values: dict[str, Any] = {
        "REDIS_SENTINELS": ha.sentinels,
        "REDIS_SENTINEL_MASTER": MASTER_NAME,
        "KEY_PREFIX": settings.key_prefix,
        "QUEUE_NAME": settings.queue_name,
        "EFFEBOT_BASE_URL": sandbox_url,
        "EFFEBOT_API_KEY": SANDBOX_API_KEY,
        "CLAIM_DURABILITY": settings.claim_durability,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        "POLL_FIRST_DELAY_S": 0.3,
        "POLL_MAX_INTERVAL_S": 1.0,
        "POLL_TICK_MAX_S": 0.3,
        "WATCHDOG_INTERVAL_S": 1.0,
        # Lost messages and dead claims are the reconciler's: let it act within seconds.
        "BATCH_STALE_AFTER_S": 3.0,
        "BATCH_LEASE_S": 15.0,
        "READ_TIMEOUT_S": 5.0,
        **{k.upper(): v for k, v in extra.items()},
    }
    env.update({f"DISPATCHER_{k}": str(v) for k, v in values.items() if v is not None})
    return env


class _Workers:
    def __init__(self, env: dict[str, str], log_dir: Path, count: int, threads: int) -> None:
        import subprocess

        self.logs = [log_dir / f"worker-{i}.log" for i in range(count)]
        self.processes = []
        for path in self.logs:
            with path.open("ab") as log:
                self.processes.append(
                    subprocess.Popen(  # noqa: S603 - our own fixed argument list
                        [DRAMATIQ, "workers.app", "--processes", "1", "--threads", str(threads)],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def alive(self) -> int:
        return sum(1 for p in self.processes if p.poll() is None)

    def text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs)

    def kill(self) -> None:
        import signal

        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except StateError:  # Redis failing over under the observer
            pass
        time.sleep(0.1)
    return False


def _creates(sandbox: Any) -> int:
    return int(sum(sandbox.stats()["creates_per_phone"].values()))


def _diagnose(store: StateStore, cid: str) -> dict[str, Any]:
    """What a campaign that did not finish is waiting for: its open batches and the queues."""
    try:
        client = store.client
        open_batches = {
            bn: info for bn, info in store.batches(cid) if info["status"] in ("pending", "sending")
        }
        namespace = store.keys.dramatiq_namespace
        keys = sorted(k.decode() for k in client.scan_iter(match=f"{namespace}*", count=1000))
        sizes = {k: client.type(k).decode() for k in keys}
        members = {
            k: [m.decode() for m in client.smembers(k)] for k, t in sizes.items() if t == "set"
        }
        queues = {k: client.llen(k) for k, t in sizes.items() if t == "list"}
        return {"open_batches": open_batches, "acks": members, "queues": queues}
    except Exception as exc:  # a diagnosis must not hide the result
        return {"error": repr(exc)}


def run_failover(
    sandbox: Any,
    root: Path,
    *,
    durability: str,
    contacts: int = 600,
    batch_size: int = 10,
    workers: int = 3,
    threads: int = 4,
    rate_per_s: float = 8.0,
    finish_timeout_s: float = 180.0,
) -> FailoverResult:
    """One lossy failover under a campaign of `contacts`; `sandbox` is a running, reset sandbox
    (`.url`, `.stats()`)."""
    prefix = f"failover-{uuid.uuid4().hex[:8]}"
    with RedisHA(root / "redis") as ha:
        settings = Settings(
            redis_sentinels=ha.sentinels,
            redis_sentinel_master=MASTER_NAME,
            key_prefix=prefix,
            queue_name=prefix,
            claim_durability=durability,  # type: ignore[arg-type] # checked by Settings
            _env_file=None,  # type: ignore[call-arg]
        )
        store = StateStore.from_settings(settings)
        env = _env(settings, ha, sandbox.url, provider_rate_per_s=rate_per_s)
        group = _Workers(env, root, workers, threads)
        try:
            report = submit(settings, store, phones(contacts), batch_size=batch_size)
            cid = report.campaign_id
            assert cid is not None, report
            # A quarter sent, then the replica stops applying what the primary takes.
            if not _wait(lambda: _creates(sandbox) >= contacts // 4, 120):
                raise RuntimeError(f"no progress before the fault: {group.text()[-3000:]}")
            ha.freeze_replica()
            frozen_at = _creates(sandbox)
            # Let batches be sent (or, with durable claims, be refused) while it lags.
            _wait(
                lambda: (
                    _creates(sandbox) >= frozen_at + contacts // 6
                    or group.text().count(UNCONFIRMED_EVENT) >= 10
                ),
                60,
            )
            before_kill = _creates(sandbox)
            ha.kill_primary()
            killed_at = time.monotonic()
            ha.restart_replica_from_its_data()
            ha.wait_promoted()
            promoted_at = _creates(sandbox)
            ha.add_replica_on_old_primary_port()
            done = _wait(
                lambda: store.status(cid) in (CampaignStatus.FINISHED, CampaignStatus.CANCELLED),
                finish_timeout_s,
            )
            recovery_s = time.monotonic() - killed_at if done else None
            counts: dict[str, int] = {}
            _wait(lambda: counts.update(store.counts(cid)) or True, 30)
            per_phone = sandbox.stats()["creates_per_phone"]
            terminal = sum(counts.get(state, 0) for state in TERMINAL_STATES)
            log_text = group.text()
            diagnostics = {} if done else _diagnose(store, cid)
            return FailoverResult(
                durability=durability,
                contacts=contacts,
                double_created=sum(1 for n in per_phone.values() if n > 1),
                not_terminal=contacts - terminal,
                unknown=counts.get("unknown", 0),
                finished=done,
                workers_alive=group.alive(),
                workers=workers,
                creates_before_kill=before_kill,
                creates_after_promotion=_creates(sandbox) - promoted_at,
                unconfirmed_claims=log_text.count(UNCONFIRMED_EVENT),
                recovery_s=recovery_s,
                counts=counts,
                log_tail=log_text[-4000:],
                diagnostics=diagnostics,
            )
        finally:
            group.kill()
            store.client.close()


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--contacts", type=int, default=600)
    p.add_argument("--modes", default="none,replica", help="durability modes, comma-separated")
    args = parse_args(p, argv)
    contacts = 120 if args.smoke else args.contacts
    runs = 1 if args.smoke else args.runs
    results: dict[str, list[FailoverResult]] = {}
    with SandboxProcess(speedup=600.0, balance=1e12) as sandbox:
        for _ in range(runs):
            for mode in args.modes.split(","):
                sandbox.reset()
                with tempfile.TemporaryDirectory(prefix="failover-") as tmp:
                    result = run_failover(sandbox, Path(tmp), durability=mode, contacts=contacts)
                results.setdefault(mode, []).append(result)
    for mode, runs_of_mode in results.items():
        doubles = [float(r.double_created) for r in runs_of_mode]
        emit(
            f"failover_double_created_{mode}",
            median_of(doubles),
            "phones",
            runs=doubles,
            contacts=contacts,
            not_terminal=[r.not_terminal for r in runs_of_mode],
            unknown=[r.unknown for r in runs_of_mode],
            finished=[r.finished for r in runs_of_mode],
            workers_alive=[f"{r.workers_alive}/{r.workers}" for r in runs_of_mode],
            unconfirmed_claims=[r.unconfirmed_claims for r in runs_of_mode],
            recovery_s=[r.recovery_s for r in runs_of_mode],
            machine=machine(),
        )


if __name__ == "__main__":
    main()
