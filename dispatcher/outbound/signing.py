"""Signing webhook deliveries the Standard Webhooks way (`webhook-id`, `-timestamp`, `-signature`).

The signature is HMAC-SHA256 over `<id>.<timestamp>.<body>` with the deployment's
`DISPATCHER_CALLBACK_SECRET` (`whsec_` + base64), computed by the `standardwebhooks` library, so
any Standard Webhooks verifier (in any language) checks it. The id stays the same across retries
of one delivery: it is what receivers deduplicate on.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime

from standardwebhooks import Webhook

from dispatcher.errors import ConfigurationError

__all__ = ["Signer"]


class Signer:
    """Signs delivery bodies with one secret."""

    def __init__(self, secret: str) -> None:
        try:
            self._webhook = Webhook(secret)
        except (binascii.Error, ValueError, RuntimeError, Exception) as exc:
            raise ConfigurationError(
                "DISPATCHER_CALLBACK_SECRET must be `whsec_` followed by base64 (Standard Webhooks)"
            ) from exc

    def headers(self, delivery_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
        """The three signature headers for sending `body` as delivery `delivery_id` now."""
        moment = (at or datetime.now(UTC)).astimezone(UTC)
        return {
            "webhook-id": delivery_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": self._webhook.sign(delivery_id, moment, body),
        }
