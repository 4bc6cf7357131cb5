"""The runners and the command: a thread-served sandbox, a process that leaves nothing behind."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.sandbox.config import SandboxConfig
from dispatcher.sandbox.testing import SandboxProcess, SandboxThread
from tests.sandbox.helpers import call_body, post


def test_a_thread_served_sandbox_answers_and_stops() -> None:
    config = SandboxConfig(api_keys=["thread-key"], instant=True)
    with SandboxThread(config) as sandbox, httpx.Client(base_url=sandbox.url) as client:
        response = post(client, "/apiCalls/create", {**call_body(), "apiKey": "thread-key"})
        assert response.status_code == 200
        assert sandbox.stats()["calls_by_status"]
    try:
        httpx.get(f"{sandbox.url}/_sandbox/stats", timeout=1.0)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("the sandbox still answers after stop()")


def test_a_sandbox_process_accepts_its_own_keys_and_exits_on_stop() -> None:
    sandbox = SandboxProcess(api_keys=["proc-key"], seed=7)
    with sandbox, httpx.Client(base_url=sandbox.url) as client:
        assert post(client, "/apiCalls/userInfo", {"apiKey": "proc-key"}).status_code == 200
        assert post(client, "/apiCalls/userInfo").status_code == 401
        process = sandbox._process
        assert process is not None
    assert process.poll() is not None


def test_the_command_documents_every_knob() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in [
        "--host", "--port", "--api-key", "--seed", "--speedup", "--instant", "--balance",
        "--outcomes", "--latency-ms", "--error-rate", "--hang-rate", "--hang-s", "--drop-rate",
        "--rate-limit", "--config",
    ]:  # fmt: skip
        assert option in result.output


def test_the_command_rejects_an_unknown_outcome() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--outcomes", "exploded=1"])
    assert result.exit_code != 0
    assert "unknown outcomes" in result.output
