"""Turning event stream entries into webhook deliveries, and deliveries into request bodies (pure).

A delivery is what one POST carries: a batch of contacts' final outcomes of one campaign
(`campaign.results`, up to `max_contacts`), a status change (`campaign.status`), or the campaign's
end (`campaign.finished`, with its counts). Its `id` is derived from the stream entry it began
with, so it stays the same however often it is retried; receivers deduplicate on it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dispatcher.store import StreamEntry

__all__ = ["Delivery", "backoff_s", "build_deliveries", "request_body"]


@dataclass
class Delivery:
    """One POST to a campaign's callback URL, as it waits in the outbox."""

    id: str
    type: str
    campaign_id: str
    created_ms: int
    data: dict[str, Any]
    tries: int = 0
    first_try_ms: int | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Delivery:
        return cls(**json.loads(raw))


def _created_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def build_deliveries(
    entries: Sequence[StreamEntry],
    wanted: Callable[[str], bool],
    counts_of: Callable[[str], dict[str, int]],
    max_contacts: int,
) -> dict[str, list[Delivery]]:
    """Per campaign that `wanted`, the deliveries the entries make, in stream order.

    Consecutive outcome entries of a campaign are merged into deliveries of at most
    `max_contacts` results; a status entry closes the batch before it, so a receiver gets a
    campaign's results before the `campaign.finished` that follows them.
    """
    out: dict[str, list[Delivery]] = {}
    open_batch: dict[str, Delivery] = {}
    for entry in entries:
        fields = entry.fields
        kind, cid = fields.get("type"), fields.get("campaign_id", "")
        if kind not in ("contacts", "campaign") or not cid or not wanted(cid):
            continue
        queue = out.setdefault(cid, [])
        if kind == "contacts":
            for result in json.loads(fields.get("contacts") or "[]"):
                batch = open_batch.get(cid)
                if batch is None or len(batch.results) >= max_contacts:
                    batch = Delivery(
                        id=f"msg_{entry.entry_id}_{len(queue)}",
                        type="campaign.results",
                        campaign_id=cid,
                        created_ms=_created_ms(entry.entry_id),
                        data={},
                    )
                    open_batch[cid] = batch
                    queue.append(batch)
                batch.results.append(result)
            continue
        open_batch.pop(cid, None)
        ended = fields.get("ended") == "1"
        data: dict[str, Any] = {"status": fields.get("status"), "previous": fields.get("previous")}
        if ended:
            data["counts"] = counts_of(cid)
        queue.append(
            Delivery(
                id=f"msg_{entry.entry_id}",
                type="campaign.finished" if ended else "campaign.status",
                campaign_id=cid,
                created_ms=_created_ms(entry.entry_id),
                data=data,
            )
        )
    return {cid: queue for cid, queue in out.items() if queue}


def request_body(delivery: Delivery, metadata: dict[str, Any] | None) -> str:
    """The JSON body POSTed for `delivery` (the same text on every try)."""
    data: dict[str, Any] = {"campaign_id": delivery.campaign_id, "metadata": metadata}
    data.update(delivery.data)
    if delivery.type == "campaign.results":
        data["results"] = delivery.results
    moment = datetime.fromtimestamp(delivery.created_ms / 1000, UTC)
    body = {
        "type": delivery.type,
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def backoff_s(tries: int, max_s: float) -> float:
    """Seconds before try `tries + 1`: doubling from 1 s, at most `max_s`, with jitter."""
    base = min(2.0 ** max(tries - 1, 0), max_s)
    return base * random.uniform(0.5, 1.0)
