"""The webhook poster process lives and dies with its sandbox, and a lost poster is replaced.

Each test runs a sandbox of its own (a real `python -m dispatcher sandbox` process, or the
in-process `SandboxThread`) and finds its poster among the processes of this host by parent id.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import httpx

from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.testing import SandboxProcess, SandboxThread
from tests.sandbox.helpers import WebhookReceiver, call_body, post, wait_for

POSTER = b"dispatcher.sandbox.poster"


def posters_of(parent: int) -> list[int]:
    """The ids of the poster processes whose parent is `parent` (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == parent and state != "Z" and POSTER in cmdline:
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_a_sandbox_process_runs_one_poster_and_takes_it_along_when_it_stops() -> None:
    with SandboxProcess(instant=True) as sandbox:
        assert sandbox.pid is not None
        [poster] = wait_for(lambda: posters_of(sandbox.pid or 0))
    assert not alive(poster)


def test_a_killed_sandbox_leaves_no_poster_behind() -> None:
    sandbox = SandboxProcess(instant=True).start()
    try:
        assert sandbox.pid is not None
        [poster] = wait_for(lambda: posters_of(sandbox.pid or 0))
        os.kill(sandbox.pid, signal.SIGKILL)  # no shutdown at all: the poster reads the end
        wait_for(lambda: not alive(poster), timeout_s=30)
    finally:
        sandbox.stop()


def test_the_in_process_sandbox_stops_its_poster_too() -> None:
    with SandboxThread(SandboxConfig(instant=True)) as sandbox:
        [poster] = wait_for(lambda: posters_of(os.getpid()))
        with WebhookReceiver() as receiver, httpx.Client(base_url=sandbox.url) as client:
            post(client, "/apiCalls/create", call_body(webhookUrl=receiver.url()))
            wait_for(receiver.bodies)
    assert not alive(poster)
    assert posters_of(os.getpid()) == []


def test_a_poster_that_dies_is_replaced_and_what_it_held_is_tried_again() -> None:
    release = threading.Event()
    config = {"instant": True, "webhook_retry_interval_s": 0.2}
    with SandboxProcess(**config) as sandbox, WebhookReceiver(hold_first=release) as receiver:
        assert sandbox.pid is not None
        [first] = wait_for(lambda: posters_of(sandbox.pid or 0))
        with httpx.Client(base_url=sandbox.url) as client:
            post(client, "/apiCalls/create", call_body(webhookUrl=receiver.url()))
        wait_for(receiver.bodies)  # the poster holds the delivery: no answer yet
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: sandbox.stats()["webhooks"]["failed"] == 1)
        release.set()
        stats = wait_for(lambda: (s := sandbox.stats())["webhooks"]["succeeded"] and s)
        assert stats["webhooks"] == {"sent": 2, "succeeded": 1, "failed": 1, "abandoned": 0}
        [second] = posters_of(sandbox.pid)
        assert second != first
        assert [body["webhookTry"] for body in receiver.bodies()] == [1, 2]


def test_a_delivery_bigger_than_the_pipe_s_buffer_arrives_whole(
    client: httpx.Client, sandbox: SandboxProcess
) -> None:
    sandbox.configure(instant=True)
    phones = [f"1555{i:07d}" for i in range(1000)]
    with WebhookReceiver() as receiver:
        post(
            client,
            "/apiCalls/create",
            call_body(phone=None, phones=phones, webhookUrl=receiver.url()),
        )
        [body] = wait_for(receiver.bodies)
    assert len(json.dumps(body)) > 64 * 1024  # more than a pipe holds at once
    assert sorted(call["phone"] for call in body["calls"]) == phones
