"""`dispatcher submit` with bad contacts files (CSV, JSON Lines), bad specs, bad flags or settings.

Each case: a non-zero exit (1, or click's 2 for usage errors), a message naming the problem, no
traceback, and not one key written to Redis (nothing half-enqueued).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.settings import Settings
from tests.abuse.corpus import GOOD_CSV, SPEC, keys_under, spec_with


@dataclass(frozen=True)
class SubmitCase:
    """One bad submission: files, flags and environment, and what the user must be told."""

    message: str
    spec: str | dict[str, Any] | list[Any] = ""
    contacts: str | bytes = GOOD_CSV
    contacts_name: str = "contacts.csv"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str | None], ...] = ()
    exit_code: int = 1
    spec_name: str = "spec.json"


SUBMIT_CASES: dict[str, SubmitCase] = {
    # contacts: the source as a whole
    "csv-empty-file": SubmitCase("empty", contacts=""),
    "csv-without-a-phone-column": SubmitCase("phone", contacts="name,email\nAnn,a@example.com\n"),
    "csv-binary-garbage": SubmitCase("utf-8", contacts=b"\xff\xfe\x00\x01\x89PNG\r\n\x1a\n\x00"),
    "contacts-file-missing": SubmitCase("missing.csv", contacts_name="-missing.csv", exit_code=2),
    "contacts-unknown-extension": SubmitCase("format", contacts_name="contacts.xlsx"),
    "contacts-is-a-directory": SubmitCase("directory", contacts_name="dir/", exit_code=2),
    # contacts: every row bad (refused), or one bad row with --strict
    "csv-every-phone-invalid": SubmitCase(
        "no contact to dial", contacts="phone\nabc\n123\n+1 555\n"
    ),
    "csv-bad-row-with-strict": SubmitCase(
        "--strict", contacts=GOOD_CSV + "not a phone,Eve\n", args=("--strict",)
    ),
    "csv-oversized-values": SubmitCase(
        "no contact to dial", contacts="phone,note\n" + "x" * 5000 + ",y\n"
    ),
    "csv-only-duplicates-of-nothing": SubmitCase("no contact to dial", contacts="phone\n\n\n"),
    "jsonl-not-json": SubmitCase(
        "no contact to dial", contacts='{"phone": "12025550143"\nnope\n', contacts_name="c.jsonl"
    ),
    "jsonl-not-objects": SubmitCase(
        "no contact to dial", contacts='["12025550143"]\n42\n', contacts_name="c.jsonl"
    ),
    "jsonl-without-phone": SubmitCase(
        "no contact to dial", contacts='{"name": "Ann"}\n', contacts_name="c.jsonl"
    ),
    "jsonl-phone-of-the-wrong-type": SubmitCase(
        "no contact to dial", contacts='{"phone": true}\n{"phone": [1]}\n', contacts_name="c.jsonl"
    ),
    "jsonl-bad-line-with-strict": SubmitCase(
        "--strict",
        contacts='{"phone": "+12025550143"}\n{"phone": "x"}\n',
        contacts_name="c.jsonl",
        args=("--strict",),
    ),
    # the spec file
    "spec-not-json": SubmitCase("spec", spec="{not json"),
    "spec-not-toml": SubmitCase("spec", spec="name = [unclosed", spec_name="spec.toml"),
    "spec-a-list": SubmitCase("spec", spec=[SPEC]),
    "spec-missing-file": SubmitCase("nope.json", spec_name="-nope.json", exit_code=2),
    "spec-unknown-field": SubmitCase("colour", spec={**SPEC, "colour": "red"}),
    "spec-without-call-or-template": SubmitCase("call", spec={"name": "x"}),
    "spec-sms-text-too-long": SubmitCase(
        "call.ivrs.0.smsText", spec=spec_with(ivrs=[{"digit": 1, "smsText": "x" * 71}])
    ),
    "spec-record-text-too-long": SubmitCase(
        "call.record", spec=spec_with(record={"text": "x" * 1025})
    ),
    "spec-ivr-digit-out-of-range": SubmitCase(
        "call.ivrs.0.digit", spec=spec_with(ivrs=[{"digit": 10}])
    ),
    "spec-both-caller-fields": SubmitCase(
        "give one, not both", spec=spec_with(outgoingPhone="15550000000")
    ),
    "spec-record-id-and-text": SubmitCase(
        "call.record", spec=spec_with(record={"id": 1, "text": "hi"})
    ),
    "spec-lang-too-long": SubmitCase("call.lang", spec=spec_with(lang="english")),
    "spec-batch-size-zero": SubmitCase("batch_size", spec={**SPEC, "batch_size": 0}),
    "spec-start-at-without-zone": SubmitCase(
        "start_at", spec={**SPEC, "start_at": "2030-01-01T09:00:00"}
    ),
    # flags
    "flag-batch-size-not-a-number": SubmitCase(
        "--batch-size", args=("--batch-size", "many"), exit_code=2
    ),
    "flag-batch-size-too-big": SubmitCase("batch_size", args=("--batch-size", "5000")),
    "flag-format-unknown": SubmitCase("--format", args=("--format", "xml"), exit_code=2),
    "flag-start-at-not-a-date": SubmitCase("start_at", args=("--start-at", "tomorrow-ish")),
    "flag-negative-pace": SubmitCase("dials_per_minute", args=("--dials-per-minute", "-5")),
    "flag-unknown-option": SubmitCase("--frobnicate", args=("--frobnicate",), exit_code=2),
    # settings
    "setting-not-a-number": SubmitCase(
        "DISPATCHER_PROVIDER_RATE_PER_S:", env=(("DISPATCHER_PROVIDER_RATE_PER_S", "fast"),)
    ),
    "setting-redis-url-not-redis": SubmitCase(
        "DISPATCHER_REDIS_URL:", env=(("DISPATCHER_REDIS_URL", "http://localhost:6379"),)
    ),
    "setting-redis-url-unset": SubmitCase(
        "DISPATCHER_REDIS_URL", env=(("DISPATCHER_REDIS_URL", None),)
    ),
    "setting-redis-unreachable": SubmitCase(
        "redis", env=(("DISPATCHER_REDIS_URL", "redis://127.0.0.1:1/0"),)
    ),
}


def _materialise(tmp_path: Path, case: SubmitCase) -> tuple[str, str]:
    spec_path = tmp_path / case.spec_name.lstrip("-")
    if not case.spec_name.startswith("-"):
        content = case.spec if case.spec != "" else SPEC
        spec_path.write_text(content if isinstance(content, str) else json.dumps(content))
    contacts_path = tmp_path / case.contacts_name.lstrip("-").rstrip("/")
    if case.contacts_name.endswith("/"):
        contacts_path.mkdir()
    elif not case.contacts_name.startswith("-"):
        data = case.contacts
        contacts_path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(spec_path), str(contacts_path)


@pytest.mark.parametrize("name", sorted(SUBMIT_CASES))
def test_a_bad_submission_exits_non_zero_names_the_problem_and_lands_nothing(
    name: str, tmp_path: Path, settings: Settings, redis_client: redis.Redis
) -> None:
    case = SUBMIT_CASES[name]
    spec_path, contacts_path = _materialise(tmp_path, case)
    env: dict[str, str | None] = {
        "DISPATCHER_REDIS_URL": settings.redis_url,
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_QUEUE_NAME": settings.queue_name,
        "DISPATCHER_LOG_LEVEL": "WARNING",
        **dict(case.env),
    }
    result = CliRunner().invoke(cli, ["submit", spec_path, contacts_path, *case.args], env=env)
    output = result.output
    assert result.exit_code == case.exit_code, output
    # click turns its own exits into SystemExit; anything else escaped the CLI's error handling.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in output
    assert case.message.lower() in output.lower(), output
    assert keys_under(redis_client, settings.key_prefix) == []
