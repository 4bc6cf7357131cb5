"""The command line: clear one-line errors, non-zero exits, nothing enqueued on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dispatcher.cli import cli
from dispatcher.settings import Settings
from dispatcher.store import StateStore

SPEC = {
    "name": "cli",
    "call": {"dutyPhone": 1, "record": {"text": "Hello"}},
    "batch_size": 2,
}


@pytest.fixture
def run(settings: Settings) -> Any:
    env = {
        "DISPATCHER_REDIS_URL": settings.redis_url,
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_QUEUE_NAME": settings.queue_name,
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def store(settings: Settings, redis_client: Any) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


def write(tmp_path: Path, name: str, content: str | dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def queued(store: StateStore, settings: Settings) -> int:
    return int(store.client.llen(f"{settings.key_prefix}-dramatiq:{settings.queue_name}"))


def test_submit_status_export_round_trip(
    run: Any, tmp_path: Path, store: StateStore, settings: Settings
) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    contacts = write(
        tmp_path, "c.csv", "phone,name\n+1 202 555 0143,Ann\n202-555-0144,Bob\nbad,C\n"
    )
    result = run("submit", spec, contacts, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["accepted"], report["rejected"], report["batches"]) == (2, 1, 1)
    assert report["rejected_rows"][0]["row"] == 4
    assert queued(store, settings) == 1

    status = json.loads(run("status", report["campaign_id"], "--json").output)
    assert status["counts"] == {"pending": 2}
    assert status["status"] == "running"

    out = tmp_path / "out.jsonl"
    assert run("export", report["campaign_id"], "--format", "jsonl", "-o", str(out)).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["phone"] for r in rows) == ["12025550143", "12025550144"]
    assert {r["data"]["name"] for r in rows} == {"Ann", "Bob"}

    listing = run("list").output
    assert report["campaign_id"] in listing


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({**SPEC, "colour": "red"}, "colour: Extra inputs are not permitted"),
        (
            {**SPEC, "call": {"dutyPhone": 1, "record": {"text": "x" * 1025}}},
            "call.record.text: String should have at most 1024 characters",
        ),
        (
            {**SPEC, "call": {**SPEC["call"], "ivrs": [{"digit": 10}]}},
            "call.ivrs.0.digit",
        ),
        (
            {**SPEC, "call": {**SPEC["call"], "ivrs": [{"digit": 1, "smsText": "s" * 71}]}},
            "call.ivrs.0.smsText",
        ),
        ({"name": "no call"}, "give exactly one of `call` or `template`"),
        ({**SPEC, "batch_size": 0}, "batch_size"),
    ],
)
def test_a_bad_spec_gets_one_clear_line_and_enqueues_nothing(
    run: Any,
    tmp_path: Path,
    store: StateStore,
    settings: Settings,
    spec: dict[str, Any],
    message: str,
) -> None:
    contacts = write(tmp_path, "c.csv", "phone\n+1 202 555 0143\n")
    result = run("submit", write(tmp_path, "spec.json", spec), contacts)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert queued(store, settings) == 0
    assert store.list_campaigns() == []


def test_unreadable_inputs_are_refused_cleanly(run: Any, tmp_path: Path) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    cases = [
        (write(tmp_path, "broken.json", "{not json"), write(tmp_path, "c.csv", "phone\n1\n")),
        (write(tmp_path, "spec.yaml", "name: x"), write(tmp_path, "c2.csv", "phone\n1\n")),
        (spec, write(tmp_path, "nophone.csv", "name,email\nA,a@b\n")),
        (spec, write(tmp_path, "c.txt", "phone\n1\n")),
        (spec, str(tmp_path / "missing.csv")),
    ]
    for spec_path, contacts_path in cases:
        result = run("submit", spec_path, contacts_path)
        assert result.exit_code != 0, (spec_path, contacts_path, result.output)
        assert "Traceback" not in result.output
        assert result.output.strip().startswith(("Error:", "Usage:")), result.output


def test_strict_submit_with_bad_rows_exits_non_zero_and_enqueues_nothing(
    run: Any, tmp_path: Path, store: StateStore, settings: Settings
) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    contacts = write(tmp_path, "c.csv", "phone\n+1 202 555 0143\n12\n")
    result = run("submit", spec, contacts, "--strict")
    assert result.exit_code == 1
    assert "row 3" in result.output
    assert queued(store, settings) == 0


def test_dnc_add_list_remove_and_submit_blocks(run: Any, tmp_path: Path, store: StateStore) -> None:
    assert run("dnc", "add", "+1 202 555 0143").output.strip() == "1 added"
    assert run("dnc", "list").output.split() == ["12025550143"]
    spec = write(tmp_path, "spec.json", SPEC)
    contacts = write(tmp_path, "c.csv", "phone\n202 555 0143\n202 555 0144\n")
    report = json.loads(run("submit", spec, contacts, "--json").output)
    assert (report["accepted"], report["blocked"]) == (1, 1)
    assert run("dnc", "remove", "2025550143").output.strip() == "1 removed"
    assert run("dnc", "list").output.split() == []
    bad = run("dnc", "add", "not-a-number")
    assert bad.exit_code == 1
    assert "not-a-number" in bad.output


def test_status_of_an_unknown_campaign_is_a_clear_error(run: Any) -> None:
    result = run("status", "nope")
    assert result.exit_code == 1
    assert "no campaign 'nope'" in result.output


def test_every_command_has_help(run: Any) -> None:
    for args in (
        [], ["submit"], ["status"], ["export"], ["list"], ["dnc"], ["dnc", "import"], ["demo"],
        ["sandbox"],
    ):  # fmt: skip
        result = run(*args, "--help")
        assert result.exit_code == 0, args
        assert "Usage:" in result.output


def test_dry_run_reports_batches_and_estimates_and_changes_nothing(
    run: Any, tmp_path: Path, store: StateStore, settings: Settings
) -> None:
    store.dnc_add(["12025550145"])
    spec = write(tmp_path, "spec.json", {**SPEC, "dials_per_minute": 60})
    rows = "phone\n+1 202 555 0143\n202-555-0144\n2025550143\n+1 202 555 0145\nbad\n"
    result = run("submit", spec, write(tmp_path, "c.csv", rows), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is True
    assert (report["would_dial"], report["duplicates"], report["blocked"], report["rejected"]) == (
        2,
        1,
        1,
        1,
    )
    assert report["batches"] == 1
    assert report["generated_audio_requests"] == 1
    assert report["estimated_duration_s"] == 2.0  # 2 dials at 60 per minute
    assert report["estimated_cost"] > 0
    assert store.list_campaigns() == []
    assert queued(store, settings) == 0


def test_dnc_import_reads_a_contact_file_and_reports_rejections(
    run: Any, tmp_path: Path, store: StateStore
) -> None:
    contacts = write(tmp_path, "dnc.csv", "phone,name\n+1 202 555 0143,A\nnope,B\n202-555-0144,C\n")
    result = run("dnc", "import", contacts)
    assert result.exit_code == 0, result.output
    assert "2 added, 1 rejected" in result.output
    assert sorted(store.dnc_iter()) == ["12025550143", "12025550144"]


def test_records_upload_list_and_remove_against_the_sandbox(
    settings: Settings, tmp_path: Path, sandbox: Any
) -> None:
    env = {
        "DISPATCHER_REDIS_URL": settings.redis_url,
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_EFFEBOT_BASE_URL": sandbox.url,
        "DISPATCHER_EFFEBOT_API_KEY": "sandbox-key",
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    audio = tmp_path / "hello.wav"
    audio.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt fake audio for the sandbox")
    uploaded = invoke("records", "upload", str(audio), "--name", "Greeting")
    assert uploaded.exit_code == 0, uploaded.output
    record_id = uploaded.output.split()[1]
    assert record_id.isdigit()
    listed = invoke("records", "list").output
    assert record_id in listed
    assert "Greeting" in listed
    removed = invoke("records", "remove", record_id)
    assert removed.exit_code == 0, removed.output
    assert "1 removed" in removed.output
    assert record_id not in invoke("records", "list").output
    assert sandbox.stats()["requests"]["/apiCalls/createRecord"]["200"] == 1
