"""The pacing limits the actors reserve against, built from settings and the campaign spec."""

from __future__ import annotations

from dispatcher.pacing import Limit
from dispatcher.settings import Settings
from dispatcher.spec import CampaignSpec

__all__ = ["batch_limits", "provider_limit"]


def provider_limit(settings: Settings) -> Limit:
    """Every request to the provider, all processes together.

    The pacer spaces *starts*; the provider counts *arrivals*, which network and scheduling jitter
    move around. Spacing starts (1 + allowance) / rate apart means jitter of up to the allowance
    can never put rate + 1 arrivals into one second.
    """
    rate = settings.provider_rate_per_s / (1.0 + settings.pacing_jitter_allowance_s)
    return Limit("provider", rate)


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
