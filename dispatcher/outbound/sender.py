"""POSTing one signed delivery to a caller's URL: the only place callback HTTP errors are caught."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from dispatcher.outbound.signing import Signer

__all__ = ["CallbackSender", "SendResult", "make_callback_client"]

#: Most of a receiver's answer kept for the logs.
SHOWN_CHARS = 200


@dataclass(frozen=True, slots=True)
class SendResult:
    """Whether the receiver took the delivery (a 2xx), and what it said otherwise."""

    ok: bool
    detail: str


def make_callback_client(timeout_s: float) -> httpx.Client:
    """A small client of its own: deliveries never share the provider's connection pool."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        follow_redirects=False,
        headers={"User-Agent": "effebot-dispatcher-callbacks"},
    )


class CallbackSender:
    """Sends deliveries with one httpx client and one signing secret."""

    def __init__(self, client: httpx.Client, signer: Signer) -> None:
        self.client = client
        self.signer = signer

    def send(self, url: str, delivery_id: str, body: str) -> SendResult:
        headers = {"Content-Type": "application/json", **self.signer.headers(delivery_id, body)}
        try:
            response = self.client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(False, f"{type(exc).__name__}: {exc}"[:SHOWN_CHARS])
        if 200 <= response.status_code < 300:
            return SendResult(True, str(response.status_code))
        return SendResult(False, f"HTTP {response.status_code}: {response.text[:SHOWN_CHARS]}")
