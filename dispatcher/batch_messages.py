"""Sending batch messages, each with a token the batch records and a time to be picked up by.

Every producer of `send_batch` messages (the submission, resume and reschedule, the batch actor's
own delays, retry batches, the reconciler) goes through `send_batches`. The batch's hash records
the token of the one message meant to send it, so a message the reconciler had to replace (it
looked lost) finds itself superseded and does nothing; the pickup time goes into the campaign's
index of pending batches, which is how the reconciler notices a message that never arrived.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from dispatcher.queue import BrokerEnqueue, Enqueue
from dispatcher.spec import CampaignSpec
from dispatcher.store import StateStore, now_ms
from dispatcher.store.keys import ACTOR_SEND_BATCH

__all__ = ["new_token", "pickup_spacing_ms", "send_batches"]


def new_token() -> str:
    """A message token: random, short (it travels in every batch message)."""
    return secrets.token_hex(4)


def pickup_spacing_ms(spec: CampaignSpec, pace_per_s: float | None) -> float:
    """Pure: how far apart a campaign's batches can be reached at best (ms), given the
    provider's request budget and the campaign's own dials per minute."""
    spacing = 1000.0 / pace_per_s if pace_per_s else 0.0
    if spec.dials_per_minute:
        spacing = max(spacing, spec.batch_size * 60_000.0 / spec.dials_per_minute)
    return spacing


def send_batches(
    store: StateStore,
    enqueue: Enqueue,
    campaign_id: str,
    batch_nos: Sequence[int],
    *,
    delay_ms: int | None = None,
    spacing_ms: float = 0.0,
    attempt: int = 0,
) -> None:
    """Enqueue one `send_batch` message per batch (after `delay_ms`), recording its token first.

    `spacing_ms`: how far apart the batches are expected to be picked up (the campaign's pace), so
    a long backlog is not mistaken for lost messages.
    """
    if not batch_nos:
        return
    start = now_ms() + max(delay_ms or 0, 0)
    items = [
        (batch_no, new_token(), start + int(i * spacing_ms)) for i, batch_no in enumerate(batch_nos)
    ]
    # Token first: a message must never run before the token it carries is recorded.
    store.arm_batches(campaign_id, items)
    args = [(campaign_id, batch_no, attempt, token) for batch_no, token, _ in items]
    if isinstance(enqueue, BrokerEnqueue):
        enqueue.many(ACTOR_SEND_BATCH, args, delay_ms)
    else:
        for one in args:
            enqueue(ACTOR_SEND_BATCH, one, delay_ms)
