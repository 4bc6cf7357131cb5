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
    base = {
        "DISPATCHER_REDIS_URL": str(settings.redis_url),
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_QUEUE_NAME": settings.queue_name,
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        merged = {**base, **(env or {})}
        return CliRunner().invoke(cli, list(args), env=merged, catch_exceptions=False)

    return invoke


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


def test_submit_with_an_idempotency_key_can_be_run_again_safely(
    run: Any, tmp_path: Path, store: StateStore, settings: Settings
) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    contacts = write(tmp_path, "c.csv", "phone\n+1 202 555 0143\n+1 202 555 0144\n")
    first = run("submit", spec, contacts, "--idempotency-key", "nightly-2026-11-28", "--json")
    assert first.exit_code == 0, first.output
    messages = queued(store, settings)
    again = run("submit", spec, contacts, "--idempotency-key", "nightly-2026-11-28")
    assert again.exit_code == 0, again.output
    assert json.loads(first.output)["campaign_id"] in again.output
    assert "first submission with this idempotency key" in again.output
    assert queued(store, settings) == messages
    other = write(tmp_path, "d.csv", "phone\n+1 202 555 0145\n")
    conflict = run("submit", spec, other, "--idempotency-key", "nightly-2026-11-28")
    assert conflict.exit_code == 1
    assert "other contacts" in conflict.output
    assert "Traceback" not in conflict.output


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


# --- rough edges a new user met (issue 14, part 4) -----------------------------------------------


def submitted(
    run: Any, tmp_path: Path, rows: str = "phone\n+1 202 555 0143\n+1 202 555 0144\n"
) -> str:
    spec = write(tmp_path, "spec.json", SPEC)
    result = run("submit", spec, write(tmp_path, "c.csv", rows), "--json")
    assert result.exit_code == 0, result.output
    campaign_id: str = json.loads(result.stdout)["campaign_id"]
    return campaign_id


def test_a_redis_url_that_is_not_redis_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {"DISPATCHER_REDIS_URL": "http://x", "DISPATCHER_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(cli, ["list"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: DISPATCHER_REDIS_URL: ")
    assert len(result.output.strip().splitlines()) == 1


def test_settings_errors_name_the_environment_variable(run: Any) -> None:
    env = {"DISPATCHER_PROVIDER_RATE_PER_S": "fast", "DISPATCHER_MAX_CONNECTIONS": "0"}
    result = CliRunner().invoke(cli, ["list"], env=env, catch_exceptions=False)
    assert result.exit_code == 1
    assert "DISPATCHER_PROVIDER_RATE_PER_S: " in result.output
    assert "DISPATCHER_MAX_CONNECTIONS: " in result.output
    assert "provider_rate_per_s" not in result.output


def api_list_limit_bounds() -> tuple[int, int]:
    from dispatcher.api.openapi import document

    (limit,) = [
        p for p in document()["paths"]["/campaigns"]["get"]["parameters"] if p["name"] == "limit"
    ]
    return limit["schema"]["minimum"], limit["schema"]["maximum"]


def test_list_limit_is_validated_like_the_api(run: Any, tmp_path: Path) -> None:
    low, high = api_list_limit_bounds()
    for bad in (low - 1, -1, high + 1):
        result = run("list", "--limit", str(bad))
        assert result.exit_code == 2, (bad, result.output)
        assert "--limit" in result.output
    first = submitted(run, tmp_path)
    second = submitted(run, tmp_path)
    assert run("list", "--limit", str(low)).stdout.split()[0] == second
    assert {line.split()[0] for line in run("list", "--limit", str(high)).stdout.splitlines()} == {
        first,
        second,
    }


def test_export_of_an_unknown_campaign_writes_nothing(run: Any, tmp_path: Path) -> None:
    result = run("export", "nosuch")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no campaign 'nosuch'" in result.stderr
    out = tmp_path / "out.csv"
    assert run("export", "nosuch", "-o", str(out)).exit_code == 1
    assert not out.exists()


def test_a_dry_run_that_the_real_submit_would_refuse_exits_non_zero(
    run: Any, tmp_path: Path
) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    nothing = write(tmp_path, "bad.csv", "phone\nbad\nworse\n")
    result = run("submit", spec, nothing, "--dry-run")
    assert result.exit_code == 1, result.output
    assert "would be refused: no contact to dial" in result.output
    report = json.loads(run("submit", spec, nothing, "--dry-run", "--json").stdout)
    assert report["would_be_refused_because"].startswith("no contact to dial")
    one_bad = write(tmp_path, "one.csv", "phone\n+1 202 555 0143\nbad\n")
    assert run("submit", spec, one_bad, "--dry-run").exit_code == 0
    strict = run("submit", spec, one_bad, "--dry-run", "--strict", "--json")
    assert strict.exit_code == 1
    assert "--strict" in json.loads(strict.stdout)["would_be_refused_because"]


def test_the_dry_run_report_reads_as_text_not_python(run: Any, tmp_path: Path) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    rows = "phone\n+1 202 555 0143\nbad\nworse\n"
    result = run("submit", spec, write(tmp_path, "c.csv", rows), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "{" not in result.stdout
    assert "'" not in result.stdout.replace("('bad')", "").replace("('worse')", "")
    assert "rejected       2  phone: not a number" in result.stdout
    assert "row 3: phone: not a number ('bad')" in result.stdout


def test_the_report_goes_to_stdout_and_the_logs_to_stderr(run: Any, tmp_path: Path) -> None:
    spec = write(tmp_path, "spec.json", SPEC)
    contacts = write(tmp_path, "c.csv", "phone\n+1 202 555 0143\n")
    result = run("submit", spec, contacts, "--json", env={"DISPATCHER_LOG_LEVEL": "INFO"})
    assert json.loads(result.stdout)["accepted"] == 1
    assert '"event": "campaign.submitted"' in result.stderr


def test_on_a_terminal_the_cli_shows_warnings_not_the_event_log(
    settings: Settings, tmp_path: Path
) -> None:
    import os
    import pty
    import subprocess
    import sys

    spec = write(tmp_path, "spec.json", SPEC)
    contacts = write(tmp_path, "c.csv", "phone\n+1 202 555 0143\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCHER_")}
    env.update(
        DISPATCHER_REDIS_URL=str(settings.redis_url),
        DISPATCHER_KEY_PREFIX=settings.key_prefix,
        DISPATCHER_QUEUE_NAME=settings.queue_name,
        DISPATCHER_ALLOW_UNSAFE_REDIS=str(settings.allow_unsafe_redis).lower(),
    )
    terminal, tty = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "dispatcher", "submit", spec, contacts],
            env=env,
            stdout=subprocess.PIPE,  # piped, as in `dispatcher submit ... | tee report.txt`
            stderr=tty,
            timeout=60,
            check=False,
        )
        os.close(tty)
        seen = b""
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0
    assert done.stdout.decode().startswith("campaign ")
    assert b"campaign.submitted" not in seen


def test_berlin_and_new_york_numbers_are_batched_under_their_own_zones(
    run: Any, tmp_path: Path
) -> None:
    window = {"hours": ["09:00-18:00"], "default_timezone": "UTC"}
    spec = write(tmp_path, "spec.json", {**SPEC, "window": window})
    rows = "phone\n+49 30 901820\n+1 212 555 0143\n+1 202 555 0144\n"
    result = run("submit", spec, write(tmp_path, "c.csv", rows), "--dry-run", "--json")
    assert json.loads(result.stdout)["batches_by_zone"] == {
        "America/New_York": 1,
        "Europe/Berlin": 1,
    }


def test_a_cancelled_campaign_shows_no_pause_reason_and_no_rate_of_cancellations(
    run: Any, tmp_path: Path
) -> None:
    campaign_id = submitted(run, tmp_path)
    assert run("pause", campaign_id, "--reason", "checking the list").exit_code == 0
    assert "paused because: checking the list" in run("status", campaign_id).stdout
    assert run("cancel", campaign_id).exit_code == 0
    status = json.loads(run("status", campaign_id, "--json").stdout)
    assert status["status"] == "cancelled"
    assert status["counts"] == {"cancelled": 2}
    assert status["pause_reason"] is None
    assert status["rate_per_s"] is None
    assert "paused because" not in run("status", campaign_id).stdout


def test_status_watch_stops_on_its_own_and_speaks_json(run: Any, tmp_path: Path) -> None:
    campaign_id = submitted(run, tmp_path)  # no workers: it stays running
    watched = run("status", campaign_id, "--watch", "--json", "--timeout", "0.5")
    assert watched.exit_code == 1
    lines = [json.loads(line) for line in watched.stdout.splitlines()]
    assert lines
    assert {line["status"] for line in lines} == {"running"}
    assert "still running after 0.5s" in watched.stderr
    assert run("cancel", campaign_id).exit_code == 0
    ended = run("status", campaign_id, "--watch", "--json")
    assert ended.exit_code == 0
    assert [json.loads(line)["status"] for line in ended.stdout.splitlines()] == ["cancelled"]


def test_a_missing_spec_file_is_a_usage_error_without_an_errno(run: Any, tmp_path: Path) -> None:
    contacts = write(tmp_path, "c.csv", "phone\n+1 202 555 0143\n")
    result = run("submit", str(tmp_path / "nosuch.json"), contacts)
    assert result.exit_code == 2
    assert "Errno" not in result.output
    assert "nosuch.json" in result.output
    missing_contacts = run("submit", write(tmp_path, "spec.json", SPEC), str(tmp_path / "no.csv"))
    assert missing_contacts.exit_code == 2


def test_every_command_that_prints_data_speaks_json(
    run: Any, tmp_path: Path, store: StateStore
) -> None:
    campaign_id = submitted(run, tmp_path)
    listed = [json.loads(line) for line in run("list", "--json").stdout.splitlines()]
    assert [item["campaign_id"] for item in listed] == [campaign_id]
    exported = [
        json.loads(line) for line in run("export", campaign_id, "--json").stdout.splitlines()
    ]
    assert sorted(row["phone"] for row in exported) == ["12025550143", "12025550144"]
    assert json.loads(run("pause", campaign_id, "--json").stdout)["status"] == "paused"
    assert json.loads(run("dnc", "add", "+1 202 555 0145", "--json").stdout) == {"added": 1}
    assert [json.loads(x) for x in run("dnc", "list", "--json").stdout.splitlines()] == [
        {"phone": "12025550145"}
    ]
    imported = run("dnc", "import", write(tmp_path, "d.csv", "phone\n2025550146\nnope\n"), "--json")
    assert json.loads(imported.stdout) == {
        "added": 1,
        "rejected": 1,
        "rejected_rows": [{"row": 3, "reason": "phone: not a number", "value": "nope"}],
    }
    assert json.loads(run("dnc", "remove", "2025550145", "--json").stdout) == {"removed": 1}


def test_records_speak_json_too(settings: Settings, tmp_path: Path, sandbox: Any) -> None:
    env = {
        "DISPATCHER_REDIS_URL": str(settings.redis_url),
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_EFFEBOT_BASE_URL": sandbox.url,
        "DISPATCHER_EFFEBOT_API_KEY": "sandbox-key",
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }

    def invoke(*args: str) -> Any:
        result = CliRunner().invoke(cli, [*args, "--json"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return (
            [json.loads(line) for line in result.stdout.splitlines()]
            if "list" in args
            else (json.loads(result.stdout))
        )

    audio = tmp_path / "hello.wav"
    audio.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt fake audio for the sandbox")
    uploaded = invoke("records", "upload", str(audio), "--name", "Greeting")
    assert isinstance(uploaded["id"], int)
    assert uploaded["name"] == "Greeting"
    listed = invoke("records", "list")
    assert [(r["id"], r["name"]) for r in listed] == [(uploaded["id"], "Greeting")]
    assert invoke("records", "remove", str(uploaded["id"])) == {
        "removed": 1,
        "ids": [uploaded["id"]],
    }
