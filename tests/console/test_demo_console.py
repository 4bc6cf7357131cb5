"""`dispatcher demo --console`: the console is served while the demo campaign runs, its URL and a
token are printed, the stack stays up afterwards, and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue

import httpx
import pytest

pytestmark = pytest.mark.slow

DISPATCHER = str(Path(sys.executable).with_name("dispatcher"))


def read_until(lines: Queue[str], pattern: str, timeout_s: float, seen: list[str]) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except Empty:
            raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(seen)) from None
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found


def test_the_demo_serves_the_console_until_ctrl_c(tmp_path: Path) -> None:
    # Embedded Redis and sandbox: no DISPATCHER_* variable from the test run reaches the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env["PYTHONUNBUFFERED"] = "1"
    demo = subprocess.Popen(
        [DISPATCHER, "demo", "--console", "--console-port", "0", "--output-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: Queue[str] = Queue()
    assert demo.stdout is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in demo.stdout or ()])
    reader.start()
    seen: list[str] = []
    try:
        redis_port = int(read_until(lines, r"redis-server on port (\d+)", 60, seen)[1])
        url, token = read_until(
            lines, r"Console: (http://\S+/ui/)  token: (\S+)", 60, seen
        ).groups()
        base = url.removesuffix("/ui/")
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/me", headers=headers).json() == {
            "name": "demo-console",
            "scopes": ["admin", "operate", "read"],
        }
        assert "<title>effebot dispatcher</title>" in httpx.get(url).text
        read_until(lines, r"stays up for the console .* press Ctrl-C", 120, seen)
        [campaign] = httpx.get(f"{base}/campaigns", headers=headers).json()
        assert campaign["status"] == "finished"
        assert httpx.get(f"{base}/me", headers=headers).status_code == 200  # still up

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, "".join(seen)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        reader.join(10)
        demo.stdout.close()
    while not lines.empty():
        seen.append(lines.get())
    assert "Stopping." in "".join(seen)
    for port in (redis_port, int(base.rsplit(":", 1)[1])):
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))
