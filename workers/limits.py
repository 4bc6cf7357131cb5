"""The pacing limits the actors reserve against, built from settings and the campaign spec.

The provider's rate limit belongs to the provider *account*, not to a deployment: two deployments
(or two key prefixes) using the same account share one budget. So the provider limit is keyed by
the account, a digest of the base URL and the API key, and kept outside every key prefix (see
`dispatcher.pacing.ACCOUNT_PREFIX`): every process on that Redis server that uses the account,
whatever its prefix, reserves against the same key. The digest is a slow, salted one (PBKDF2), so
the key name cannot be turned back into the API key, and it is computed once per process.
"""

from __future__ import annotations

import functools
import hashlib
import urllib.parse

from dispatcher.pacing import ACCOUNT_PREFIX, Limit
from dispatcher.settings import Settings
from dispatcher.spec import CampaignSpec

__all__ = ["batch_limits", "provider_account", "provider_limit"]

#: PBKDF2 rounds of the account digest: ~50 ms once per process, costly for anyone guessing keys.
_ACCOUNT_DIGEST_ROUNDS = 100_000


def _normal_base_url(base_url: str) -> str:
    """The base URL as the provider sees it: scheme and host lower-cased, no trailing slash."""
    parts = urllib.parse.urlsplit(base_url.strip())
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", "")
    )


@functools.lru_cache(maxsize=16)
def _account_digest(base_url: str, api_key: str) -> str:
    salt = b"effebot-dispatcher provider account\0" + base_url.encode()
    digest = hashlib.pbkdf2_hmac("sha256", api_key.encode(), salt, _ACCOUNT_DIGEST_ROUNDS)
    return digest.hex()[:32]


def provider_account(settings: Settings) -> str:
    """Pure: a digest naming the provider account (base URL and API key), never the key itself."""
    key = settings.effebot_api_key.get_secret_value() if settings.effebot_api_key else ""
    return _account_digest(_normal_base_url(settings.effebot_base_url), key)


def provider_limit(settings: Settings) -> Limit:
    """Every request to the provider account, all processes and deployments together.

    The pacer spaces *starts*; the provider counts *arrivals*, which network and scheduling jitter
    move around. Spacing starts (1 + allowance) / rate apart means jitter of up to the allowance
    can never put rate + 1 arrivals into one second.
    """
    rate = settings.provider_rate_per_s / (1.0 + settings.pacing_jitter_allowance_s)
    return Limit(f"{ACCOUNT_PREFIX}{provider_account(settings)}", rate)


def batch_limits(
    settings: Settings, campaign_id: str, spec: CampaignSpec, phones: int
) -> list[Limit]:
    """A create request: the provider's limit, plus the campaign's dials/minute when it has one."""
    limits = [provider_limit(settings)]
    if spec.dials_per_minute is not None:
        # The batch starts when the pace has room and pays for its phones afterwards: the
        # campaign's next batch waits phones / rate.
        limits.append(
            Limit(f"dials:{campaign_id}", spec.dials_per_minute / 60.0, cost=float(max(phones, 1)))
        )
    return limits
