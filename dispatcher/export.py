"""Exporting every contact of a campaign with its outcome, as CSV or JSON Lines, streamed.

CSV cells hold strings the provider and webhooks wrote (statuses, IVR answers, recording paths) and
the caller's own contact data. A spreadsheet takes a cell starting with `=`, `+`, `-`, `@`, a tab
or a carriage return for a formula, so such string cells are written with a leading `'`, as OWASP's
advice on CSV injection has it; `keep_formulas=True` writes them as they are. Lists and objects are
written as JSON.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from dispatcher.store import ContactRecord, StateStore

__all__ = ["COLUMNS", "FORMULA_STARTS", "csv_cells", "export_rows", "write_csv", "write_jsonl"]

#: Stored short key -> exported column.
_FIELDS = {
    "x": "ref",
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
#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any, keep_formulas: bool) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and not keep_formulas and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_cells(row: dict[str, Any], *, keep_formulas: bool = False) -> dict[str, Any]:
    """Pure: one row as CSV cells: lists and objects as JSON, formula-like strings neutralised."""
    return {column: _cell(value, keep_formulas) for column, value in row.items()}


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


def write_csv(rows: Iterator[dict[str, Any]], out: TextIO, *, keep_formulas: bool = False) -> int:
    """Write the rows as CSV (see `csv_cells`); the number written."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow(csv_cells(row, keep_formulas=keep_formulas))
        count += 1
    return count


def write_jsonl(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """Write the rows as JSON Lines (values as they are); the number written."""
    count = 0
    for row in rows:
        out.write(json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False))
        out.write("\n")
        count += 1
    return count
