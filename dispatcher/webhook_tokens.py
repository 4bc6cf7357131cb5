"""The secret path token of the webhook URL we hand the provider, one per campaign.

The provider cannot authenticate itself to us (the reference gives it no signature), so the URL is
the secret: `/webhooks/effebot/<campaign id>.<HMAC-SHA256(secret, campaign id)>`. Deriving it from
one deployment secret means nothing per campaign has to be stored, a leaked URL exposes one
campaign only, and rotating the secret invalidates every URL at once. Verification is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["campaign_of_token", "webhook_token"]

_SEP = "."


def _mac(secret: str, campaign_id: str) -> str:
    digest = hmac.new(secret.encode(), campaign_id.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def webhook_token(secret: str, campaign_id: str) -> str:
    """The path token for one campaign's webhooks."""
    if not secret:
        raise ValueError("a webhook secret is required")
    return f"{campaign_id}{_SEP}{_mac(secret, campaign_id)}"


def campaign_of_token(secret: str, token: str) -> str | None:
    """The campaign a token was made for, or None when it was not made with this secret."""
    campaign_id, sep, mac = token.rpartition(_SEP)
    if not sep or not campaign_id or not secret:
        return None
    if hmac.compare_digest(mac.encode(), _mac(secret, campaign_id).encode()):
        return campaign_id
    return None
