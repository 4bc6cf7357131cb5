"""What every benchmark shares: results as JSON lines, medians, the stack, worker processes.

Each benchmark starts what it measures itself (an embedded `redis-server`, the sandbox as a
subprocess, real `dramatiq workers.app` processes), so its Redis counters and sandbox stats hold
nothing but its own traffic, and stops all of it before it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from dispatcher.contacts import read_iterable
from dispatcher.lifecycle import CampaignStatus
from dispatcher.logs import configure_logging
from dispatcher.producer import SubmitReport, submit_campaign
from dispatcher.queue import make_enqueue
from dispatcher.redis_server import EmbeddedRedis, free_port
from dispatcher.sandbox.testing import SandboxProcess
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore

__all__ = [
    "SPEC",
    "ApiProcess",
    "Stack",
    "WorkerGroup",
    "emit",
    "finished",
    "machine",
    "median_of",
    "parse_args",
    "parser",
    "phones",
    "submit",
    "wait_until",
    "worker_env",
]

DRAMATIQ = str(Path(sys.executable).with_name("dramatiq"))

#: The call spec every benchmark dials with (a spoken text and two IVR actions).
SPEC: dict[str, Any] = {
    "name": "bench",
    "call": {
        "dutyPhone": 1,
        "record": {"text": "Hello from the benchmarks", "gender": 0},
        "ivrs": [{"digit": 1, "needBlock": 0}, {"digit": 2, "needBlock": 0}],
    },
    "batch_size": 50,
}


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs")
    return p


def parse_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse the options and keep the dispatcher's own logs to warnings (stdout is for results)."""
    args = p.parse_args(argv)
    configure_logging(level="WARNING", fmt="json")
    # SIGTERM ends the benchmark through its `finally` blocks, so its worker processes (in their
    # own sessions) are stopped too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return args


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def emit(name: str, value: float | None, unit: str, **extra: Any) -> dict[str, Any]:
    """Print one result as a JSON line (and return it)."""
    result = {"name": name, "value": _round(value), "unit": unit}
    result.update({k: _round(v) for k, v in extra.items()})
    print(json.dumps(result), flush=True)
    return result


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def median_of(values: Sequence[float]) -> float:
    """The median (of one value: that value)."""
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    """Where the figures come from: cores, memory, load."""
    with contextlib.suppress(OSError):
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        return {
            "cpus": os.cpu_count(),
            "mem_gb": round(mem_kb / 1024 / 1024, 1),
            "load_1m": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0],
        }
    return {"cpus": os.cpu_count()}


def phones(n: int, offset: int = 0) -> Iterator[str]:
    """`n` distinct valid US numbers in the provider's format (11 digits)."""
    for i in range(offset, offset + n):
        yield f"1{201 + i // 8_000_000:03d}{200 + (i // 10_000) % 800:03d}{i % 10_000:04d}"


def wait_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll `predicate` until true or `timeout_s` passes; its last truth value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


def wait_while_progressing(
    done: Callable[[], Any],
    progress: Callable[[], Any],
    stall_s: float,
    timeout_s: float | None = None,
    interval_s: float = 0.5,
) -> bool:
    """Poll `done` until true; False once `progress()` has not changed for `stall_s` seconds (or
    `timeout_s` passed, if given). A `progress` that raises counts as no change."""

    def sample() -> Any:
        try:
            return progress()
        except Exception:  # Redis restarting under a chaos run: nothing moved that we can see
            return None

    started = changed_at = time.monotonic()
    last = sample()
    while True:
        if done():
            return True
        now = time.monotonic()
        current = sample()
        if current is not None and current != last:
            last, changed_at = current, now
        elif now - changed_at > stall_s:
            return False
        if timeout_s is not None and now - started > timeout_s:
            return False
        time.sleep(interval_s)


def submit(
    settings: Settings,
    store: StateStore,
    contacts: Iterable[str],
    **spec: Any,
) -> SubmitReport:
    """Submit a campaign of these phones through the real producer and the broker enqueue the CLI
    and the HTTP API use (batch messages pipelined)."""
    return submit_campaign(
        store,
        make_enqueue(settings, store.client),
        parse_spec({**SPEC, **spec}),
        read_iterable(contacts, "US"),
    )


def finished(store: StateStore, campaign_id: str) -> bool:
    """True once the campaign is finished (or cancelled)."""
    return store.status(campaign_id) in (CampaignStatus.FINISHED, CampaignStatus.CANCELLED)


def worker_env(settings: Settings, sandbox_url: str, **extra: Any) -> dict[str, str]:
    """The environment a `dramatiq workers.app` process reads its settings from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    values: dict[str, Any] = {
        "REDIS_URL": settings.redis_url,
        "KEY_PREFIX": settings.key_prefix,
        "QUEUE_NAME": settings.queue_name,
        "EFFEBOT_BASE_URL": sandbox_url,
        "EFFEBOT_API_KEY": SANDBOX_API_KEY,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        # A benchmark's Redis is its own and thrown away (most run it without persistence).
        "ALLOW_UNSAFE_REDIS": "true",
        **{k.upper(): v for k, v in extra.items()},
    }
    env.update({f"DISPATCHER_{k}": str(v) for k, v in values.items() if v is not None})
    return env


@dataclass
class WorkerGroup:
    """Real `dramatiq workers.app` processes (one worker child each), each in its own session."""

    env: dict[str, str]
    log_dir: Path
    threads: int = 8
    shutdown_timeout_ms: int = 3000
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_paths: dict[int, Path] = field(default_factory=dict)

    def start(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        started = []
        for _ in range(count):
            path = self.log_dir / f"worker-{len(self.processes)}.log"
            args = [
                DRAMATIQ, "workers.app", "--processes", "1", "--threads", str(self.threads),
                "--worker-shutdown-timeout", str(self.shutdown_timeout_ms),
            ]  # fmt: skip
            with path.open("ab") as log:
                process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
                    args, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.processes.append(process)
            self.log_paths[process.pid] = path
            started.append(process)
        return started

    def booted(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether the process's worker has booted (its `worker.booted` line is in its log)."""
        with self.log_paths[process.pid].open("rb") as log:
            return b"worker.booted" in log.read(1 << 20)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process group: no shutdown, no acks (an OOM kill or a lost host)."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    @staticmethod
    def terminate(process: subprocess.Popen[bytes]) -> None:
        """SIGTERM the dramatiq master (a deploy or a scale-down): it passes the signal on to its
        worker, which finishes what it started (signalling the whole group would signal the
        worker twice, and a second SIGTERM stops it at once)."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)

    def stop_all(self) -> None:
        for process in self.processes:
            self.terminate(process)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(process)

    def logs(self, tail_chars: int = 4000) -> str:
        text = "\n".join(
            p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log"))
        )
        return text[-tail_chars:]


class ApiProcess:
    """`python -m dispatcher serve` (the HTTP API with the webhook receiver) on a free port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.log_path = env, log_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ApiProcess:
        args = [sys.executable, "-m", "dispatcher", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
                args, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        if not wait_until(self._ready, 30, 0.1):
            self.__exit__()
            raise RuntimeError(f"the API did not start: {self.log_path.read_text()[-2000:]}")
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Stack:
    """An embedded Redis and a sandbox subprocess; a context manager that stops both."""

    def __init__(
        self, *, appendonly: bool = False, appendfsync: str = "always", **sandbox: Any
    ) -> None:
        self.redis = EmbeddedRedis(appendonly=appendonly, appendfsync=appendfsync)
        # The default account's 1,000 would run out within a 100,000-contact campaign (402s).
        sandbox.setdefault("balance", 1e12)
        self.sandbox = SandboxProcess(**sandbox)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Stack:
        self._stack.enter_context(self.redis)
        self._stack.enter_context(self.sandbox)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url)

    def settings(self, prefix: str, **extra: Any) -> Settings:
        return Settings(
            redis_url=self.redis.url,
            key_prefix=prefix,
            queue_name=prefix,
            effebot_base_url=self.sandbox.url,
            effebot_api_key=SANDBOX_API_KEY,
            **{"allow_unsafe_redis": True, **extra},
        )
