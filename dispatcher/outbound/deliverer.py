"""The webhook deliverer: event stream → per-campaign outbox → signed POSTs, at least once.

`ingest` reads the event stream through the `dispatcher-callbacks` consumer group, turns what
belongs to campaigns with a `callback_url` into deliveries and appends them to those campaigns'
outboxes, acknowledging the entries in the same transaction. One process ingests at a time (a
short lock), which keeps each campaign's deliveries in stream order; entries that a process read
and died before queueing are taken over first by the next one.

`deliver_due` sends the head of each due campaign's outbox; a refused or failed try keeps it at
the head, retried with backoff, so a campaign's deliveries arrive in order and a receiver that is
down for hours loses nothing (a delivery is dropped, and logged, only after
`DISPATCHER_CALLBACK_MAX_AGE_S`). Nothing here runs in the worker threads that dial, and it has
its own HTTP client: a slow receiver never slows a campaign.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from typing import Any

from dispatcher.logs import get_logger
from dispatcher.outbound.deliveries import Delivery, backoff_s, build_deliveries, request_body
from dispatcher.outbound.sender import CallbackSender
from dispatcher.settings import Settings
from dispatcher.store import StateStore, now_ms
from dispatcher.store.keys import CALLBACKS_GROUP

__all__ = ["Deliverer"]

log = get_logger(__name__)

#: The ingest lock's lifetime (one ingest takes milliseconds; this covers a stalled holder).
INGEST_LOCK_MS = 15_000
#: A draft's deliveries (contacts blocked while it was read) wait for it to go live.
DRAFT_WAIT_MS = 2000
#: Deliveries sent to one campaign in a row before the others get their turn.
PER_TURN = 20


class Deliverer:
    """One process's share of the webhook deliveries."""

    def __init__(self, store: StateStore, settings: Settings, sender: CallbackSender) -> None:
        self.store = store
        self.settings = settings
        self.sender = sender
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._group_ready = False

    def ingest(self, block_ms: int) -> int:
        """Move new stream entries into outboxes; how many entries were read (waits up to
        `block_ms` for some, or as long when another process is ingesting)."""
        if not self._group_ready:
            self.store.ensure_group(CALLBACKS_GROUP)
            self._group_ready = True
        if not self.store.try_global_lock("callbacks-ingest", INGEST_LOCK_MS):
            time.sleep(block_ms / 1000)
            return 0
        try:
            return self._ingest(block_ms)
        finally:
            self.store.release_global_lock("callbacks-ingest")

    def _ingest(self, block_ms: int) -> int:
        # Under the lock nobody else is between reading and queueing: anything pending was left
        # by a process that died meanwhile, and goes first (it is older than any new entry).
        entries = self.store.claim_stale(CALLBACKS_GROUP, self.consumer, 0, 200)
        if not entries:
            entries = self.store.read_group(CALLBACKS_GROUP, self.consumer, 200, block_ms)
        if not entries:
            return 0
        targets: dict[str, bool] = {}

        def wanted(campaign_id: str) -> bool:
            if campaign_id not in targets:
                found = self.store.callback_target(campaign_id)
                targets[campaign_id] = found is not None and bool(found[0])
            return targets[campaign_id]

        deliveries = build_deliveries(
            entries, wanted, self.store.counts, self.settings.callback_max_contacts
        )
        queued = {cid: [d.to_json() for d in items] for cid, items in deliveries.items()}
        self.store.queue_deliveries(queued, CALLBACKS_GROUP, [e.entry_id for e in entries])
        return len(entries)

    def deliver_due(self, most: int = 20) -> int:
        """Send what is due for up to `most` campaigns; how many deliveries were taken."""
        lease_ms = int((self.settings.callback_timeout_s + 5) * 1000) * PER_TURN
        taken = 0
        for campaign_id in self.store.claim_due_callbacks(lease_ms, most):
            taken += self._deliver_campaign(campaign_id)
        return taken

    def _deliver_campaign(self, campaign_id: str) -> int:
        taken = 0
        for _ in range(PER_TURN):
            head = self.store.next_delivery(campaign_id)
            if head is None:
                self.store.callbacks_idle(campaign_id)  # leaves the due set unless one just came
                return taken
            target = self.store.callback_target(campaign_id)
            if target is None or not target[0]:
                log.warning("callback.campaign_gone", campaign_id=campaign_id)
                self.store.drop_deliveries(campaign_id)
                return taken
            url, metadata, status = target
            if status == "draft":
                self.store.postpone_callbacks(campaign_id, now_ms() + DRAFT_WAIT_MS)
                return taken
            if not self._send(campaign_id, url, metadata, head):
                return taken
            taken += 1
        self.store.postpone_callbacks(campaign_id, now_ms())  # more to send: due again at once
        return taken

    def _send(self, campaign_id: str, url: str, metadata: str, head: str) -> bool:
        """Try the campaign's head delivery; True if the receiver took it."""
        delivery = Delivery.from_json(head)
        meta: dict[str, Any] | None = json.loads(metadata) if metadata else None
        result = self.sender.send(url, delivery.id, request_body(delivery, meta))
        if result.ok:
            self.store.delivery_done(campaign_id, head)
            log.info(
                "callback.delivered",
                campaign_id=campaign_id,
                delivery_id=delivery.id,
                type=delivery.type,
                results=len(delivery.results),
                tries=delivery.tries + 1,
            )
            return True
        now = now_ms()
        delivery.tries += 1
        delivery.first_try_ms = delivery.first_try_ms or now
        if now - delivery.first_try_ms > self.settings.callback_max_age_s * 1000:
            log.error(
                "callback.dropped",
                campaign_id=campaign_id,
                delivery_id=delivery.id,
                tries=delivery.tries,
                detail=result.detail,
            )
            self.store.delivery_done(campaign_id, head)
            self.store.add_event(campaign_id, {"kind": "callback_dropped", "id": delivery.id})
            return False
        wait_s = backoff_s(delivery.tries, self.settings.callback_backoff_max_s)
        log.warning(
            "callback.failed",
            campaign_id=campaign_id,
            delivery_id=delivery.id,
            tries=delivery.tries,
            retry_in_s=round(wait_s, 1),
            detail=result.detail,
        )
        self.store.delivery_retry(campaign_id, head, delivery.to_json(), now + int(wait_s * 1000))
        return False
