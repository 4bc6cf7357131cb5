"""The provider's rate budget belongs to the account: every key prefix using it shares one limit."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest
import redis

from dispatcher.pacing import GlobalPacer, Limit
from dispatcher.settings import Settings
from workers.limits import provider_account, provider_limit

RATE_PER_S = 2.0


def account_settings(api_key: str, base_url: str = "https://in.effebot.example") -> Settings:
    return Settings(
        effebot_api_key=api_key,
        effebot_base_url=base_url,
        provider_rate_per_s=RATE_PER_S,
        pacing_jitter_allowance_s=0.0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def api_key(redis_client: redis.Redis) -> Iterator[str]:
    """A made-up account key for this test; its shared pacing key is deleted afterwards."""
    key = f"account-key-{uuid.uuid4().hex}"
    yield key
    for base in ("https://in.effebot.example", "https://other.example"):
        limit = provider_limit(account_settings(key, base))
        redis_client.delete(GlobalPacer(redis_client, "any").key(limit.key))


def test_two_deployments_on_one_account_share_its_budget(
    redis_client: redis.Redis, api_key: str
) -> None:
    settings = account_settings(api_key)
    limit = provider_limit(settings)
    first = GlobalPacer(redis_client, f"deploy-a-{uuid.uuid4().hex[:8]}")
    second = GlobalPacer(redis_client, f"deploy-b-{uuid.uuid4().hex[:8]}")
    assert first.key(limit.key) == second.key(limit.key)
    starts = [
        pacer.reserve([limit], max_wait_s=60.0).start_at_us for pacer in (first, second, first)
    ]
    # Together they get the account's rate, not twice it: starts 1/rate apart, whoever asks.
    for earlier, later in itertools.pairwise(starts):
        assert later - earlier >= limit.increment_us


def test_another_account_or_provider_has_its_own_budget(
    redis_client: redis.Redis, api_key: str
) -> None:
    pacer = GlobalPacer(redis_client, f"deploy-{uuid.uuid4().hex[:8]}")
    ours = provider_limit(account_settings(api_key))
    elsewhere = provider_limit(account_settings(api_key, "https://other.example"))
    assert ours.key != elsewhere.key
    pacer.reserve([ours], max_wait_s=60.0)
    assert pacer.reserve([elsewhere], max_wait_s=0.0).granted  # no wait: a separate budget


def test_the_account_key_is_a_digest_that_never_holds_the_api_key(api_key: str) -> None:
    digest = provider_account(account_settings(api_key))
    assert api_key not in digest
    assert len(digest) == 32
    assert int(digest, 16) >= 0
    # The same account however the base URL is written.
    same = account_settings(api_key, "HTTPS://IN.EFFEBOT.EXAMPLE/")
    assert provider_account(same) == digest
    assert provider_account(account_settings(api_key + "x")) != digest


def test_a_campaign_s_own_pace_stays_under_the_deployment_s_prefix(
    redis_client: redis.Redis,
) -> None:
    pacer = GlobalPacer(redis_client, "deploy-a")
    assert pacer.key(Limit("dials:c1", 1.0).key) == "deploy-a:pace:dials:c1"
