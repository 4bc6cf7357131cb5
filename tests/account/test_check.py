"""The account preflight against the sandbox over HTTP: refused before anything is written."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from dispatcher.account import AccountCheck, AccountMismatch
from dispatcher.cli import cli
from dispatcher.contacts import read_iterable
from dispatcher.errors import ConfigurationError
from dispatcher.producer import submit_campaign
from dispatcher.queue import make_enqueue
from dispatcher.redis_server import free_port
from dispatcher.settings import SANDBOX_API_KEY, Settings
from dispatcher.spec import parse_spec
from dispatcher.store import StateStore

CALL: dict[str, Any] = {"outgoingPhone": "99999999997", "record": {"text": "Hi", "gender": 0}}
PHONES = ["+12025550143", "+12025550144"]

#: (a change to a fitting call, the field the refusal names, words of the allowed values)
MISMATCHES = [
    ({"outgoingPhone": "15550001111"}, "call.outgoingPhone", "99999999997, 99999999999"),
    ({"lang": "fr-FR"}, "call.lang", "en-US, ru-RU, es-ES, de-DE"),
    ({"record": {"id": 77, "gender": 0}}, "call.record.id", "known: 1, 1342"),
]


def with_provider(settings: Settings, url: str, **changes: Any) -> Settings:
    values = {
        **settings.model_dump(),
        "effebot_base_url": url,
        "effebot_api_key": SANDBOX_API_KEY,
        "account_record_ids": [1, 1342],
        **changes,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def provider_settings(settings: Settings, sandbox: Any) -> Settings:
    return with_provider(settings, sandbox.url)


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> StateStore:
    return StateStore(redis_client, settings.key_prefix)


def only_account_keys(client: redis.Redis, prefix: str) -> bool:
    """Nothing but the account cache (and its lock) and the pacing budget is under `prefix`."""
    keys = {key.decode() for key in client.scan_iter(match=f"{prefix}*")}
    allowed = {"account-facts", "lock:account-facts", "pace:provider"}
    return keys <= {f"{prefix}:{name}" for name in allowed}


def requests_to(sandbox: Any, path: str) -> int:
    return sum(sandbox.stats()["requests"].get(path, {}).values())


@pytest.mark.parametrize(("change", "field", "allowed"), MISMATCHES)
def test_a_submit_the_account_cannot_serve_is_refused_before_anything_is_written(
    provider_settings: Settings,
    store: StateStore,
    redis_client: redis.Redis,
    change: dict[str, Any],
    field: str,
    allowed: str,
) -> None:
    check = AccountCheck(provider_settings, store)
    spec = parse_spec({"name": "preflight", "call": {**CALL, **change}})
    enqueue = make_enqueue(provider_settings, redis_client)
    with pytest.raises(AccountMismatch) as caught:
        submit_campaign(store, enqueue, spec, read_iterable(PHONES, "US"), preflight=check.check)
    assert [p.field for p in caught.value.problems] == [field]
    assert allowed in str(caught.value)
    assert store.list_campaigns() == []
    assert only_account_keys(redis_client, provider_settings.key_prefix)


def test_a_campaign_that_fits_is_submitted(
    provider_settings: Settings, store: StateStore, redis_client: redis.Redis
) -> None:
    check = AccountCheck(provider_settings, store)
    spec = parse_spec({"name": "fits", "call": {**CALL, "lang": "de-DE"}})
    report = submit_campaign(
        store,
        make_enqueue(provider_settings, redis_client),
        spec,
        read_iterable(PHONES, "US"),
        preflight=check.check,
    )
    assert report.campaign_id is not None
    assert report.accepted == 2


def test_records_uploaded_through_the_dispatcher_are_known(
    settings: Settings, sandbox: Any, store: StateStore
) -> None:
    no_listed = with_provider(settings, sandbox.url, account_record_ids=[])
    spec = parse_spec({"name": "r", "call": {**CALL, "record": {"id": 10001, "gender": 0}}})
    with pytest.raises(AccountMismatch, match="known: none"):
        AccountCheck(no_listed, store).check(spec)
    store.set_global("records", {"10001": json.dumps({"name": "greeting"})})
    assert AccountCheck(no_listed, store).check(spec).startswith("checked")


def test_a_burst_of_submissions_costs_one_round_of_requests(
    provider_settings: Settings, store: StateStore, redis_client: redis.Redis, sandbox: Any
) -> None:
    spec = parse_spec({"name": "burst", "call": {**CALL, "lang": "en-US"}})
    results: list[str] = []
    errors: list[BaseException] = []

    def one_process() -> None:
        # A check of its own, as each API or CLI process would have.
        try:
            own = StateStore(
                redis.Redis.from_url(provider_settings.redis_url or ""), store.keys.prefix
            )
            results.append(AccountCheck(provider_settings, own).check(spec))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_process) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(results) == 8
    assert all(result.startswith("checked") for result in results)
    assert requests_to(sandbox, "/apiCalls/getPhones") == 1
    assert requests_to(sandbox, "/apiCalls/getAvailableLanguages") == 1
    # Later submissions within the cache's lifetime ask nothing more.
    AccountCheck(provider_settings, store).check(spec)
    assert requests_to(sandbox, "/apiCalls/getPhones") == 1


def test_a_post_only_languages_endpoint_still_serves_the_check(
    provider_settings: Settings, store: StateStore, sandbox: Any
) -> None:
    sandbox.configure(languages_methods=["POST"])
    spec = parse_spec({"name": "lang", "call": {**CALL, "lang": "it-IT"}})
    with pytest.raises(AccountMismatch, match="allowed: en-US, ru-RU, es-ES, de-DE"):
        AccountCheck(provider_settings, store).check(spec)
    assert sandbox.stats()["requests"]["/apiCalls/getAvailableLanguages"] == {"405": 1, "200": 1}


def test_an_unreachable_provider_lets_the_campaign_in_unchecked(
    settings: Settings, store: StateStore, redis_client: redis.Redis
) -> None:
    nowhere = with_provider(settings, f"http://127.0.0.1:{free_port()}", connect_timeout_s=0.5)
    check = AccountCheck(nowhere, store)
    spec = parse_spec({"name": "offline", "call": {**CALL, "lang": "fr-FR"}})
    assert check.check(spec).startswith("not checked: the provider could not be asked")
    report = submit_campaign(
        store,
        make_enqueue(nowhere, redis_client),
        spec,
        read_iterable(PHONES, "US"),
        preflight=check.check,
    )
    assert report.accepted == 2


def test_a_key_the_provider_refuses_is_a_configuration_error(
    settings: Settings, sandbox: Any, store: StateStore
) -> None:
    wrong = with_provider(settings, sandbox.url, effebot_api_key="not-the-key")
    with pytest.raises(ConfigurationError, match="DISPATCHER_EFFEBOT_API_KEY") as caught:
        AccountCheck(wrong, store).check(parse_spec({"name": "k", "call": CALL}))
    assert "not-the-key" not in str(caught.value)


# --- the command line: submit and submit --dry-run ---------------------------------------------


def invoke_cli(settings: Settings, url: str, *args: str) -> Result:
    env = {
        "DISPATCHER_REDIS_URL": settings.redis_url,
        "DISPATCHER_KEY_PREFIX": settings.key_prefix,
        "DISPATCHER_QUEUE_NAME": settings.queue_name,
        "DISPATCHER_EFFEBOT_BASE_URL": url,
        "DISPATCHER_EFFEBOT_API_KEY": SANDBOX_API_KEY,
        "DISPATCHER_ACCOUNT_RECORD_IDS": "[1, 1342]",
        "DISPATCHER_LOG_LEVEL": "WARNING",
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(("change", "field", "allowed"), MISMATCHES)
def test_the_cli_refuses_a_campaign_the_account_cannot_serve(
    settings: Settings,
    sandbox: Any,
    redis_client: redis.Redis,
    tmp_path: Path,
    dry_run: bool,
    change: dict[str, Any],
    field: str,
    allowed: str,
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "cli", "call": {**CALL, **change}}))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n+12025550143\n")
    args = ["submit", str(spec), str(contacts), *(["--dry-run"] if dry_run else [])]
    result = invoke_cli(settings, sandbox.url, *args)
    assert result.exit_code == 1, result.output
    assert field in result.output
    assert allowed in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert only_account_keys(redis_client, settings.key_prefix)


def test_a_cli_dry_run_says_the_account_was_checked(
    settings: Settings, sandbox: Any, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"name": "cli", "call": CALL}))
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone\n+12025550143\n")
    result = invoke_cli(
        settings, sandbox.url, "submit", str(spec), str(contacts), "--dry-run", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["account_check"].startswith("checked against the account")
