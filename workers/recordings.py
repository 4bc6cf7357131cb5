"""A campaign's shared recording: its text synthesised once, its id used by every batch.

Generating the same audio in every create request costs `recordCost` each time; with
`shared_recording` the first batch creates it with `apiCalls/createRecord` (source text) under a
per-campaign lock, every batch sends `record.id`, and the recording is removed with
`apiCalls/removeRecord` once the campaign has ended, if the campaign created it.
"""

from __future__ import annotations

from dispatcher.effebot.errors import EffebotError, RejectedError
from dispatcher.logs import get_logger
from dispatcher.spec import CampaignSpec
from workers.context import WorkerContext
from workers.limits import provider_limit

__all__ = ["USE_TEXT", "remove_shared_record", "shared_record_id"]

log = get_logger(__name__)

LOCK = "recording"
LOCK_TTL_MS = 60_000


#: What `shared_record_id` answers when the provider refused the recording: send the text.
USE_TEXT = 0


def shared_record_id(ctx: WorkerContext, campaign_id: str, spec: CampaignSpec) -> int | None:
    """The campaign's recording id, creating it if nobody has.

    None: another worker is creating it, or creating it failed transiently; try again shortly.
    `USE_TEXT`: the provider refused it; batches carry the text as they would without sharing.
    """
    meta = ctx.store.meta(campaign_id)
    if meta.get("shared_record_id"):
        return int(meta["shared_record_id"])
    if meta.get("shared_record_refused") == "1":
        return USE_TEXT
    if not ctx.store.try_lock(campaign_id, LOCK, LOCK_TTL_MS):
        return None  # another worker is creating it
    text = spec.call.record.text if spec.call is not None else None
    if text is None:  # the spec validator refuses shared_recording without a text
        return USE_TEXT
    try:
        ctx.pacer.acquire([provider_limit(ctx.settings)], max_wait_s=60.0, sleep=ctx.sleep)
        record = ctx.client.create_text_record(f"campaign {campaign_id}", text)
    except RejectedError as exc:
        # Nothing was created; without a recording every batch carries the text instead.
        log.error("recording.rejected", error=str(exc))
        ctx.store.set_meta(campaign_id, {"shared_record_refused": 1})
        ctx.store.add_event(campaign_id, {"kind": "recording_refused", "error": str(exc)})
        return USE_TEXT
    except EffebotError as exc:
        log.warning("recording.failed", error=str(exc))
        ctx.store.unlock(campaign_id, LOCK)
        return None
    if record.id is None:  # the client refuses answers without an id; be safe all the same
        ctx.store.unlock(campaign_id, LOCK)
        return None
    ctx.store.set_meta(campaign_id, {"shared_record_id": record.id, "shared_record_ours": 1})
    ctx.store.add_event(campaign_id, {"kind": "recording_created", "record_id": record.id})
    log.info("recording.created", record_id=record.id, cost=record.cost)
    return int(record.id)


def remove_shared_record(ctx: WorkerContext, campaign_id: str) -> None:
    """Remove the campaign's recording once it has ended, if the campaign created it."""
    meta = ctx.store.meta(campaign_id)
    if meta.get("shared_record_ours") != "1" or meta.get("shared_record_removed") == "1":
        return
    record_id = int(meta["shared_record_id"])
    try:
        ctx.pacer.acquire([provider_limit(ctx.settings)], max_wait_s=60.0, sleep=ctx.sleep)
        ctx.client.remove_records([record_id])
    except RejectedError as exc:
        log.warning("recording.remove_rejected", record_id=record_id, error=str(exc))
    except EffebotError as exc:
        log.warning("recording.remove_failed", record_id=record_id, error=str(exc))
        return  # tried again on the next sweep
    ctx.store.set_meta(campaign_id, {"shared_record_removed": 1})
    log.info("recording.removed", record_id=record_id)
