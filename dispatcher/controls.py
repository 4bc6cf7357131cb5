"""Campaign controls: pause, resume, cancel, reschedule.

Each control changes the campaign's status in Redis at once (so no new dial starts after it
returns) and hands whatever has to happen at the provider to the `control_campaign` actor, which
runs in the workers where the API key, the shared HTTP client and the global pacer live:

* **pause** holds every batch not yet sent (the batch actor sees `paused` and returns; nothing is
  dropped) and *parks* calls already created with a future `plannedAt` by moving them out of the way
  with `apiCalls/update`. We replan rather than remove because replanning is idempotent and keeps
  the api call (and its contacts' mapping) intact: a retried or repeated update cannot lose or
  duplicate anybody, whereas remove-and-requeue would create new calls for the same people and a
  remove whose answer is lost leaves us unsure whether they will still be called.
* **resume** moves parked calls back to their planned time (or now, if it has passed) and
  re-enqueues every batch still `pending`; a batch already sent is never sent again (the claim is
  atomic), so resuming twice, or a resume racing a held message, dials nobody twice.
* **cancel** ends every batch not yet claimed `cancelled`, and removes every not-yet-started call at
  the provider in bulk (`apiCalls/remove` with `idList`); calls already in progress finish and are
  reconciled as usual.
* **reschedule** changes a scheduled campaign's start time and moves calls already planned at the
  provider with `apiCalls/update` (bulk `callList`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dispatcher.batch_messages import pickup_spacing_ms, send_batches
from dispatcher.errors import TransitionRefused
from dispatcher.lifecycle import CampaignStatus, check_transition
from dispatcher.logs import get_logger
from dispatcher.queue import Enqueue
from dispatcher.spec import CampaignSpec, parse_stored_spec
from dispatcher.store import StateStore, now_ms
from dispatcher.store.keys import ACTOR_CONTROL

__all__ = ["Controls"]

log = get_logger(__name__)

_OPEN = [
    CampaignStatus.DRAFT,
    CampaignStatus.SCHEDULED,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
]


class Controls:
    """The lifecycle operations, for the CLI, the HTTP API and Python callers."""

    def __init__(
        self, store: StateStore, enqueue: Enqueue, *, pace_per_s: float | None = None
    ) -> None:
        self.store = store
        self.enqueue = enqueue
        self.pace_per_s = pace_per_s

    def _owe(self, campaign_id: str, operation: str) -> None:
        # Recorded before it is asked for: if the message is lost, or the provider is down for an
        # hour, the reconciler asks again until the provider confirms or refuses it for good.
        self.store.owe(campaign_id, operation, now_ms())
        self.enqueue(ACTOR_CONTROL, (campaign_id, operation), None)

    def _move(
        self,
        campaign_id: str,
        target: CampaignStatus,
        allowed: list[CampaignStatus],
        extra: dict[str, Any] | None = None,
    ) -> CampaignStatus:
        current = self.store.status(campaign_id)
        check_transition(current, target)
        before = self.store.set_status(campaign_id, target, allowed, extra)
        if before not in allowed:  # changed under our feet between the read and the script
            raise TransitionRefused(f"the campaign became {before} meanwhile; nothing was changed")
        return before

    def pause(self, campaign_id: str, reason: str | None = None) -> dict[str, Any]:
        """Stop new dials at once; park calls planned at the provider."""
        why = reason or "paused by an operator"
        before = self._move(
            campaign_id,
            CampaignStatus.PAUSED,
            [CampaignStatus.RUNNING, CampaignStatus.SCHEDULED],
            {"pause_reason": why},
        )
        self.store.add_event(campaign_id, {"kind": "paused", "reason": why})
        self._owe(campaign_id, "park")
        log.info("campaign.paused", campaign_id=campaign_id, reason=why, was=before.value)
        return {"campaign_id": campaign_id, "status": "paused", "was": before.value, "reason": why}

    def resume(self, campaign_id: str) -> dict[str, Any]:
        """Continue where the campaign stopped: pending batches re-enqueued, parked calls back."""
        spec = self._spec(campaign_id)
        later = spec.start_at is not None and spec.start_at.timestamp() * 1000 > now_ms()
        target = CampaignStatus.SCHEDULED if later else CampaignStatus.RUNNING
        self._move(campaign_id, target, [CampaignStatus.PAUSED], {"pause_reason": ""})
        requeued = self._enqueue_pending(campaign_id, spec)
        self.store.add_event(campaign_id, {"kind": "resumed"})
        self._owe(campaign_id, "unpark")
        log.info("campaign.resumed", campaign_id=campaign_id, batches=requeued)
        return {"campaign_id": campaign_id, "status": target.value, "requeued_batches": requeued}

    def cancel(self, campaign_id: str) -> dict[str, Any]:
        """Cancel: unsent contacts end `cancelled`, planned calls are removed at the provider."""
        self._move(campaign_id, CampaignStatus.CANCELLED, _OPEN)
        cancelled = 0
        for batch_no, info in self.store.batches(campaign_id):
            if info["status"] == "pending":
                moved, _ = self.store.finish_batch(
                    campaign_id,
                    batch_no,
                    "cancelled",
                    "campaign cancelled",
                    "cancelled",
                    only_if="pending",
                )
                cancelled += moved
        cancelled += self.store.close_retries(campaign_id, "cancelled", "campaign cancelled")
        self.store.add_event(campaign_id, {"kind": "cancelled"})
        self._owe(campaign_id, "cancel")
        log.info("campaign.cancelled", campaign_id=campaign_id, contacts=cancelled)
        return {"campaign_id": campaign_id, "status": "cancelled", "cancelled_contacts": cancelled}

    def reschedule(self, campaign_id: str, start_at: datetime) -> dict[str, Any]:
        """Move a scheduled campaign's start; calls planned at the provider move with it."""
        if start_at.tzinfo is None:
            raise ValueError("start_at needs a time zone")
        status = self.store.status(campaign_id)
        if status is not CampaignStatus.SCHEDULED:
            raise TransitionRefused(f"only a scheduled campaign can be rescheduled; it is {status}")
        spec = self._spec(campaign_id).model_copy(update={"start_at": start_at})
        self.store.set_meta(campaign_id, {"spec": spec.to_json()})
        # The batch actor reads the start from the spec each time, so messages scheduled for the
        # old time simply wait again; these new ones make an earlier start happen on time.
        requeued = self._enqueue_pending(campaign_id, spec)
        self._owe(campaign_id, "replan")
        self.store.add_event(campaign_id, {"kind": "rescheduled", "start_at": start_at.isoformat()})
        log.info("campaign.rescheduled", campaign_id=campaign_id, start_at=start_at.isoformat())
        return {
            "campaign_id": campaign_id,
            "status": status.value,
            "start_at": start_at.isoformat(),
            "requeued_batches": requeued,
        }

    def _spec(self, campaign_id: str) -> CampaignSpec:
        return parse_stored_spec(self.store.meta(campaign_id)["spec"])

    def _enqueue_pending(self, campaign_id: str, spec: CampaignSpec) -> int:
        delay_ms = None
        if spec.start_at is not None and not spec.plan_ahead:
            delay_ms = max(int(spec.start_at.timestamp() * 1000) - now_ms(), 0) or None
        pending = [
            bn for bn, info in self.store.batches(campaign_id) if info["status"] == "pending"
        ]
        send_batches(
            self.store,
            self.enqueue,
            campaign_id,
            pending,
            delay_ms=delay_ms,
            spacing_ms=pickup_spacing_ms(spec, self.pace_per_s),
        )
        return len(pending)
