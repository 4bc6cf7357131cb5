"""Exporting every contact of a campaign with its outcome, as CSV or JSON Lines, streamed."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from dispatcher.store import ContactRecord, StateStore

__all__ = ["COLUMNS", "export_rows", "write_csv", "write_jsonl"]

#: Stored short key -> exported column.
_FIELDS = {
    "r": "reason",
    "a": "attempts",
    "b": "batch",
    "c": "api_call_id",
    "st": "provider_status",
    "h": "hangup_cause",
    "stt": "started_at",
    "ans": "answered_at",
    "fin": "finished_at",
    "cost": "cost",
    "d": "ivr_digit",
    "ia": "ivr_answers",
    "rec": "record_path",
    "ms": "manager_status",
    "tb": "to_block",
    "iv": "ivr_actions",
    "hist": "earlier_attempts",
    "z": "window_zone",
}
COLUMNS = ["phone", "state", *_FIELDS.values(), "data"]


def row_of(record: ContactRecord) -> dict[str, Any]:
    """One export row (pure)."""
    row: dict[str, Any] = {"phone": record.phone, "state": record.state}
    for short, column in _FIELDS.items():
        row[column] = record.fields.get(short)
    row["data"] = record.data or None
    return row


def export_rows(store: StateStore, campaign_id: str) -> Iterator[dict[str, Any]]:
    """Every contact of the campaign as a row, streamed from Redis."""
    store.meta(campaign_id)  # CampaignNotFound before the first line is written
    for record in store.iter_contacts(campaign_id):
        yield row_of(record)


def write_csv(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        flat = {
            k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
            for k, v in row.items()
        }
        writer.writerow(flat)
        count += 1
    return count


def write_jsonl(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False))
        out.write("\n")
        count += 1
    return count
