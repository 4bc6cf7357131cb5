"""Running a sandbox for tests, the demo and benchmarks: as a subprocess or in a thread.

`SandboxProcess` is what the test suite and benchmarks use: a real `python -m dispatcher sandbox`
process, so the code under test talks to it over real HTTP exactly as it would to the provider.
`SandboxThread` serves the same app from a thread of the current process, for the in-process demo.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from dispatcher.redis_server import free_port
from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.errors import SandboxError
from dispatcher.sandbox.server import build_server

__all__ = ["SandboxProcess", "SandboxThread"]

HOST = "127.0.0.1"


class _Inspector:
    """The `/_sandbox` routes, shared by both runners."""

    url: str
    _http: httpx.Client | None = None

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._http is None:
            # One client for all control calls: building one per call costs ~0.1 s (TLS context).
            self._http = httpx.Client(base_url=self.url, timeout=10.0)
        response = self._http.request(method, path, json=body)
        if response.status_code != 200:
            raise SandboxError(f"sandbox {path} answered {response.status_code}: {response.text}")
        return response.json()

    def stats(self) -> dict[str, Any]:
        """`GET /_sandbox/stats`."""
        result: dict[str, Any] = self._control("GET", "/_sandbox/stats")
        return result

    def reset(self) -> None:
        """Clear calls, created records, stats and faults (the config stays)."""
        self._control("POST", "/_sandbox/reset")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change runtime knobs (faults, outcomes, speedup, rate limit, balance); the new config."""
        result: dict[str, Any] = self._control("POST", "/_sandbox/config", changes)
        return result

    def _close_control(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def wait_until_ready(self, timeout_s: float, alive: Callable[[], bool] | None = None) -> None:
        """Poll the stats route until it answers."""
        deadline = time.monotonic() + timeout_s
        while True:
            if alive is not None and not alive():
                raise SandboxError("the sandbox exited during start-up")
            try:
                self.stats()
                return
            except (httpx.HTTPError, SandboxError):
                if time.monotonic() > deadline:
                    raise SandboxError(f"the sandbox did not answer at {self.url}") from None
                time.sleep(0.05)


class SandboxProcess(_Inspector):
    """A `python -m dispatcher sandbox` subprocess on a free port; a context manager."""

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        base = config or SandboxConfig()
        self.config = SandboxConfig.model_validate({**base.model_dump(), **overrides})
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout_s: float = 20.0) -> SandboxProcess:
        """Start the process and wait until it answers."""
        self._dir = tempfile.TemporaryDirectory(prefix="dispatcher-sandbox-")
        config_path = Path(self._dir.name) / "config.json"
        config_path.write_text(self.config.model_dump_json(), encoding="utf-8")
        os.chmod(config_path, 0o600)  # it holds the API keys
        log_path = Path(self._dir.name) / "sandbox.log"
        args = [
            sys.executable, "-m", "dispatcher", "sandbox",
            "--host", HOST, "--port", str(self.port),
            "--config", str(config_path),
            "--log-level", "WARNING", "--log-format", "json",
        ]  # fmt: skip
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(  # noqa: S603 - our own fixed argument list
                args, stdout=log_file, stderr=subprocess.STDOUT
            )
        self._process = process
        try:
            self.wait_until_ready(timeout_s, alive=lambda: process.poll() is None)
        except SandboxError as exc:
            output = log_path.read_text(encoding="utf-8", errors="replace")
            self.stop()
            raise SandboxError(f"{exc}; its output:\n{output}") from None
        return self

    @property
    def pid(self) -> int | None:
        """The process id while it runs (for benchmarks that measure its CPU time)."""
        return self._process.pid if self._process is not None else None

    def runtime_defaults(self) -> dict[str, Any]:
        """The runtime knobs as the process was started (what a test fixture restores)."""
        return self.config.runtime_values()

    def stop(self) -> None:
        """Terminate the process (kill it if it does not stop) and remove its files."""
        self._close_control()
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SandboxThread(_Inspector):
    """The sandbox served by uvicorn in a background thread of this process; a context manager."""

    def __init__(self, config: SandboxConfig | None = None, *, port: int | None = None) -> None:
        self.config = config or SandboxConfig()
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._server = build_server(self.config, host=HOST, port=self.port)
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 10.0) -> SandboxThread:
        """Start serving and wait until it answers."""
        # uvicorn leaves signals alone outside the main thread: stop() is how this one ends.
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)
        self._thread.start()
        self.wait_until_ready(timeout_s, alive=self._thread.is_alive)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._close_control()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
