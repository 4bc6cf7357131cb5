"""Idempotent submission: a caller-chosen key makes a retried submission answer the original.

The key is reserved before the submission is read (a record in state `reading`, with a lease the
reader keeps extending), so a retry that arrives while the first attempt is still being read or
written is told so (`SubmissionInProgress`) instead of starting a second campaign. The record
becomes `done`, with fingerprints of what was submitted and the report, in the same transaction
that makes the campaign live; from then on the same key answers that report, if the content is the
same (`IdempotencyKeyReused` otherwise). Once the campaign is removed after its retention, the
record stays a while as a tombstone, and the key answers `SubmissionPurged` instead of creating
the campaign a second time. What is compared is the content as the dispatcher reads
it (the spec, the options, every row normalised), so the same list retried as JSON or as a CSV
upload, with another multipart boundary or key order, is the same submission.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from dispatcher.errors import (
    IdempotencyKeyReused,
    InputError,
    SubmissionInProgress,
    SubmissionPurged,
)
from dispatcher.spec import CampaignSpec
from dispatcher.store import StateStore

__all__ = [
    "MAX_KEY_CHARS",
    "Fingerprint",
    "Reservation",
    "check_key",
    "new_campaign_id",
    "reserve",
]

#: Longest idempotency key accepted.
MAX_KEY_CHARS = 255


def new_campaign_id() -> str:
    """A short random id, safe in Redis keys and URLs."""
    import secrets

    return secrets.token_hex(8)


def check_key(key: str) -> str:
    """`key` if it can be an idempotency key (1-255 visible ASCII characters); `InputError`."""
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise InputError(f"the idempotency key must be 1-{MAX_KEY_CHARS} visible ASCII characters")
    return key


class Fingerprint:
    """What a submission contained, hashed as it streams by: spec and options, then every row."""

    def __init__(self, spec: CampaignSpec, strict: bool) -> None:
        head = json.dumps({"spec": spec.to_json(), "strict": strict}, sort_keys=True)
        self.spec_digest = hashlib.sha256(head.encode()).hexdigest()
        self._rows = hashlib.sha256()

    def contact(self, phone: str, data_json: str, ref: str) -> None:
        self._rows.update(f"c\t{phone}\t{data_json}\t{ref}\n".encode(errors="surrogatepass"))

    def rejection(self, row: int, reason: str) -> None:
        self._rows.update(f"r\t{row}\t{reason}\n".encode(errors="surrogatepass"))

    def content_digest(self) -> str:
        return self._rows.hexdigest()


@dataclass(frozen=True, slots=True)
class Reservation:
    """An idempotency key reserved for this submission, or the record another one left."""

    key: str  # the record's Redis key
    campaign_id: str  # the campaign this submission will create (when the key is ours)
    existing: dict[str, str] | None = None  # the record found: the key was not ours

    @property
    def ours(self) -> bool:
        return self.existing is None

    def check_not_in_progress(self) -> None:
        """`SubmissionInProgress` if the key's first submission is still being read;
        `SubmissionPurged` if its campaign ended and was removed (retention)."""
        if self.existing is not None and self.existing.get("state") == "purged":
            raise SubmissionPurged(
                f"this idempotency key's campaign {self.existing.get('campaign_id', '')} ended "
                "and was removed after its retention period; it is not created again (use a new "
                "key to submit it anew)"
            )
        if self.existing is not None and self.existing.get("state") == "reading":
            raise SubmissionInProgress(
                "a submission with this idempotency key is still being read; retry shortly"
            )

    def check_same(self, fingerprint: Fingerprint, *, content: bool) -> None:
        """`IdempotencyKeyReused` unless the key's submission had this spec (and `content`)."""
        assert self.existing is not None  # only asked of a key found done
        if self.existing.get("spec_fp") != fingerprint.spec_digest:
            raise IdempotencyKeyReused(
                "this idempotency key was used for a submission with another spec or options"
            )
        if content and self.existing.get("content_fp") != fingerprint.content_digest():
            raise IdempotencyKeyReused(
                "this idempotency key was used for a submission with other contacts"
            )


def reserve(store: StateStore, key: str, lease_ms: int) -> Reservation:
    """Reserve `key` for a new campaign, or find what an earlier submission with it left."""
    digest = hashlib.sha256(check_key(key).encode()).hexdigest()[:40]
    record_key = store.keys.idempotency(digest)
    campaign_id = new_campaign_id()
    found = store.reserve_record(record_key, campaign_id, lease_ms, {"key": key})
    if found is None:
        return Reservation(record_key, campaign_id)
    return Reservation(record_key, found.get("campaign_id", ""), found)
