"""Intake messages taken in-process: parts applied once, refusals recorded, drafts expire."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.intake.contract import MAX_PART_CONTACTS
from dispatcher.intake.series import expire_drafts, read_intake, take_message
from dispatcher.settings import Settings
from dispatcher.store import StateStore

SPEC: dict[str, Any] = {"name": "intake", "call": {"dutyPhone": 1, "record": {"text": "Hi"}}}


class Recorder:
    """Collects what is enqueued (the enqueue callable the intake is given)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(self, actor: str, args: tuple[Any, ...], delay_ms: int | None) -> None:
        self.sent.append((actor, args))


def phones(n: int, start: int = 0) -> list[str]:
    return [f"1201555{i:04d}" for i in range(start, start + n)]


def take(store: StateStore, settings: Settings, enqueue: Any = None, **kwargs: Any) -> str:
    return take_message(store, enqueue or Recorder(), settings, (), kwargs)


def test_parts_make_one_campaign_when_the_last_arrives_and_a_repeat_is_applied_once(
    store: StateStore, settings: Settings
) -> None:
    enqueue = Recorder()
    part1 = {"external_id": "e-1", "spec": SPEC, "contacts": phones(3), "part": 1, "parts": 2}
    part2 = {**part1, "contacts": [*phones(2, 3), "bad", phones(1)[0]], "part": 2}
    assert take(store, settings, enqueue, **part1) == "applied"
    assert take(store, settings, enqueue, **part1) == "duplicate"
    draft = read_intake(store, "e-1")
    assert draft is not None
    assert (draft.state, draft.received_parts) == ("draft", 1)
    assert enqueue.sent == []  # nothing runs before the last part
    assert take(store, settings, enqueue, **part2) == "submitted"
    assert take(store, settings, enqueue, **part2) == "ignored"
    record = read_intake(store, "e-1")
    assert record is not None
    assert record.state == "submitted"
    assert record.report is not None
    report = record.report
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (5, 1, 1)
    assert report["rejected_rows"] == [
        {"row": 3, "reason": report["rejected_rows"][0]["reason"], "value": "bad", "part": 2}
    ]
    assert store.list_campaigns() == [record.campaign_id]
    assert len(enqueue.sent) == record.report["batches"]
    assert store.meta(str(record.campaign_id))["submission_key"] == store.keys.intake("e-1")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"spec": {"name": "no call"}}, "spec"),
        ({"spec": {**SPEC, "callback_url": "ftp://x"}}, "spec.callback_url"),
        ({"contacts": "12015550000"}, "contacts"),
        ({"part": "1"}, "part"),
        ({"colour": "blue"}, "colour"),
        ({"part": 3, "parts": 2}, "kwargs"),
        ({"contacts": ["12015550000"] * (MAX_PART_CONTACTS + 1)}, "contacts"),
    ],
    ids=["bad-spec", "bad-callback", "wrong-type", "string-part", "unknown-field", "part-3-of-2",
         "oversize"],
)  # fmt: skip
def test_a_bad_message_is_refused_on_record_and_leaves_no_campaign(
    store: StateStore, settings: Settings, changes: dict[str, Any], field: str
) -> None:
    message = {"external_id": "e-2", "spec": SPEC, "contacts": phones(2), **changes}
    assert take(store, settings, **message) == "refused"
    record = read_intake(store, "e-2")
    assert record is not None
    assert record.state == "refused"
    assert any(e["field"].startswith(field) for e in record.errors), record.errors
    assert store.list_campaigns() == []
    refused = [e.fields for e in store.read_events() if e.fields["type"] == "intake"]
    assert refused == [
        {
            "type": "intake",
            "state": "refused",
            "campaign_id": "",
            "external_id": "e-2",
            "reason": record.reason,
        }
    ]


def test_a_refusal_after_a_first_part_deletes_the_draft(
    store: StateStore, settings: Settings
) -> None:
    first = {"external_id": "e-3", "spec": SPEC, "contacts": phones(2), "part": 1, "parts": 2}
    assert take(store, settings, **first) == "applied"
    other = {**first, "spec": {**SPEC, "name": "changed"}, "part": 2}
    assert take(store, settings, **other) == "refused"
    assert store.list_campaigns() == []
    assert take(store, settings, **{**first, "part": 2}) == "ignored"  # refused for good


def test_positional_arguments_or_an_unusable_external_id_are_refused_without_a_crash(
    store: StateStore, settings: Settings
) -> None:
    assert take_message(store, Recorder(), settings, ("x",), {"external_id": "e-4"}) == "refused"
    assert read_intake(store, "e-4") is not None
    assert take(store, settings, external_id="has spaces", spec=SPEC, contacts=[]) == "refused"
    assert store.list_campaigns() == []


def test_strict_with_a_bad_row_or_nothing_to_dial_is_refused_with_the_report(
    store: StateStore, settings: Settings
) -> None:
    strict = {"external_id": "e-5", "spec": SPEC, "contacts": [*phones(2), "bad"], "strict": True}
    assert take(store, settings, **strict) == "refused"
    record = read_intake(store, "e-5")
    assert record is not None
    assert record.report is not None
    assert record.report["rejected"] == 1
    assert store.list_campaigns() == []


def test_a_callback_url_needs_the_signing_secret(store: StateStore, settings: Settings) -> None:
    spec = {**SPEC, "callback_url": "https://example.org/hooks"}
    assert take(store, settings, external_id="e-6", spec=spec, contacts=phones(1)) == "refused"
    signed = settings.model_copy(update={"callback_secret": "whsec_c2VjcmV0"})
    assert take(store, signed, external_id="e-7", spec=spec, contacts=phones(1)) == "submitted"


def test_a_part_that_never_comes_expires_the_draft_and_is_reported(
    store: StateStore, settings: Settings
) -> None:
    quick = settings.model_copy(update={"intake_draft_ttl_s": 0.001})
    part = {"external_id": "e-8", "spec": SPEC, "contacts": phones(2), "part": 2, "parts": 3}
    assert take(store, quick, **part) == "applied"
    assert expire_drafts(store, quick) == 1
    record = read_intake(store, "e-8")
    assert record is not None
    assert record.state == "refused"
    assert record.reason == "part(s) 1, 3 of 3 never arrived"
    assert store.list_campaigns() == []
