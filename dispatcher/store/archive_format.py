"""The archive's format (pure): an ended campaign's contacts in zlib-compressed buckets.

A contact goes to bucket `crc32(phone) % buckets`, so looking one up reads one bucket; the number
of buckets is fixed when the campaign is archived (`bucket_count`) and kept in its meta. A bucket
is the zlib stream of its contacts sorted by phone, one line each:

    <phone> TAB <record as stored in `contacts`> TAB <data as stored in `data`, or nothing>

The record and the data are kept byte for byte as the live hashes held them (JSON, whose encoders
escape tabs and newlines), so a reader decodes an archived contact exactly as a live one. Sorting
by phone puts numbers that share their leading digits side by side, which zlib rewards; records of
one campaign repeat the same keys and states, so a bucket compresses to a fraction of its text.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CONTACTS_PER_BUCKET",
    "FORMAT_VERSION",
    "ArchivedContact",
    "bucket_count",
    "bucket_of",
    "decode_bucket",
    "encode_bucket",
    "find_in_bucket",
    "group_by_bucket",
]

#: Written to the meta (`archive_format`): a reader refuses a format it does not know.
FORMAT_VERSION = "1"
#: Contacts a bucket holds on average: large enough to compress well (a bucket of 1,000 finished
#: contacts is ~40-60 KB), small enough that reading one contact (a webhook, the API) stays cheap.
CONTACTS_PER_BUCKET = 1000
#: zlib's level: 6 is within 2 % of 9's size here at a third of its time.
_LEVEL = 6


@dataclass(frozen=True, slots=True)
class ArchivedContact:
    """One contact as archived: its phone, its record and its data as the live hashes held them."""

    phone: str
    record: str
    data: str  # '' for a contact without data


def bucket_count(contacts: int, per_bucket: int = CONTACTS_PER_BUCKET) -> int:
    """Buckets for `contacts` contacts: about `per_bucket` each, at least one."""
    if per_bucket < 1:
        raise ValueError("per_bucket must be at least 1")
    return max(1, -(-contacts // per_bucket))


def bucket_of(phone: str, buckets: int) -> int:
    """The bucket a phone goes to: a stable hash (the same in every process and version)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    return zlib.crc32(phone.encode()) % buckets


def group_by_bucket(
    contacts: Iterable[ArchivedContact], buckets: int
) -> dict[int, list[ArchivedContact]]:
    """The contacts of each bucket (buckets no contact falls into are left out)."""
    groups: dict[int, list[ArchivedContact]] = {}
    for contact in contacts:
        groups.setdefault(bucket_of(contact.phone, buckets), []).append(contact)
    return groups


def encode_bucket(contacts: Iterable[ArchivedContact]) -> bytes:
    """One bucket's blob; `ValueError` if a field holds a tab or a newline (no JSON does)."""
    lines = []
    for c in sorted(contacts, key=lambda c: c.phone):
        line = f"{c.phone}\t{c.record}\t{c.data}"
        if line.count("\t") != 2 or "\n" in line or "\r" in line:
            raise ValueError(f"contact {c.phone!r} holds a tab or a line break: not archivable")
        lines.append(line)
    return zlib.compress("\n".join(lines).encode(), _LEVEL)


def decode_bucket(blob: bytes) -> list[ArchivedContact]:
    """Every contact of a bucket, sorted by phone."""
    body = zlib.decompress(blob).decode()
    if not body:
        return []
    out = []
    for line in body.split("\n"):
        phone, record, data = line.split("\t")
        out.append(ArchivedContact(phone, record, data))
    return out


def find_in_bucket(blob: bytes, phone: str) -> ArchivedContact | None:
    """The contact with this phone in a bucket, or None."""
    body = zlib.decompress(blob).decode()
    start = 0 if body.startswith(phone + "\t") else body.find("\n" + phone + "\t") + 1
    if start == 0 and not body.startswith(phone + "\t"):
        return None
    end = body.find("\n", start)
    line = body[start:] if end < 0 else body[start:end]
    _, record, data = line.split("\t")
    return ArchivedContact(phone, record, data)
